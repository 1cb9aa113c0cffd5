"""The audit pages: the privacy officer's search with the break-glass report, and a patient's
"who accessed my record and when".

Both read through ``api.audit.run_audit_search``, the same gate, confinement and audit as
``GET /fhir/AuditEvent``: a patient's page can only ever show their own record's accesses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gpbridge.api.audit import run_audit_search
from gpbridge.api.context import api_of, request_context
from gpbridge.fhir.outcome import FhirError
from gpbridge.identity.nhs_number import NhsNumberError, validate_nhs_number
from gpbridge.search.parse import parse_search
from gpbridge.security.audit_access import is_patient_facing
from gpbridge.security.facts import NHS_NUMBER_SYSTEM, ODS_SYSTEM, PatientDirectory
from gpbridge.security.policy import authorize
from gpbridge.security.principal import ROLE_NAMES
from gpbridge.web.login import with_csrf
from gpbridge.web.templating import nhs_number, render_page

_ACTIONS = {"read": "Viewed", "vread": "Viewed a version of", "search": "Searched", "history": "Viewed the history of",
            "create": "Added", "update": "Changed", "patch": "Changed", "delete": "Deleted",
            "operation": "Retrieved", "transaction": "Changed", "login": "Signed in", "logout": "Signed out",
            "token": "Was issued a token"}  # fmt: skip
FILTERS = ("nhs_number", "user", "date_from", "date_to", "outcome", "action", "break_glass")


@dataclass
class EventRow:
    """One AuditEvent, as the pages show it."""

    when: str
    who: str
    who_id: str
    roles: str
    organisation: str
    action: str
    what: str
    patient: str
    allowed: bool
    reason: str
    break_glass: bool
    break_glass_reason: str
    source: str


def _extension(event: dict[str, Any], name: str) -> str:
    for ext in event.get("extension") or ():
        if ext.get("url", "").endswith("/" + name):
            return str(ext.get("valueString") or ext.get("valueCode") or "")
    return ""


def event_row(event: dict[str, Any], organisations: dict[str, str], patients: dict[str, str] | None = None) -> EventRow:
    agent = (event.get("agent") or [{}])[0]
    codes = [c.get("code", "") for r in agent.get("role") or () for c in r.get("coding") or ()]
    ods = ((agent.get("location") or {}).get("identifier") or {}).get("value", "")
    subtype = ((event.get("subtype") or [{}])[0]).get("code", "")
    entities = event.get("entity") or []
    what = next((e["what"].get("reference") or e["what"].get("display", "") for e in entities
                 if (e.get("role") or {}).get("code") != "1" and e.get("what")), "")  # fmt: skip
    patient = next((e["what"].get("reference", "") for e in entities if (e.get("role") or {}).get("code") == "1"), "")
    tags = {t.get("code") for t in (event.get("meta") or {}).get("tag") or ()}
    return EventRow(
        when=str(event.get("recorded", ""))[:19].replace("T", " "),
        who=(agent.get("who") or {}).get("display", "unknown"),
        who_id=((agent.get("who") or {}).get("identifier") or {}).get("value", ""),
        roles=", ".join(f"{ROLE_NAMES.get(c, c)} ({c})" if c in ROLE_NAMES else c for c in codes),
        organisation=f"{organisations[ods]} ({ods})" if ods in organisations else ods,
        action=_ACTIONS.get(subtype.split(":")[0], subtype),
        what=what,
        patient=(patients or {}).get(patient, patient),
        allowed=event.get("outcome") == "0",
        reason=event.get("outcomeDesc", ""),
        break_glass="break-glass" in tags,
        break_glass_reason=_extension(event, "break-glass-reason"),
        source=(agent.get("network") or {}).get("address", ""),
    )


async def _organisation_names(request: Request, events: list[dict[str, Any]]) -> dict[str, str]:
    """ODS code -> organisation name, for the codes on this page (through the policy, like any read)."""
    codes = sorted({ods for e in events for a in e.get("agent") or ()
                    if (ods := ((a.get("location") or {}).get("identifier") or {}).get("value"))})  # fmt: skip
    if not codes:
        return {}
    api = api_of(request)
    if not authorize(request_context(request, api), "search", "Organization").allowed:
        return {}
    query = parse_search("Organization", [("identifier", ",".join(f"{ODS_SYSTEM}|{c}" for c in codes))])
    result = await api.call(api.store.search, query)
    names: dict[str, str] = {}
    for match in result.matches:
        org = orjson.loads(match.content) if match.content else {}
        for identifier in org.get("identifier") or ():
            if identifier.get("system") == ODS_SYSTEM and org.get("name"):
                names[identifier["value"]] = org["name"]
    return names


async def _patient_labels(request: Request, context: Any, events: list[dict[str, Any]]) -> dict[str, str]:
    """``Patient/id`` -> "Name, NHS number": a privacy officer must know whose record was opened."""
    refs = sorted({e["what"]["reference"] for ev in events for e in ev.get("entity") or ()
                   if (e.get("role") or {}).get("code") == "1" and e.get("what", {}).get("reference")})  # fmt: skip
    if not refs or not authorize(context, "search", "Patient").allowed:
        return {}
    api = api_of(request)
    labels: dict[str, str] = {}
    for ref in refs:
        try:
            stored = await api.call(api.store.read, "Patient", ref.partition("/")[2])
        except FhirError:
            continue
        patient = orjson.loads(stored.content) if stored.content else {}
        name = (patient.get("name") or [{}])[0]
        text = " ".join([*name.get("given", []), name.get("family", "")]).strip() or ref
        nhs = next((i.get("value") for i in patient.get("identifier") or ()
                    if i.get("system") == NHS_NUMBER_SYSTEM), None)  # fmt: skip
        labels[ref] = f"{text}, NHS number {nhs_number(nhs)}" if nhs else text
    return labels


def _filter_params(values: dict[str, str], patients: list[str]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = [("_count", "100")]
    if patients:
        params.append(("patient", ",".join(patients)))
    if values["user"]:
        params.append(("agent", values["user"]))
    if values["date_from"]:
        params.append(("date", f"ge{values['date_from']}"))
    if values["date_to"]:
        params.append(("date", f"le{values['date_to']}"))
    if values["outcome"] in ("0", "4"):
        params.append(("outcome", values["outcome"]))
    if values["action"]:
        params.append(("subtype", values["action"]))
    if values["break_glass"]:
        params.append(("_tag", "break-glass"))
    return params


async def privacy_officer_page(request: Request) -> Response:
    """``/web/audit``: the break-glass report, then every access, filtered."""
    values = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    errors: dict[str, str] = {}
    try:
        context = request_context(request, api_of(request))
        if is_patient_facing(context):
            raise FhirError.of(403, "forbidden", "This page is for privacy officers: see 'Who accessed my record'")
        patients: list[str] = []
        if values["nhs_number"]:
            try:
                digits = validate_nhs_number(values["nhs_number"])
            except NhsNumberError as exc:
                errors["nhs_number"] = str(exc)
            else:
                api = api_of(request)
                authorize(context, "search", "Patient").enforce()
                patients = await api.call(PatientDirectory(api.store).patients_with_nhs_number, digits)
                if not patients:
                    errors["nhs_number"] = f"No patient with NHS number {digits} is known"
        glass, _, _ = await run_audit_search(request, [("_tag", "break-glass"), ("_count", "20")])
        if errors:
            found: list[dict[str, Any]] = []
        else:
            try:
                found = (await run_audit_search(request, _filter_params(values, patients)))[0].events
            except FhirError as exc:
                if exc.status != 400:
                    raise
                errors["date_from"] = "Enter dates as YYYY-MM-DD, for example 2026-12-01"
                found = []
    except FhirError as exc:
        return render_page("error.jinja", status=exc.status, message=exc.message, status_code=exc.status)
    names = await _organisation_names(request, glass.events + found)
    people = await _patient_labels(request, context, glass.events + found)
    return with_csrf(request, "audit.jinja", status=400 if errors else 200, values=values, errors=errors,
                     break_glass=[event_row(e, names, people) for e in glass.events],
                     events=[event_row(e, names, people) for e in found], me=context.principal)  # fmt: skip


async def my_record_access_page(request: Request) -> Response:
    """``/web/my-record-access``: who accessed my record (or the record of the patient I act for), when."""
    try:
        context = request_context(request, api_of(request))
        if not is_patient_facing(context):
            raise FhirError.of(403, "forbidden", "This page is for patients and their proxies")
        page, _, _ = await run_audit_search(request, [("_count", "200")])
    except FhirError as exc:
        return render_page("error.jinja", status=exc.status, message=exc.message, status_code=exc.status)
    names = await _organisation_names(request, page.events)
    return with_csrf(request, "my_access.jinja", events=[event_row(e, names) for e in page.events],
                     me=context.principal, proxy=context.principal is not None and context.principal.kind == "proxy")  # fmt: skip
