"""The clinician pages: find a patient, their joined-up record by section, their summary.

Each page asks the security gate before reading the store, as every API route does, and renders a
plain HTML page (no JavaScript needed). The record and summary are read through the policy's record
access (``security.record_access``): a caller who may not search one of the clinical types shown
(an admin, R8008) gets a "not permitted" page, and what is shown passes the item rules a search
passes. Failures (unknown patient, access denied) are pages too, with the matching HTTP status.
A proxy whose access level leaves out some of the types sees the other sections, and each section
left out says it is withheld (``records.access.withheld_text``), never "No entries recorded".
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gpbridge.api.context import api_of, request_context
from gpbridge.fhir.outcome import FhirError
from gpbridge.identity.golden import is_golden
from gpbridge.identity.nhs_number import NhsNumberError, validate_nhs_number
from gpbridge.records.access import withheld_text
from gpbridge.records.consultations import consultation_topics
from gpbridge.records.joined import GROUP_TYPES, GROUPS, RECORD_TYPES, grouped, reconciled_record
from gpbridge.records.patient_record import find_patients
from gpbridge.records.summary import SECTIONS, SUMMARY_TYPES, summary_items, withheld_sections
from gpbridge.search.parse import parse_search
from gpbridge.security.filtering import audit_failure, guarded_search
from gpbridge.security.policy import Decision, RequestContext, authorize
from gpbridge.security.record_access import PolicyRecordAccess
from gpbridge.web.templating import environment
from gpbridge.web.view_model import conflict_views, rows

_ENV = environment()


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    html = _ENV.get_template(template).render(root=root, assetPath=f"{root}/assets", **values)
    return HTMLResponse(html, status_code=status)


def _error(request: Request, error: FhirError) -> HTMLResponse:
    return render(request, "error.jinja", status=error.status, message=error.message, status_code=error.status)


async def find_patient_page(request: Request) -> Response:
    """The search form; with an NHS number, straight to the record; with demographics, the matches."""
    query = request.query_params
    number, family, birth_date = (query.get(k, "").strip() for k in ("nhs_number", "family", "birth_date"))
    errors: dict[str, str] = {}
    if number:
        try:
            digits = validate_nhs_number(number)
        except NhsNumberError as exc:
            errors["nhs_number"] = str(exc)
        else:
            return RedirectResponse(f"{request.scope.get('root_path', '')}/patients/{digits}", status_code=303)
    matches: list[dict[str, Any]] | None = None
    if family or birth_date:
        if not (family and birth_date):
            errors["family" if not family else "birth_date"] = "Enter both the family name and the date of birth"
        else:
            try:
                matches = await _search(request, family, birth_date)
            except FhirError as exc:
                if exc.status == 400:
                    errors["birth_date"] = "Enter the date of birth as YYYY-MM-DD, for example 1952-05-17"
                else:
                    return _error(request, exc)
    return render(request, "find.jinja", status=400 if errors else 200, errors=errors, matches=matches,
                  values={"nhs_number": number, "family": family, "birth_date": birth_date})


async def _search(request: Request, family: str, birth_date: str) -> list[dict[str, Any]]:
    import orjson

    api = api_of(request)
    context = request_context(request, api)
    context.audit_deferred = True  # the search records the access, naming the patients it found
    authorize(context, "search", "Patient").enforce()
    with audit_failure(context, "search", "Patient"):
        query = parse_search("Patient", [("family", family), ("birthdate", birth_date), ("_count", "50")])
        # the same compartments and item rules as GET /fhir/Patient?family=…&birthdate=…
        result = await api.call(guarded_search, context, api.store, query, "Patient")
    found = [orjson.loads(m.content) for m in result.matches if m.content]
    return [p for p in found if not is_golden(p) and _nhs(p)]


def _nhs(patient: dict[str, Any]) -> str | None:
    for identifier in patient.get("identifier") or ():
        if identifier.get("system") == "https://fhir.nhs.uk/Id/nhs-number":
            return str(identifier.get("value"))
    return None


async def _person(request: Request, nhs_number: str) -> tuple[dict[str, Any], RequestContext]:
    """The person with ``nhs_number`` — their golden Patient when linkage made one — after the gate,
    and the context to read their record with (its access is recorded once the record access has
    decided every type the page shows)."""
    api = api_of(request)
    try:
        digits = validate_nhs_number(nhs_number)
    except NhsNumberError as exc:
        raise FhirError.of(400, "value", str(exc)) from None
    context = request_context(request, api)
    authorize(context, "search", "Patient").enforce()
    found = await api.call(find_patients, api.store, digits)
    if not found:
        raise FhirError.of(404, "not-found", f"No patient with NHS number {nhs_number} was found")
    person = next((p for p in found if is_golden(p)), found[0])
    context.audit_deferred = True
    authorize(context, "read", "Patient", person["id"], patient=f"Patient/{person['id']}").enforce()
    return person, context


def _not_permitted(decision: Decision) -> FhirError:
    return FhirError.of(403, "forbidden", f"You are not permitted to see this patient's clinical record "
                                          f"({decision.reason}).")


def _access(context: RequestContext) -> PolicyRecordAccess:
    return PolicyRecordAccess(context, interaction="read", refuse=_not_permitted)


def _section(key: str, title: str, section_rows: list[Any], withheld: bool) -> dict[str, Any]:
    """One section of a page; a withheld one has no rows and says why."""
    return {"key": key, "title": title, "rows": [] if withheld else section_rows,
            "withheld": withheld_text(title) if withheld else None}


async def record_page(request: Request) -> Response:
    api = api_of(request)
    try:
        person, context = await _person(request, request.path_params["nhs_number"])
        record, reconciled = await api.call(reconciled_record, api.store, person, RECORD_TYPES,
                                            access=_access(context), withhold=True)
    except FhirError as exc:
        return _error(request, exc)
    groups = grouped(reconciled)
    topics = consultation_topics(record)  # each consultation's entries, grouped by what it was about
    section_of = {id(item): title for key, title in GROUPS for item in groups[key]}
    withheld = record.withheld_types
    sections = [_section(key, title, rows(groups[key], reconciled, topics), bool(GROUP_TYPES[key] & withheld))
                for key, title in GROUPS]
    return render(request, "record.jinja", patient=record.patient, nhs=request.path_params["nhs_number"],
                  sections=sections, conflicts=conflict_views(reconciled, section_of))


async def summary_page(request: Request) -> Response:
    api = api_of(request)
    try:
        person, context = await _person(request, request.path_params["nhs_number"])
        record, reconciled = await api.call(reconciled_record, api.store, person, SUMMARY_TYPES,
                                            access=_access(context), withhold=True)
    except FhirError as exc:
        return _error(request, exc)
    chosen = summary_items(reconciled)
    withheld = withheld_sections(record.withheld_types)
    section_of = {id(item): SECTIONS[key][2] for key, items in chosen.items() for item in items}
    sections = [_section(key, SECTIONS[key][2], rows(items, reconciled), key in withheld)
                for key, items in chosen.items()]
    return render(request, "summary.jinja", patient=record.patient, nhs=request.path_params["nhs_number"],
                  sections=sections, conflicts=conflict_views(reconciled, section_of))
