"""FHIR JSON responses: orjson bytes as ``application/fhir+json`` (or ``application/json`` when
that is what the client asked for), with the version headers FHIR clients rely on.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gpbridge.fhir.outcome import FhirError, Issue, information, operation_outcome
from gpbridge.store.base import StoredResource

FHIR_JSON = "application/fhir+json; charset=utf-8"
PLAIN_JSON = "application/json; charset=utf-8"

_FORMATS = {
    "json": FHIR_JSON,
    "application/json": PLAIN_JSON,
    "application/fhir+json": FHIR_JSON,
    "application/json+fhir": FHIR_JSON,  # DSTU2 name, still sent by some clients
}


def media_type(request: Request) -> str:
    """Negotiate the response type from ``_format`` or ``Accept``; JSON only (406 for XML/Turtle)."""
    fmt = request.query_params.get("_format") if request.scope.get("query_string") else None
    if fmt:
        chosen = _FORMATS.get(fmt.split(";")[0].strip())
        if chosen is None:
            raise FhirError.of(
                406, "not-supported", f"_format={fmt} is not supported: this server speaks JSON"
            )
        return chosen
    accept = request.headers.get("accept")
    if not accept or "fhir+json" in accept or "*/*" in accept or "application/*" in accept:
        return FHIR_JSON
    if "application/json" in accept:
        return PLAIN_JSON
    if "json" in accept:
        return FHIR_JSON
    raise FhirError.of(406, "not-supported", f"Cannot produce {accept}: this server speaks FHIR JSON")


def json_response(
    request: Request, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, headers=headers, media_type=media_type(request))


def version_headers(stored: StoredResource, base: str, *, location: bool) -> dict[str, str]:
    from gpbridge.api.headers import http_date

    headers = {"ETag": stored.etag, "Last-Modified": http_date(stored.last_updated)}
    if location:
        headers["Location"] = f"{base}/{stored.type}/{stored.id}/_history/{stored.version}"
    return headers


def resource_response(
    request: Request,
    stored: StoredResource,
    base: str,
    *,
    status: int = 200,
    location: bool = False,
    prefer: str = "representation",
    body: Any = None,
    issues: list[Issue] | None = None,
) -> Response:
    """A resource (or, per ``Prefer: return=``, nothing or an OperationOutcome) with its headers.

    ``body`` overrides the stored bytes (e.g. a subsetted resource); otherwise the stored JSON is
    sent as is, never re-serialised. ``issues`` (warnings from lenient validation) come back as an
    OperationOutcome when the client asked for one, and in place of an empty body for ``minimal``.
    """
    headers = version_headers(stored, base, location=location)
    if prefer == "minimal" and not issues:
        return Response(status_code=status, headers=headers)
    if prefer in ("OperationOutcome", "minimal"):
        outcome = operation_outcome(
            [information("informational", f"{stored.reference} version {stored.version}"), *(issues or [])]
        )
        return json_response(request, outcome, status, headers)
    return json_response(request, body if body is not None else stored.content or b"{}", status, headers)


def outcome_response(request: Request | None, error: FhirError) -> Response:
    content = orjson.dumps(error.outcome())
    media = FHIR_JSON
    if request is not None:
        try:
            media = media_type(request)
        except FhirError:
            pass  # the error itself may be the 406: answer in FHIR JSON regardless
    return Response(content, status_code=error.status, headers=error.headers or None, media_type=media)
