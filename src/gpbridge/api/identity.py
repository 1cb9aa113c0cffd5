"""Identity routes: the linkage review queue and ``Patient/$match``.

- ``GET  /identity/review`` — open review items (Task) with the records a reviewer compares
- ``POST /identity/review/{id}/accept`` — same person: merge (optional body: Parameters ``note``)
- ``POST /identity/review/{id}/reject`` — not the same person
- ``POST /identity/review/{id}/undo`` — unmerge an accepted item
- ``POST /fhir/Patient/$match`` — scored candidate people (FHIR operation)

Each asks ``security.policy.authorize`` first (which writes the audit record); decisions are
also kept on the Task itself (owner, note, lastModified) and every change is a new version.
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


@fhir_endpoint
async def review_list(request: Request) -> Response:
    """Open items, oldest first, each with the source record and both people as included entries."""
    api, _ = _gate(request, "search", "Task")
    count = request.query_params.get("_count", "50")
    if not count.isdigit() or not 1 <= int(count) <= 500:
        raise bad_request("_count must be 1-500", "_count")
    bundle = await api.call(_open_items, api.store, int(count), base_url(request, api.settings))
    return json_response(request, bundle)


def _open_items(store: Store, count: int, base: str) -> dict[str, Any]:
    codes = f"{IDENTITY_SYSTEM}|link-review,{IDENTITY_SYSTEM}|nhs-number-conflict"
    query = parse_search("Task", [("_tag", codes), ("status", "requested"), ("_sort", "authored-on"),
                                  ("_count", str(count))], max_count=500)
    found = store.search(query)
    entries: list[dict[str, Any]] = []
    included: dict[str, dict[str, Any]] = {}
    for stored in found.matches:
        task = orjson.loads(stored.content or b"{}")
        entries.append({"fullUrl": f"{base}/Task/{stored.id}", "resource": task, "search": {"mode": "match"}})
        references = [task["for"]["reference"], task["focus"]["reference"]]
        references += [i["valueReference"]["reference"] for i in task.get("input") or () if "valueReference" in i]
        for reference in references:
            if reference not in included:
                type_, _, id_ = reference.partition("/")
                try:
                    included[reference] = orjson.loads(store.read(type_, id_).content or b"{}")
                except Exception:  # deleted meanwhile: the reviewer still sees the Task
                    continue
    entries += [{"fullUrl": f"{base}/{ref}", "resource": res, "search": {"mode": "include"}}
                for ref, res in included.items()]
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


@fhir_endpoint
async def review_accept(request: Request) -> Response:
    task_id = request.path_params["id"]
    api, context = _gate(request, "operation", "Task", task_id, operation="identity-accept")
    note = await _note(request, api)
    task = await api.call(in_session, api.store, queue.accept, api.settings, task_id, reviewer=_reviewer(context),
                          note=note)
    return json_response(request, task)


@fhir_endpoint
async def review_reject(request: Request) -> Response:
    task_id = request.path_params["id"]
    api, context = _gate(request, "operation", "Task", task_id, operation="identity-reject")
    note = await _note(request, api)
    task = await api.call(in_session, api.store, queue.reject, api.settings, task_id, reviewer=_reviewer(context),
                          note=note)
    return json_response(request, task)


@fhir_endpoint
async def review_undo(request: Request) -> Response:
    task_id = request.path_params["id"]
    api, context = _gate(request, "operation", "Task", task_id, operation="identity-unmerge")
    note = await _note(request, api)

    def undo(session: Any) -> dict[str, Any]:
        return queue.undo(api.store, session, api.settings, task_id, reviewer=_reviewer(context), note=note)

    task = await api.call(in_session, api.store, undo)
    return json_response(request, task)


@fhir_endpoint
async def patient_match(request: Request) -> Response:
    api, _ = _gate(request, "operation", "Patient", operation="match")
    parameters = await bodies.read_resource(request, api.settings)
    patient, only_certain, count = parse_match_parameters(parameters)
    config = IdentityConfig.from_settings(api.settings)
    bundle = await api.call(lambda: match(api.store, patient, config, only_certain=only_certain, count=count,
                                          base=base_url(request, api.settings)))
    return json_response(request, bundle)
