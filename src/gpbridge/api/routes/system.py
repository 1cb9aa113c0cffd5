"""System interactions: ``POST [base]`` (transaction/batch Bundles) and ``GET [base]?_type=...``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gpbridge.api import body, headers
from gpbridge.api.context import base_url, gate
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.api.routes.type import run_search
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.filtering import unrestricted
from gpbridge.security.policy import authorize
from gpbridge.store.transaction import process_bundle

SYSTEM_INTERACTIONS = ("transaction", "batch", "search-system")


@fhir_endpoint
async def bundle(request: Request) -> Response:
    api, context = gate(request, "transaction")
    if not unrestricted(context):
        # Entries are checked by type only (authorize_entry); per-patient checks need a system token.
        raise FhirError.of(403, "forbidden", "Access denied: transaction/batch Bundles need a system token")
    # Resources inside the Bundle are depth-checked by process_bundle during its reference walk.
    submitted = await body.read_resource(request, api.settings, check_nesting=False)

    def authorize_entry(interaction: str, resource_type: str | None, resource_id: str | None) -> None:
        authorize(context, interaction, resource_type, resource_id).enforce()

    response = await api.call(
        process_bundle,
        api.store,
        submitted,
        settings=api.settings,
        base_url=base_url(request, api.settings),
        prefer=headers.prefer_return(request, default="minimal"),
        authorize_entry=authorize_entry,
    )
    return json_response(request, response)


@fhir_endpoint
async def search_get(request: Request) -> Response:
    api, context = gate(request, "search", audit_later=True)
    return await run_search(request, api, None, request.query_params.multi_items(), context)


@fhir_endpoint
async def search_post(request: Request) -> Response:
    api, context = gate(request, "search", audit_later=True)
    params = await body.read_form(request, api.settings)
    return await run_search(request, api, None, params, context)
