"""``web_app()``: the clinician view as one Starlette Router, for the main app to mount at ``/web``.

    /                                   find a patient (NHS number, or family name + date of birth)
    /patients/{nhs_number}              the joined-up record by GP Connect section
    /patients/{nhs_number}/summary      the summary (medication, allergies, problems, immunisations, results)
    /assets/...                         NHS.UK frontend CSS/JS/images, served locally

Pages reach the store and the security gate through the main app's ``state.api``, like API routes.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from gpbridge.web.pages import find_patient_page, record_page, summary_page

# packaged as web/static (pyproject package-data), served at /assets as NHS.UK templates expect
ASSETS = Path(__file__).parent / "static"


def web_app() -> Router:
    return Router(routes=[
        Route("/", find_patient_page, methods=["GET"], name="find"),
        Route("/patients/{nhs_number}", record_page, methods=["GET"], name="record"),
        Route("/patients/{nhs_number}/summary", summary_page, methods=["GET"], name="summary"),
        Mount("/assets", app=StaticFiles(directory=ASSETS), name="assets"),
    ])
