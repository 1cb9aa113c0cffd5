"""``$gpc.getstructuredrecord``: GP Connect Access Record: Structured, answered in UK Core R4.

    POST [base]/Patient/$gpc.getstructuredrecord     body: Parameters (patientNHSNumber, include*)

The route parses the body, asks the security gate (recording the Spine headers), and hands the
rest to ``records.structured`` with the policy's record access, which decides — once the patient is
known and before any of the record is read — the relationship and every type the requested sections
return. Refusals carry GP Connect's Spine error codes and statuses: ACCESS_DENIED, or
NO_PATIENT_CONSENT when the patient's dissent is the reason.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gpbridge.api import body
from gpbridge.api.context import FHIR_PREFIX, api_of, base_url, request_context
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.fhir.outcome import FhirError
from gpbridge.records.gpc_codes import gpc_error
from gpbridge.records.structured import structured_record_json
from gpbridge.security.filtering import audit_failure
from gpbridge.security.policy import Decision, RequestContext, authorize
from gpbridge.security.record_access import PolicyRecordAccess

INTERACTION_ID = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1"
SSP_HEADERS = ("ssp-traceid", "ssp-from", "ssp-to", "ssp-interactionid")

OPERATION: dict[str, Any] = {
    "name": "gpc.getstructuredrecord",
    "definition": "https://fhir.nhs.uk/STU3/OperationDefinition/GPConnect-GetStructuredRecord-Operation-1",
    "types": ["Patient"],
    "system": False,
}


def routes(prefix: str = FHIR_PREFIX) -> list[Route]:
    return [Route(f"{prefix}/Patient/$gpc.getstructuredrecord", get_structured_record, methods=["POST"])]


def ssp_headers(request: Request) -> dict[str, str]:
    """The Spine Secure Proxy headers present on the request (names as GP Connect spells them)."""
    names = {"ssp-traceid": "Ssp-TraceID", "ssp-from": "Ssp-From", "ssp-to": "Ssp-To",
             "ssp-interactionid": "Ssp-InteractionID"}
    return {names[h]: v for h in SSP_HEADERS if (v := request.headers.get(h))}


def spine_context(request: Request) -> RequestContext:
    """The policy context, with the Spine trace id as the correlation id so the audit trail joins
    this request to the consumer's. From/To ASIDs ride in the request id until the policy context
    has fields of its own for them."""
    context = request_context(request, api_of(request), gpconnect=True)
    ssp = ssp_headers(request)
    if "Ssp-TraceID" in ssp:
        context.correlation_id = ssp["Ssp-TraceID"]
    if "Ssp-From" in ssp or "Ssp-To" in ssp:
        route = f"ssp:{ssp.get('Ssp-From', '?')}->{ssp.get('Ssp-To', '?')}"
        context.request_id = f"{context.request_id} {route}" if context.request_id else route
    return context


def refusal(decision: Decision) -> FhirError:
    """A policy refusal as GP Connect words it: dissent is NO_PATIENT_CONSENT, the rest ACCESS_DENIED."""
    if "dissent" in decision.flags:
        return gpc_error("NO_PATIENT_CONSENT", f"Access denied: {decision.reason}")
    return gpc_error("ACCESS_DENIED", f"Access denied: {decision.reason}")


@fhir_endpoint
async def get_structured_record(request: Request) -> Response:
    api = api_of(request)
    interaction = request.headers.get("ssp-interactionid")
    if interaction is not None and interaction != INTERACTION_ID:
        raise gpc_error("BAD_REQUEST", f"Ssp-InteractionID must be {INTERACTION_ID}")
    context = spine_context(request)
    # One audit record per request, naming the patient: the record access writes it once the
    # NHS number has found them (a failure before that is recorded by ``audit_failure``)
    context.audit_deferred = True
    decision = authorize(context, "operation", "Patient", operation="gpc.getstructuredrecord")
    if not decision.allowed:
        raise refusal(decision)
    access = PolicyRecordAccess(context, operation="gpc.getstructuredrecord", refuse=refusal)
    with audit_failure(context, "operation:gpc.getstructuredrecord", "Patient"):
        raw = await body.read_bytes(request, api.settings.max_body_bytes)
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise gpc_error("INVALID_RESOURCE", "The request body is not valid JSON") from None
        bundle = await api.call(
            structured_record_json, api.store, document, access=access, base_url=base_url(request, api.settings)
        )
    headers = {"Ssp-TraceID": context.correlation_id} if context.correlation_id and ssp_headers(request) else None
    return json_response(request, bundle, headers=headers)
