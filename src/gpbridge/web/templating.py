"""The Jinja environment: NHS.UK frontend's templates (nhsuk-frontend-jinja) beside ours, and the
filters that turn FHIR values into what a clinician reads."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    ChainableUndefined,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    select_autoescape,
)
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def concept_text(concept: Any) -> str:
    """What a CodeableConcept says, for people: its text, else the first display, else the code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or ():
        if coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding") or ():
        if coding.get("code"):
            return str(coding["code"])
    return ""


def nhs_date(value: str | None) -> str:
    """FHIR date/dateTime -> "12 Mar 2025" (the NHS style); partial dates stay partial."""
    if not value:
        return "Date not recorded"
    try:
        day = datetime.fromisoformat(value[:10])
    except ValueError:
        return value[:7] if len(value) >= 7 else value
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def nhs_number(value: str) -> str:
    digits = value.replace(" ", "")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else value


def environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(TEMPLATES), PackageLoader("nhsuk_frontend_jinja", "templates")]),
        autoescape=select_autoescape(("html", "jinja")),
        trim_blocks=True,
        lstrip_blocks=True,
        # NHS.UK's macros read optional params as ``params.a.b``: missing parts must chain, not raise
        undefined=ChainableUndefined,
    )
    env.filters.update(concept=concept_text, nhs_date=nhs_date, nhs_number=nhs_number)
    return env


_SHARED: Environment | None = None


def render_page(template: str, *, root: str = "/web", status: int = 200, **values: Any) -> HTMLResponse:
    """A page of the web view from anywhere (e.g. the OAuth callback at ``/oauth2/callback``)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = environment()
    html = _SHARED.get_template(template).render(root=root, assetPath=f"{root}/assets", **values)
    return HTMLResponse(html, status_code=status)
