"""``GET /fhir/AuditEvent?...`` and ``GET /fhir/AuditEvent/{id}``: the audit trail as FHIR.

The trail is the hash-chained ``audit_log``, not the resource tables, and it is append-only by the
server: every other interaction on AuditEvent (create, update, patch, delete, their conditional
forms, history, vread) is answered here with a 405, so none can fall through to the generic
routes and seem to succeed against a store that never serves it.

Privacy officers (``privacy_officer_roles``) search everything; patients and proxies see who
accessed their own record (``security.audit_access``). Reading the audit is itself audited, once
per request, with the patient whose audit was read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gpbridge.api import body, headers
from gpbridge.api.bundles import ignored_outcome
from gpbridge.api.context import Api, api_of, base_url, request_context
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.fhir.outcome import FhirError, error, not_found
from gpbridge.security.audit_access import confine, is_patient_facing, own_patients
from gpbridge.security.audit_search import (
    PARAMETERS,
    AuditPage,
    parse_audit_query,
    patient_view,
    read_audit_event,
    search_audit,
)
from gpbridge.security.policy import RequestContext, authorize, record
from gpbridge.security.rules import Decision, deny
from gpbridge.security.tokens import unauthorized
from gpbridge.store.interactions import write_refusal

AUDIT = "AuditEvent"
# For api.capability: what these routes answer (the generic TYPE_INTERACTIONS do not apply), and
# the search parameters they understand (``SEARCH_PARAMETERS``: name -> FHIR type).
TYPE_INTERACTIONS = ("read", "search-type")
SEARCH_PARAMETERS = PARAMETERS
_WRITES = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def audit_gate(request: Request, interaction: str) -> tuple[Api, RequestContext]:
    """The security decision for reading the audit; the caller records the allowed access."""
    api = api_of(request)
    context = request_context(request, api)
    context.audit_deferred = True
    decision = authorize(context, interaction, AUDIT)
    if not decision.allowed:
        if context.principal is None:
            raise unauthorized("Authentication required: send Authorization: Bearer <access token>")
        decision.enforce()
    return api, context


async def run_audit_search(
    request: Request, params: list[tuple[str, str]], *, strict: bool = False
) -> tuple[AuditPage, RequestContext, list[str]]:
    """Gate, confine, search and record: shared by the API and the privacy officer's web pages.
    Returns the page, the context and the parameters ignored (unknown; ``strict``: a 400)."""
    api, context = audit_gate(request, "search")
    query = parse_audit_query(params, strict=strict)
    confined = await api.call(confine, context, query)
    patient = query.patients[0] if len(query.patients) == 1 else None
    if not confined.allowed:
        record(context, confined, "search", AUDIT, None, patient)
        confined.enforce()
    page = await api.call(search_audit, api.store, query)
    if is_patient_facing(context):
        page.events = [patient_view(e) for e in page.events]
    detail = f"{urlencode(params)} -> {len(page.events)} event(s)"
    record(context, confined, "search", AUDIT, None, patient, detail=detail)
    return page, context, query.ignored


@fhir_endpoint
async def search(request: Request) -> Response:
    if request.method == "POST":  # POST AuditEvent/_search: the form, as GET's query
        params = await body.read_form(request, api_of(request).settings)
    else:
        params = request.query_params.multi_items()
    cursor = next((v for k, v in params if k == "_cursor"), None)
    params = [(k, v) for k, v in params if k != "_cursor"]
    page, _, ignored = await run_audit_search(
        request, params + ([("_cursor", cursor)] if cursor else []), strict=headers.strict_handling(request)
    )
    base = base_url(request, api_of(request).settings)
    query = urlencode(params + ([("_cursor", cursor)] if cursor else []))  # a POST's form too
    links = [{"relation": "self", "url": f"{base}/{AUDIT}?{query}".rstrip("?")}]
    if page.next_cursor is not None:
        links.append(
            {"relation": "next", "url": f"{base}/{AUDIT}?{urlencode([*params, ('_cursor', page.next_cursor)])}"}
        )
    entries = [
        {"fullUrl": f"{base}/{AUDIT}/{e.get('id')}", "resource": e, "search": {"mode": "match"}}
        for e in page.events
    ]
    if ignored:
        entries.append(ignored_outcome(ignored))
    bundle = {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
    return json_response(request, bundle)


@fhir_endpoint
async def read(request: Request) -> Response:
    api, context = audit_gate(request, "read")
    event_id = request.path_params["id"]
    event = await api.call(read_audit_event, api.store, int(event_id)) if event_id.isdigit() else None
    patient = _patient_of(event) if event else None
    if event is not None and is_patient_facing(context):
        # another person's event, or a failed attempt: as if it did not exist
        mine = patient in await api.call(own_patients, context)
        principal = context.principal.subject if context.principal else None
        who = ((event.get("agent") or [{}])[0].get("who") or {}).get("identifier", {}).get("value")
        if not mine or event.get("outcome") != "0" or who == principal:
            event = None
        else:
            event = patient_view(event)
    if event is None:
        raise not_found(f"AuditEvent/{event_id} is not known")
    record(context, Decision(True, "audit read"), "read", AUDIT, event_id, patient)
    return json_response(request, event)


def _patient_of(event: dict[str, Any]) -> str | None:
    for entity in event.get("entity") or ():
        if (entity.get("role") or {}).get("code") == "1":
            return (entity.get("what") or {}).get("reference")
    return None


@fhir_endpoint
async def refuse_write(request: Request) -> Response:
    """Create, update, patch or delete (plain or conditional): 405, and the attempt is audited."""
    api = api_of(request)
    context = request_context(request, api)  # a bad token is still a 401 (and audited as one)
    refusal = write_refusal(AUDIT)
    assert refusal is not None
    interaction = _WRITES[request.method]
    record(context, deny(refusal.message), interaction, AUDIT, request.path_params.get("id"))
    raise refusal


@fhir_endpoint
async def no_history(request: Request) -> Response:
    # An event is written once and never changed: there are no versions to list or read.
    message = f"{AUDIT} has no history or versions: each event is written once; read it at {AUDIT}/[id]"
    raise FhirError(405, [error("not-supported", message)], {"Allow": ""})


def routes(prefix: str) -> list[Route]:
    """Every route on ``AuditEvent``, before the generic type routes (which would serve the store)."""
    type_, instance = f"{prefix}/{AUDIT}", f"{prefix}/{AUDIT}/{{id}}"
    return [
        Route(type_, search, methods=["GET"]),
        Route(type_, refuse_write, methods=list(_WRITES)),
        Route(f"{type_}/_search", search, methods=["GET", "POST"]),
        Route(f"{type_}/_history", no_history, methods=["GET"]),
        Route(f"{instance}/_history", no_history, methods=["GET"]),
        Route(f"{instance}/_history/{{vid}}", no_history, methods=["GET"]),
        Route(instance, read, methods=["GET"]),
        Route(instance, refuse_write, methods=["PUT", "PATCH", "DELETE"]),
    ]
