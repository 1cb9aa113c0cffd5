"""Instance interactions: ``[base]/[type]/[id]`` read, update, patch, delete and vread."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gpbridge.api import body, headers
from gpbridge.api.bundles import embed
from gpbridge.api.context import base_url, gate, in_session
from gpbridge.api.elements import wants_subset
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response, resource_response, version_headers
from gpbridge.fhir.outcome import FhirError, bad_request, information, operation_outcome
from gpbridge.security.filtering import audit_failure, guard_resource, guard_write, unrestricted
from gpbridge.store import interactions as ops
from gpbridge.store.base import StoredResource, WriteResult

TYPE_INTERACTIONS = ("read", "vread", "update", "patch", "delete")


@fhir_endpoint
async def read(request: Request) -> Response:
    type_, id_ = request.path_params["type"], request.path_params["id"]
    api, context = gate(request, "read", type_, id_, audit_later=True)
    ops.check_id(id_)
    with audit_failure(context, "read", type_, id_):
        found = guard_resource(context, "read", await api.call(api.store.read, type_, id_))
    return _render(request, found, base_url(request, api.settings))


@fhir_endpoint
async def vread(request: Request) -> Response:
    type_, id_, vid = request.path_params["type"], request.path_params["id"], request.path_params["vid"]
    api, context = gate(request, "vread", type_, id_, audit_later=True)
    ops.check_id(id_)
    if not vid.isdigit():
        raise bad_request(f"Version '{vid}' is not a version number")
    with audit_failure(context, "vread", type_, id_):
        found = guard_resource(context, "vread", await api.call(api.store.vread, type_, id_, int(vid)))
    return _render(request, found, base_url(request, api.settings))


def _render(request: Request, found: StoredResource, base: str) -> Response:
    wanted = headers.if_none_match(request)
    if wanted is not None and wanted == found.version:
        return Response(status_code=304, headers=version_headers(found, base, location=False))
    params = request.query_params if request.scope.get("query_string") else None
    summary = params.get("_summary") if params else None
    elements = [e for v in params.getlist("_elements") for e in v.split(",") if e] if params else []
    subset = embed(found, summary, elements) if wants_subset(summary, elements) else None
    return resource_response(request, found, base, body=subset)


@fhir_endpoint
async def update(request: Request) -> Response:
    type_, id_ = request.path_params["type"], request.path_params["id"]
    api, context = gate(request, "update", type_, id_)
    resource = await body.read_resource(request, api.settings)
    await _guard_existing(api, context, "update", type_, id_)
    guard_write(context, "update", resource)
    if_match = headers.if_match(request)
    result = await api.call(
        in_session, api.store, ops.update, type_, id_, resource, settings=api.settings, if_match=if_match
    )
    return write_response(request, result, base_url(request, api.settings))


@fhir_endpoint
async def patch(request: Request) -> Response:
    type_, id_ = request.path_params["type"], request.path_params["id"]
    api, context = gate(request, "patch", type_, id_)
    await _guard_existing(api, context, "patch", type_, id_)
    operations = await body.read_json_patch(request, api.settings)
    if_match = headers.if_match(request)
    result = await api.call(
        in_session, api.store, ops.patch, type_, id_, operations, settings=api.settings, if_match=if_match
    )
    return write_response(request, result, base_url(request, api.settings))


@fhir_endpoint
async def delete(request: Request) -> Response:
    type_, id_ = request.path_params["type"], request.path_params["id"]
    api, context = gate(request, "delete", type_, id_)
    await _guard_existing(api, context, "delete", type_, id_)
    if_match = headers.if_match(request)
    status = delete_status(request)  # before deleting: a bad Prefer must not fail after the write
    result = await api.call(
        in_session, api.store, ops.delete, type_, id_, if_match=if_match, settings=api.settings, status=status
    )
    return delete_response(request, result, f"{type_}/{id_}")


async def _guard_existing(api: Any, context: Any, interaction: str, type_: str, id_: str) -> None:
    """Changing a resource needs a relationship with the patient it belongs to now."""
    if unrestricted(context):
        return
    try:
        current = await api.call(api.store.read, type_, id_)
    except FhirError:
        return  # absent or deleted: nothing of anyone's to protect
    if current.content:
        guard_write(context, interaction, orjson.loads(current.content))


def write_response(request: Request, result: WriteResult, base: str) -> Response:
    return resource_response(
        request,
        result.resource,
        base,
        status=201 if result.created else 200,
        location=True,
        prefer=headers.prefer_return(request),
        issues=result.issues,
    )


def delete_status(request: Request) -> int:
    """What a delete answers: 200 with an OperationOutcome when asked for one, else 204."""
    return 200 if headers.prefer_return(request) == "OperationOutcome" else 204


def delete_response(request: Request, result: WriteResult | None, what: str) -> Response:
    extra = {"ETag": result.resource.etag} if result is not None else None
    if delete_status(request) == 200:
        message = f"Deleted {what}" if result is not None else f"Nothing to delete: {what}"
        return json_response(request, operation_outcome([information("informational", message)]), 200, extra)
    return Response(status_code=204, headers=extra)
