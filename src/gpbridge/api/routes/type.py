"""Type interactions: ``[base]/[type]`` create, search and the conditional update/patch/delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gpbridge.api import body, headers
from gpbridge.api.bundles import searchset
from gpbridge.api.context import Api, base_url, gate, in_session
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.api.routes.instance import delete_response, delete_status, write_response
from gpbridge.fhir.outcome import FhirError, bad_request
from gpbridge.security.filtering import audit_failure, guard_write, guarded_search, unrestricted
from gpbridge.security.policy import RequestContext
from gpbridge.store import interactions as ops

TYPE_INTERACTIONS = ("create", "search-type")

# Parameters that shape the response, never part of conditional criteria.
_FORMAT_PARAMS = frozenset({"_format", "_pretty"})


@fhir_endpoint
async def create(request: Request) -> Response:
    type_ = request.path_params["type"]
    api, context = gate(request, "create", type_)
    resource = await body.read_resource(request, api.settings)
    guard_write(context, "create", resource)
    if_none_exist = request.headers.get("if-none-exist") or None
    result = await api.call(
        in_session,
        api.store,
        ops.create,
        resource,
        settings=api.settings,
        if_none_exist=if_none_exist,
        expected_type=type_,
    )
    return write_response(request, result, base_url(request, api.settings))


@fhir_endpoint
async def search_get(request: Request) -> Response:
    type_ = request.path_params["type"]
    api, context = gate(request, "search", type_, audit_later=True)
    return await run_search(request, api, type_, request.query_params.multi_items(), context)


@fhir_endpoint
async def search_post(request: Request) -> Response:
    type_ = request.path_params["type"]
    api, context = gate(request, "search", type_, audit_later=True)
    params = await body.read_form(request, api.settings)
    return await run_search(request, api, type_, params, context)


async def run_search(
    request: Request, api: Api, type_: str | None, params: list[tuple[str, str]], context: RequestContext
) -> Response:
    from gpbridge.search.parse import parse_search

    settings = api.settings
    base = base_url(request, settings)
    with audit_failure(context, "search", type_):
        query = parse_search(
            type_,
            params,
            strict=headers.strict_handling(request),
            default_count=settings.default_page_size,
            max_count=settings.max_page_size,
            base_url=base,
        )
        if query.summary == "count":  # the total alone: fetch no rows
            query.count = 0
            query.total = "accurate"
        # permitted compartments only, so totals and counts see only what the caller may see
        result = await api.call(guarded_search, context, api.store, query, type_)
    url = f"{base}/{type_}" if type_ else base
    return json_response(request, searchset(query, result, base, url))


def _system_only(context: RequestContext, what: str) -> None:
    # The criteria could select resources of patients the caller has no relationship with.
    if not unrestricted(context):
        raise FhirError.of(403, "forbidden", f"Access denied: {what} needs a system token")


def _criteria(request: Request) -> list[tuple[str, str]]:
    criteria = [(k, v) for k, v in request.query_params.multi_items() if k not in _FORMAT_PARAMS]
    if not criteria:
        # Without criteria a conditional write would select every resource of the type.
        raise bad_request(f"{request.method} on a resource type needs search criteria (Type?param=value)")
    return criteria


@fhir_endpoint
async def conditional_update(request: Request) -> Response:
    type_ = request.path_params["type"]
    api, context = gate(request, "update", type_)
    criteria = _criteria(request)
    resource = await body.read_resource(request, api.settings)
    _system_only(context, "conditional update")
    guard_write(context, "update", resource)
    if_match = headers.if_match(request)
    result = await api.call(
        in_session,
        api.store,
        ops.conditional_update,
        type_,
        criteria,
        resource,
        settings=api.settings,
        if_match=if_match,
    )
    return write_response(request, result, base_url(request, api.settings))


@fhir_endpoint
async def conditional_patch(request: Request) -> Response:
    type_ = request.path_params["type"]
    api, context = gate(request, "patch", type_)
    criteria = _criteria(request)
    _system_only(context, "conditional patch")
    operations = await body.read_json_patch(request, api.settings)
    result = await api.call(
        in_session, api.store, ops.conditional_patch, type_, criteria, operations, settings=api.settings
    )
    return write_response(request, result, base_url(request, api.settings))


@fhir_endpoint
async def conditional_delete(request: Request) -> Response:
    type_ = request.path_params["type"]
    api, context = gate(request, "delete", type_)
    criteria = _criteria(request)
    _system_only(context, "conditional delete")
    status = delete_status(request)
    result = await api.call(
        in_session, api.store, ops.conditional_delete, type_, criteria, settings=api.settings, status=status
    )
    what = f"{type_}?{request.url.query}"
    return delete_response(request, result, what)
