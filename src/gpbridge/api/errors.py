"""Every failure becomes an OperationOutcome with the right status.

Routes are wrapped by ``fhir_endpoint`` (a try/except, cheaper than a middleware layer);
Starlette's own 404/405 (unknown route, wrong method) and anything that escapes are handled by the
app-level handlers below. Unexpected exceptions are logged in full and answered with a 500 that
reveals nothing of the internals.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gpbridge.api.responses import outcome_response
from gpbridge.fhir.outcome import FhirError

log = logging.getLogger("gpbridge.api")

Endpoint = Callable[[Request], Awaitable[Response]]

_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-long", 415: "not-supported"}


def fhir_endpoint(fn: Endpoint) -> Endpoint:
    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except FhirError as exc:
            return outcome_response(request, exc)
        except Exception:
            return internal_error(request)

    return endpoint


def internal_error(request: Request) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    error = FhirError.of(500, "exception", "Internal server error")
    return outcome_response(request, error)


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        message = f"No FHIR endpoint at {request.url.path}"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = exc.detail or f"HTTP {status}"
    error = FhirError.of(status, _HTTP_CODES.get(status, "processing"), message)
    error.headers.update(exc.headers or {})
    return outcome_response(request, error)


async def fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return outcome_response(request, exc)


async def unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return outcome_response(request, FhirError.of(500, "exception", "Internal server error"))
