"""Ingest endpoints: source formats in, through the security gate and the adapters' pipeline.

``POST /ingest/gp2gp`` takes an RCMR_IN030000UK06 EHR Extract (``application/xml``) and answers
with an OperationOutcome: 201 when imported (``Location`` is the import's Provenance), 200 when
the same extract was already imported, 4xx with the reason and the quarantine id when it could
not be imported (the extract is kept in the quarantine queue). The lead wires the route:
``Route("/ingest/gp2gp", ingest.ingest_gp2gp, methods=["POST"])``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gpbridge.adapters.common.pipeline import ImportResult
from gpbridge.adapters.gp2gp.importer import import_gp2gp
from gpbridge.api import body
from gpbridge.api.context import api_of, request_context
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response
from gpbridge.fhir.outcome import FhirError, information, operation_outcome, warning
from gpbridge.security.policy import authorize

XML_TYPES = ("application/xml", "text/xml", "application/hl7-v3+xml")


@fhir_endpoint
async def ingest_gp2gp(request: Request) -> Response:
    api = api_of(request)
    context = request_context(request, api)
    authorize(context, "operation", None, operation="ingest-gp2gp").enforce()
    body.require_content_type(request, *XML_TYPES)
    raw = await body.read_bytes(request, api.settings.max_body_bytes)
    source = request.headers.get("x-source-name") or "POST /ingest/gp2gp"
    result = await api.call(import_gp2gp, api.store, api.settings, raw, source)
    return result_response(request, result)


def result_response(request: Request, result: ImportResult) -> Response:
    if result.status == "quarantined":
        assert result.error is not None
        issues = [result.error.issue(),
                  information("informational", f"kept in quarantine as {result.quarantine_id}")]
        raise FhirError(result.error.status if result.error.status < 500 else 422, issues)
    issues = [information("informational", f"{result.adapter} message {result.message_id}: {result.status}")]
    for type_, n in sorted(result.created.items()):
        issues.append(information("informational", f"created {n} {type_}"))
    for type_, n in sorted(result.matched.items()):
        issues.append(information("informational", f"matched {n} existing {type_}"))
    if result.unmapped:
        distinct = sorted({f"{u.system}|{u.code}" for u in result.unmapped})
        issues.append(warning("code-invalid", f"{len(distinct)} code(s) kept without a SNOMED CT map: "
                              + ", ".join(distinct[:20]) + (" ..." if len(distinct) > 20 else "")))
    status = 201 if result.status == "imported" else 200
    headers = {"Location": result.provenance} if result.provenance else None
    return json_response(request, operation_outcome(issues), status, headers)


__all__ = ["ingest_gp2gp"]
