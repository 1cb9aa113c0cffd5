"""System interactions: ``POST [base]`` (transaction/batch Bundles) and ``GET [base]?_type=...``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gpbridge.api import body, headers
from gpbridge.api.bundle_reads import entry_reader
from gpbridge.api.context import base_url, gate
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.api.routes.type import run_search
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.audit_bundle import bundle_audit
from gpbridge.security.filtering import unrestricted
from gpbridge.security.policy import authorize, record
from gpbridge.security.rules import deny
from gpbridge.store.transaction import process_bundle

SYSTEM_INTERACTIONS = ("transaction", "batch", "search-system")


@fhir_endpoint
async def bundle(request: Request) -> Response:
    # The gate's decision is recorded by bundle_audit, with everything the Bundle touched.
    api, context = gate(request, "transaction", audit_later=True)
    assert context.gate_decision is not None
    with bundle_audit(context, context.gate_decision) as audit:
        if not unrestricted(context):
            # Entries are checked by type only (authorize_entry); per-patient checks need a system token.
            message = "Access denied: transaction/batch Bundles need a system token"
            record(context, deny(message), "transaction", None, None)
            raise FhirError.of(403, "forbidden", message)
        # Resources inside the Bundle are depth-checked by process_bundle during its reference walk.
        submitted = await body.read_resource(request, api.settings, check_nesting=False)
        if isinstance(submitted, dict) and submitted.get("type") == "batch":
            audit.kind = "batch"

        def authorize_entry(interaction: str, resource_type: str | None, resource_id: str | None) -> None:
            # allowed entries are recorded once, in the Bundle's events; a denial is recorded here
            authorize(context, interaction, resource_type, resource_id).enforce()

        response = await api.call(
            process_bundle,
            api.store,
            submitted,
            settings=api.settings,
            base_url=base_url(request, api.settings),
            prefer=headers.prefer_return(request, default="minimal"),
            authorize_entry=authorize_entry,
            touched=audit.touched,
            read_entry=entry_reader(request, api, context),
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
