"""History: ``[base]/_history``, ``[base]/[type]/_history`` and ``[base]/[type]/[id]/_history``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gpbridge.api.bundles import history_bundle
from gpbridge.api.context import Api, base_url, gate
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.fhir.outcome import FhirError, bad_request
from gpbridge.security.filtering import filter_versions, guard_resource, unrestricted
from gpbridge.security.policy import RequestContext
from gpbridge.store import interactions as ops

TYPE_INTERACTIONS = ("history-instance", "history-type")
SYSTEM_INTERACTIONS = ("history-system",)


@fhir_endpoint
async def system_history(request: Request) -> Response:
    api, context = gate(request, "history")
    _whole_history_check(context)
    return await _history(request, api, context, None, None)


@fhir_endpoint
async def type_history(request: Request) -> Response:
    type_ = request.path_params["type"]
    api, context = gate(request, "history", type_)
    _whole_history_check(context)
    return await _history(request, api, context, type_, None)


@fhir_endpoint
async def instance_history(request: Request) -> Response:
    type_, id_ = request.path_params["type"], request.path_params["id"]
    api, context = gate(request, "history", type_, id_)
    ops.check_id(id_)
    if not unrestricted(context):  # the current version decides who may see the instance's past
        guard_resource(context, "history", await api.call(api.store.read, type_, id_))
    return await _history(request, api, context, type_, id_)


def _whole_history_check(context: RequestContext) -> None:
    # Type/system history spans every patient and its total counts them all: system tokens only.
    if not unrestricted(context):
        raise FhirError.of(403, "forbidden", "Access denied: type and system history need a system token")


async def _history(
    request: Request, api: Api, context: RequestContext, type_: str | None, id_: str | None
) -> Response:
    params = request.query_params
    settings = api.settings
    count = _int(params.get("_count"), "_count", settings.default_page_size)
    count = min(count, settings.max_page_size)
    offset = _int(params.get("_offset"), "_offset", 0)
    since = params.get("_since") or None
    if "_at" in params:
        raise bad_request("_at is not supported on history; use _since", "_at", code="not-supported")
    versions, total = await api.call(api.store.history, type_, id_, since, count, offset)
    versions = filter_versions(context, versions, type_)
    base = base_url(request, settings)
    url = "/".join(p for p in (base, type_, id_, "_history") if p)
    kept = [("_since", since)] if since else []
    return json_response(
        request, history_bundle(versions, total, base, url, kept, count=count, offset=offset)
    )


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise bad_request(f"{name} must be a non-negative integer, not '{value}'", name)
    return int(value)
