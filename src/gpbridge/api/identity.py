"""Identity routes: the linkage review queue and ``Patient/$match``.

- ``GET  /identity/review`` — open review items (Task) with the records a reviewer compares
- ``POST /identity/review/{id}/accept`` — same person: merge (optional body: Parameters ``note``)
- ``POST /identity/review/{id}/reject`` — not the same person
- ``POST /identity/review/{id}/undo`` — unmerge an accepted item
- ``POST /fhir/Patient/$match`` — scored candidate people (FHIR operation)

The review queue is gated by ``security.identity_review`` (docs/identity.md, "Who may review"):
R8000/R8008 users or a system scope granting Task and Patient; the listing is restricted and
filtered as any search is (the caller's patients only, sensitive demographics redacted), and a
decision needs a write relationship with every record it touches. Each access is audited naming
the patients involved. Decisions are also kept on the Task itself (owner, note, lastModified) and
every change is a new version. ``$match`` asks ``security.policy.authorize``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gpbridge.api import body as bodies
from gpbridge.api.context import FHIR_PREFIX, Api, api_of, base_url, in_session, request_context
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.fhir.outcome import FhirError, bad_request, error
from gpbridge.identity import review as queue
from gpbridge.identity.golden import IDENTITY_SYSTEM
from gpbridge.identity.linkage import IdentityConfig
from gpbridge.identity.match import match, parse_match_parameters
from gpbridge.search.parse import parse_search
from gpbridge.security import identity_review as guard
from gpbridge.security.filtering import audit_failure
from gpbridge.security.policy import RequestContext, authorize
from gpbridge.store.base import Store

REVIEW_PREFIX = "/identity/review"
OPERATION = {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match",
             "types": ["Patient"], "system": False}


def routes(fhir_prefix: str = FHIR_PREFIX) -> list[Route]:
    """Add before the generic ``{type}/{id}`` routes (``$match`` would otherwise match them)."""
    return [
        Route(f"{fhir_prefix}/Patient/$match", patient_match, methods=["POST"]),
        Route(REVIEW_PREFIX, review_list, methods=["GET"]),
        Route(REVIEW_PREFIX + "/{id}/accept", review_accept, methods=["POST"]),
        Route(REVIEW_PREFIX + "/{id}/reject", review_reject, methods=["POST"]),
        Route(REVIEW_PREFIX + "/{id}/undo", review_undo, methods=["POST"]),
    ]


def _gate(request: Request, interaction: str, type_: str, id_: str | None = None,
          operation: str | None = None) -> tuple[Api, RequestContext]:
    """``api.context.gate`` with an operation name: 401 when no one is signed in, else 403."""
    api = api_of(request)
    context = request_context(request, api)
    decision = authorize(context, interaction, type_, id_, operation=operation)
    if not decision.allowed and context.principal is None:
        raise FhirError(401, [error("login", "Authentication required: send Authorization: Bearer <access token>")],
                        {"WWW-Authenticate": "Bearer"})
    decision.enforce()
    return api, context


def _review_gate(request: Request, interaction: str, task_id: str | None = None,
                 operation: str | None = None) -> tuple[Api, RequestContext]:
    api = api_of(request)
    context = request_context(request, api)
    guard.authorize(context, interaction, task_id, operation)
    return api, context


@fhir_endpoint
async def review_list(request: Request) -> Response:
    """Open items of the caller's patients, oldest first, each with the source record and both
    people as included entries (filtered: a sensitive patient's demographics redacted)."""
    api, context = _review_gate(request, "search")
    with audit_failure(context, "search", "Task"):
        count = request.query_params.get("_count", "50")
        if not count.isdigit() or not 1 <= int(count) <= 500:
            raise bad_request("_count must be 1-500", "_count")
        bundle = await api.call(_open_items, context, api.store, int(count), base_url(request, api.settings))
    return json_response(request, bundle)


def _open_items(context: RequestContext, store: Store, count: int, base: str) -> dict[str, Any]:
    codes = f"{IDENTITY_SYSTEM}|link-review,{IDENTITY_SYSTEM}|nhs-number-conflict"
    query = parse_search("Task", [("_tag", codes), ("status", "requested"), ("_sort", "authored-on"),
                                  ("_count", str(count))], max_count=500)
    found = guard.review_search(context, store, query)
    entries: list[dict[str, Any]] = []
    for mode, items in (("match", found.matches), ("include", found.included)):
        for stored in items:
            if stored.content:
                entries.append({"fullUrl": f"{base}/{stored.type}/{stored.id}",
                                "resource": orjson.loads(stored.content), "search": {"mode": mode}})
    return {"resourceType": "Bundle", "type": "searchset", "total": found.total if found.total is not None
            else len(found.matches), "entry": entries}


async def _note(request: Request, api: Api) -> str:
    raw = await bodies.read_bytes(request, api.settings.max_body_bytes)
    if not raw.strip():
        return ""  # a decision needs no body; a note is optional
    bodies.require_content_type(request, *bodies.JSON_TYPES)
    parameters = bodies.parse_json(raw, api.settings)
    for param in parameters.get("parameter") or () if isinstance(parameters, dict) else ():
        if param.get("name") == "note" and isinstance(param.get("valueString"), str):
            return str(param["valueString"])
    return ""


def _reviewer(context: RequestContext) -> str | None:
    return context.principal.subject if context.principal else None


async def _decide(request: Request, operation: str, decision: Any) -> Response:
    """One decision: gate, the reviewer's right over every record it touches (checked inside its
    write session, before anything is written), then one audit event per patient involved."""
    task_id = request.path_params["id"]
    api, context = _review_gate(request, "operation", task_id, operation)
    check = guard.DecisionGuard(context, operation, task_id)
    with audit_failure(context, f"operation:{operation}", "Task", task_id):
        note = await _note(request, api)

        def run(session: Any) -> dict[str, Any]:
            return dict(decision(session, api, task_id, reviewer=_reviewer(context), note=note, check=check))

        task = await api.call(in_session, api.store, run)
    check.record()
    return json_response(request, task)


@fhir_endpoint
async def review_accept(request: Request) -> Response:
    return await _decide(request, "identity-accept",
                         lambda session, api, task_id, **kw: queue.accept(session, api.settings, task_id, **kw))


@fhir_endpoint
async def review_reject(request: Request) -> Response:
    return await _decide(request, "identity-reject",
                         lambda session, api, task_id, **kw: queue.reject(session, api.settings, task_id, **kw))


@fhir_endpoint
async def review_undo(request: Request) -> Response:
    return await _decide(request, "identity-unmerge",
                         lambda session, api, task_id, **kw: queue.undo(api.store, session, api.settings, task_id,
                                                                         **kw))


@fhir_endpoint
async def patient_match(request: Request) -> Response:
    api, _ = _gate(request, "operation", "Patient", operation="match")
    parameters = await bodies.read_resource(request, api.settings)
    patient, only_certain, count = parse_match_parameters(parameters)
    config = IdentityConfig.from_settings(api.settings)
    bundle = await api.call(lambda: match(api.store, patient, config, only_certain=only_certain, count=count,
                                          base=base_url(request, api.settings)))
    return json_response(request, bundle)
