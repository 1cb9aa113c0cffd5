"""``$summary``: the patient's IPS-style summary document, reconciled across every linked source.

    GET [base]/Patient/[id]/$summary

``id`` may be a source Patient or the person's golden Patient: either way the summary covers
every source linkage has joined. The document logic is ``records.summary``; what the caller may
see of it is the policy's (``security.record_access``): a caller who may not search one of the
summary's types gets 403, not a summary with that section missing — except a proxy whose access
level leaves a type out: their summary has that section present and marked withheld (and a proxy
whose level includes none of the summary's types gets 403). Patients and proxies may call this
operation (``rules.PATIENT_FACING_OPERATIONS``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gpbridge.api.context import FHIR_PREFIX, api_of, base_url, request_context
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.fhir.outcome import not_found
from gpbridge.records.patient_record import read_resource
from gpbridge.records.summary import summary_bundle
from gpbridge.security.filtering import audit_failure
from gpbridge.security.policy import authorize
from gpbridge.security.record_access import PolicyRecordAccess
from gpbridge.store.interactions import check_id

OPERATION: dict[str, Any] = {
    "name": "summary",
    "definition": "http://hl7.org/fhir/uv/ips/OperationDefinition/summary",
    "types": ["Patient"],
    "system": False,
}


def routes(prefix: str = FHIR_PREFIX) -> list[Route]:
    return [Route(f"{prefix}/Patient/{{id}}/$summary", patient_summary, methods=["GET"])]


@fhir_endpoint
async def patient_summary(request: Request) -> Response:
    id_ = check_id(request.path_params["id"])
    api = api_of(request)
    reference = f"Patient/{id_}"
    context = request_context(request, api)
    # One audit record per request: the record access writes it, once it has decided every type
    context.audit_deferred = True
    authorize(context, "operation", "Patient", id_, patient=reference, operation="summary").enforce()
    with audit_failure(context, "operation:summary", "Patient", id_):
        patient = await api.call(read_resource, api.store, reference)
        if patient is None:
            raise not_found(f"{reference} is not known")
    access = PolicyRecordAccess(context, operation="summary")
    bundle = await api.call(summary_bundle, api.store, patient, access=access, base_url=base_url(request, api.settings))
    return json_response(request, bundle)
