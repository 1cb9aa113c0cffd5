"""``$summary``: the patient's IPS-style summary document, reconciled across every linked source.

    GET [base]/Patient/[id]/$summary

``id`` may be a source Patient or the person's golden Patient: either way the summary covers
every source linkage has joined. The document logic is ``records.summary``.
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
from gpbridge.security.policy import authorize
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
    authorize(context, "operation", "Patient", id_, patient=reference, operation="summary").enforce()
    patient = await api.call(read_resource, api.store, reference)
    if patient is None:
        raise not_found(f"{reference} is not known")
    bundle = await api.call(summary_bundle, api.store, patient, base_url=base_url(request, api.settings))
    return json_response(request, bundle)
