"""``web_app()``: the clinician view as one Starlette Router, for the main app to mount at ``/web``.

    /                                   find a patient (NHS number, or family name + date of birth)
    /patients/{nhs_number}              the joined-up record by GP Connect section
    /patients/{nhs_number}/summary      the summary (medication, allergies, problems, immunisations, results)
    /assets/...                         NHS.UK frontend CSS/JS/images, served locally
    /login, /login/oidc, /logout        signing in and out (``web.login``; ``web.session`` gates the rest)
    /audit                              the privacy officer's audit search and break-glass report
    /my-record-access                   a patient's (or proxy's) "who accessed my record and when"

Pages reach the store and the security gate through the main app's ``state.api``, like API routes.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from gpbridge.web.audit_pages import my_record_access_page, privacy_officer_page
from gpbridge.web.login import login_demo, login_external, login_page, logout
from gpbridge.web.pages import find_patient_page, record_page, summary_page
from gpbridge.web.session import WebSession

# packaged as web/static (pyproject package-data), served at /assets as NHS.UK templates expect
ASSETS = Path(__file__).parent / "static"


def web_app() -> WebSession:
    return WebSession(Router(routes=[
        Route("/", find_patient_page, methods=["GET"], name="find"),
        Route("/patients/{nhs_number}", record_page, methods=["GET"], name="record"),
        Route("/patients/{nhs_number}/summary", summary_page, methods=["GET"], name="summary"),
        Route("/login", login_page, methods=["GET"], name="login"),
        Route("/login", login_demo, methods=["POST"]),
        Route("/login/oidc", login_external, methods=["GET"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/audit", privacy_officer_page, methods=["GET"], name="audit"),
        Route("/my-record-access", my_record_access_page, methods=["GET"], name="my_access"),
        Mount("/assets", app=StaticFiles(directory=ASSETS), name="assets"),
    ]))
