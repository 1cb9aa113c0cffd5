"""Terminology ``$operations`` over HTTP: thin Starlette endpoints around ``terminology.operations``.

Each endpoint: security decision (``interaction="operation"`` with the operation's name, so the
audit trail says which), parameters from the query string (GET) or a Parameters body (POST), the
pure operation in a worker thread, and the resulting Parameters / ValueSet as FHIR JSON. Errors
are OperationOutcomes through ``fhir_endpoint``.

Routes (type level, FHIR base ``/fhir``; they must be listed before ``/fhir/{type}/{id}``, which
would otherwise take ``$lookup`` for an id): see ``routes()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gpbridge.api import body
from gpbridge.api.context import FHIR_PREFIX, Api, api_of, request_context
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.security.policy import authorize
from gpbridge.terminology import operations as ops
from gpbridge.terminology.parameters import OperationInput
from gpbridge.terminology.service import Terminology, terminology_for

Operation = Callable[[Terminology, OperationInput], dict[str, Any]]

_DEFINITION = "http://hl7.org/fhir/OperationDefinition/"
# For api.capability: one entry per (type, operation). capability reads ``OPERATION`` (one dict);
# this module has six, so it also offers ``OPERATIONS`` for the lead to read.
OPERATIONS: list[dict[str, Any]] = [
    {"name": "lookup", "definition": _DEFINITION + "CodeSystem-lookup", "types": ["CodeSystem"], "system": False},
    {"name": "validate-code", "definition": _DEFINITION + "CodeSystem-validate-code", "types": ["CodeSystem"],
     "system": False},
    {"name": "subsumes", "definition": _DEFINITION + "CodeSystem-subsumes", "types": ["CodeSystem"], "system": False},
    {"name": "expand", "definition": _DEFINITION + "ValueSet-expand", "types": ["ValueSet"], "system": False},
    {"name": "validate-code", "definition": _DEFINITION + "ValueSet-validate-code", "types": ["ValueSet"],
     "system": False},
    {"name": "translate", "definition": _DEFINITION + "ConceptMap-translate", "types": ["ConceptMap"],
     "system": False},
]


def terminology_of(api: Api) -> Terminology:
    """The app's terminology service: one per store, its caches shared by every request."""
    found = api.cache.get("terminology")
    if found is None:
        found = api.cache["terminology"] = terminology_for(api.store)
    return found


async def _run(request: Request, resource_type: str, name: str, operation: Operation) -> Response:
    api = api_of(request)
    context = request_context(request, api)
    authorize(context, "operation", resource_type, operation=name).enforce()
    if request.method == "POST":
        inp = OperationInput.from_parameters(await body.read_resource(request, api.settings))
    else:
        inp = OperationInput.from_query(request.query_params.multi_items())
    result = await api.call(operation, terminology_of(api), inp)
    return json_response(request, result)


@fhir_endpoint
async def codesystem_lookup(request: Request) -> Response:
    return await _run(request, "CodeSystem", "lookup", ops.lookup)


@fhir_endpoint
async def codesystem_validate_code(request: Request) -> Response:
    return await _run(request, "CodeSystem", "validate-code", ops.validate_code_in_system)


@fhir_endpoint
async def codesystem_subsumes(request: Request) -> Response:
    return await _run(request, "CodeSystem", "subsumes", ops.subsumes)


@fhir_endpoint
async def valueset_expand(request: Request) -> Response:
    return await _run(request, "ValueSet", "expand", ops.expand)


@fhir_endpoint
async def valueset_validate_code(request: Request) -> Response:
    return await _run(request, "ValueSet", "validate-code", ops.validate_code_in_value_set)


@fhir_endpoint
async def conceptmap_translate(request: Request) -> Response:
    return await _run(request, "ConceptMap", "translate", ops.translate)


def routes(prefix: str = FHIR_PREFIX) -> list[Route]:
    """GET and POST for each operation; put these before the ``{type}/{id}`` routes."""
    table = [
        ("CodeSystem/$lookup", codesystem_lookup),
        ("CodeSystem/$validate-code", codesystem_validate_code),
        ("CodeSystem/$subsumes", codesystem_subsumes),
        ("ValueSet/$expand", valueset_expand),
        ("ValueSet/$validate-code", valueset_validate_code),
        ("ConceptMap/$translate", conceptmap_translate),
    ]
    return [Route(f"{prefix}/{path}", endpoint, methods=["GET", "POST"]) for path, endpoint in table]
