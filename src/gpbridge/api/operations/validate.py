"""``$validate``: check a resource without storing it (https://hl7.org/fhir/R4/resource-operation-validate.html).

    POST [base]/[type]/$validate        body: the resource, or Parameters(resource, mode, profile)
    POST [base]/[type]/[id]/$validate   the same; without a resource, the stored version is checked

``mode`` (create | update | delete) and ``profile`` may also come from the query string. The answer
is always 200 with an OperationOutcome listing *every* issue, or a single "All OK" information
issue; only a request that cannot be read at all (bad JSON, wrong resource type for the URL, an
unknown mode) is a 4xx. Validation uses the same validator and settings as the write path
(``fhir.validate``), plus the best-practice warnings (dom-6) the write path leaves out. A stored
instance is checked only if the caller could read it (``security.filtering.guard_resource``): its
issues would otherwise tell another practice what the record holds.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gpbridge.api import body
from gpbridge.api.context import FHIR_PREFIX, api_of, request_context
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.fhir import spec
from gpbridge.fhir.outcome import Issue, bad_request, information, not_found, operation_outcome
from gpbridge.fhir.validate import MODES, required_profiles, use_settings_store, validate
from gpbridge.security.filtering import audit_failure, guard_resource
from gpbridge.security.policy import authorize, record
from gpbridge.store.interactions import check_id, check_type

OPERATION: dict[str, Any] = {
    "name": "validate",
    "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    "types": sorted(spec.resource_types()),
    "system": False,
}


def routes(prefix: str = FHIR_PREFIX) -> list[Route]:
    """Both routes; they must come before ``{type}/{id}`` (which would take ``$validate`` as an id)."""
    return [
        Route(f"{prefix}/{{type}}/$validate", validate_operation, methods=["POST"]),
        Route(f"{prefix}/{{type}}/{{id}}/$validate", validate_operation, methods=["POST"]),
    ]


@fhir_endpoint
async def validate_operation(request: Request) -> Response:
    type_ = check_type(request.path_params["type"])
    id_ = request.path_params.get("id")
    if id_ is not None:
        check_id(id_)
    api = api_of(request)
    context = request_context(request, api)
    # an instance may be read below: then that read is the request's one audit record, with its patient
    context.audit_deferred = id_ is not None
    decision = authorize(context, "operation", type_, id_, operation="validate")
    decision.enforce()
    with audit_failure(context, "operation:validate", type_, id_):
        resource, mode, profiles = await _inputs(request, api.settings)
        if id_ is not None and (mode == "delete" or resource is None):
            # "may it be deleted?" needs the resource as much as checking its stored version does
            stored = await api.call(api.store.read, type_, id_)
            if stored is None or stored.deleted or stored.content is None:
                if mode == "delete":
                    raise not_found(f"{type_}/{id_} is not known: there is nothing to delete")
                raise not_found(f"{type_}/{id_} is not known, and no resource was sent to validate")
            # the relationship and item rules of a read: 403 (audited) where a read would be refused
            stored = guard_resource(context, "operation:validate", stored)
            if resource is None and mode != "delete":
                resource = body.parse_json(stored.content or b"", api.settings, check_nesting=False)
    if context.audit_deferred:  # nothing stored was read: the gate's allowance is the record
        record(context, decision, "operation", type_, id_, operation="validate")
    issues = await api.call(_validate, resource, type_, id_, mode, profiles, api.settings)
    return json_response(request, operation_outcome(issues))


def _validate(
    resource: Any, type_: str, id_: str | None, mode: str, profiles: list[str], settings: Any
) -> list[Issue]:
    if mode == "delete":
        what = f"{type_}/{id_}" if id_ else type_
        return [information("informational", f"{what} may be deleted: this server keeps no referential constraints")]
    if resource is None:
        raise bad_request("No resource to validate: send one in the body or as the Parameters 'resource'")
    if isinstance(resource, dict) and resource.get("resourceType") not in (None, type_):
        raise bad_request(
            f"The resource is a {resource.get('resourceType')}, but this is {type_}/$validate", "resourceType"
        )
    use_settings_store(settings)
    wanted = profiles + [p for p in required_profiles(settings, type_) if p not in profiles]
    issues = validate(resource, profiles=wanted, mode=mode)
    if mode == "update" and id_ is not None and isinstance(resource, dict):
        found = resource.get("id")
        if found is not None and found != id_:
            issues.append(
                Issue("error", "invalid", f"The resource id '{found}' does not match the URL id '{id_}'", (f"{type_}.id",))
            )
    return issues


async def _inputs(request: Request, settings: Any) -> tuple[Any, str, list[str]]:
    """(resource or None, mode, profiles) from the body and the query string."""
    query = request.query_params
    mode = query.get("mode") or "create"
    profiles = [p for p in query.getlist("profile") if p]
    resource: Any = None
    raw = await body.read_bytes(request, settings.max_body_bytes)
    if raw.strip():
        body.require_content_type(request, *body.JSON_TYPES)
        document = body.parse_json(raw, settings)
        if document.get("resourceType") == "Parameters" and request.path_params["type"] != "Parameters":
            resource, mode, profiles = _from_parameters(document, mode, profiles)
        else:
            resource = document
    if mode not in MODES:
        raise bad_request(f"Unknown mode '{mode}': use create, update or delete", code="value")
    return resource, mode, profiles


def _from_parameters(parameters: dict[str, Any], mode: str, profiles: list[str]) -> tuple[Any, str, list[str]]:
    resource: Any = None
    for parameter in parameters.get("parameter") or ():
        if not isinstance(parameter, dict):
            continue
        name = parameter.get("name")
        if name == "resource":
            resource = parameter.get("resource")
        elif name == "mode":
            mode = str(parameter.get("valueCode") or parameter.get("valueString") or mode)
        elif name == "profile":
            url = parameter.get("valueUri") or parameter.get("valueCanonical") or parameter.get("valueString")
            if url:
                profiles.append(str(url))
    return resource, mode, profiles
