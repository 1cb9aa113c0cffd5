"""The PDS-compatible demographics API, mounted at ``/personal-demographics/FHIR/R4``.

Thin routes over ``identity.pds_search`` / ``identity.pds_render``: check the PDS headers
(``X-Request-ID`` is mandatory and a UUID; it and ``X-Correlation-ID`` are echoed on every
response and carried into the audit record), apply the rate limit, ask ``security.policy``, read
the store, and answer in PDS's shapes — errors as the Spine OperationOutcomes PDS sends.

Mount with ``pds_app(api_or_settings, store)``; it returns a Starlette ``Mount`` to add to the
app's routes.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from gpbridge.api.context import Api, request_context, store_calls_inline
from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.identity.nhs_number import is_valid_nhs_number
from gpbridge.identity.pds_errors import PdsError, invalid_value
from gpbridge.identity.pds_render import is_restricted, ods_code_of, render_patient, security_code
from gpbridge.identity.pds_search import CANDIDATE_CAP, parse_query, people, search
from gpbridge.records.patient_record import find_patients
from gpbridge.search.parse import parse_search
from gpbridge.security.audit import AuditSink, NullAuditSink
from gpbridge.security.policy import RequestContext, authorize
from gpbridge.store.base import Store

log = logging.getLogger("gpbridge.api.pds")

PDS_PREFIX = "/personal-demographics/FHIR/R4"
FHIR_JSON = "application/fhir+json"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class RateLimiter:
    """A token bucket shared by the PDS routes: ``rate`` requests per second on average, bursts of
    up to ``rate`` (at least one) requests; ``rate`` 0 switches it off."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        if self.rate <= 0:
            return True
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class PdsService:
    """What the routes share: the main API's context (settings, store, audit, call policy) and the
    rate limit."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.settings = api.settings
        self.store = api.store
        self.limiter = RateLimiter(api.settings.pds_rate_limit)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.api.call(fn, *args)

    def context(self, request: Request) -> RequestContext:
        """The same request context (authenticated principal, ids for audit) as every other route."""
        try:
            return request_context(request, self.api)
        except FhirError as exc:  # bad credentials: PDS answers ACCESS_DENIED
            raise PdsError("ACCESS_DENIED", exc.message, status=exc.status) from None

    # -- store reads (blocking) -----------------------------------------------------------------

    def patients_with_number(self, nhs_number: str) -> list[dict[str, Any]]:
        # source records and the person linkage made of them (see records.patient_record)
        return find_patients(self.store, nhs_number)

    def candidates(self, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        query = parse_search("Patient", [*params, ("_count", str(CANDIDATE_CAP + 1))], max_count=CANDIDATE_CAP + 1)
        query.total = "none"
        found = [orjson.loads(s.content) for s in self.store.search(query).matches if s.content]
        if len(found) > CANDIDATE_CAP:
            raise PdsError("TOO_MANY_MATCHES")
        return found

    def gp_code(self, patient: dict[str, Any]) -> str | None:
        cache: dict[str, str | None] = {}

        def read(org_id: str) -> dict[str, Any] | None:
            try:
                stored = self.store.read("Organization", org_id)
            except Exception:  # unknown or deleted organisation: no ODS code to show
                return None
            return orjson.loads(stored.content) if stored.content else None

        for ref in patient.get("generalPractitioner") or ():
            if not isinstance(ref, dict):
                continue
            ident = ref.get("identifier") or {}
            if ident.get("value"):
                return str(ident["value"])
            reference = str(ref.get("reference", ""))
            if reference.startswith("Organization/"):
                if reference not in cache:
                    cache[reference] = ods_code_of(ref, read)
                if cache[reference]:
                    return cache[reference]
        return None


def pds_app(api_or_settings: Api | Settings, store: Store | None = None, *, audit: AuditSink | None = None) -> Mount:
    """The PDS API as a ``Mount`` at ``/personal-demographics/FHIR/R4``.

    Pass the main app's ``api.context.Api`` (its store, audit sink and call policy are used), or
    ``Settings`` plus a ``store`` (and optionally an ``audit`` sink) for a stand-alone app.
    """
    if isinstance(api_or_settings, Settings):
        if store is None:
            raise ValueError("pds_app(settings, store): a store is needed")
        api = Api(settings=api_or_settings, store=store, audit=audit or NullAuditSink(),
                  inline=store_calls_inline(api_or_settings, store))
    else:
        api = api_or_settings
    service = PdsService(api)
    return Mount(PDS_PREFIX, routes=[
        Route("/Patient", _endpoint(service, get_search), methods=["GET"]),
        Route("/Patient/{id}", _endpoint(service, get_patient), methods=["GET"]),
    ])


Handler = Callable[[PdsService, Request], Awaitable[Response]]


def _endpoint(service: PdsService, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            _check_headers(request)
            if not service.limiter.allow():
                raise PdsError("TOO_MANY_REQUESTS", "You have exceeded your application's rate limit")
            response = await handler(service, request)
        except PdsError as exc:
            response = _json(exc.outcome(), exc.http_status)
        except Exception:
            log.exception("PDS %s %s failed", request.method, request.url.path)
            response = _json({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "exception", "diagnostics": "Internal server error"}]}, 500)
        for header in ("X-Request-ID", "X-Correlation-ID"):
            value = request.headers.get(header)
            if value is not None:
                response.headers[header] = value
        return response

    return endpoint


def _check_headers(request: Request) -> None:
    request_id = request.headers.get("x-request-id")
    if request_id is None:
        raise PdsError("MISSING_VALUE", "Invalid request with error - X-Request-ID header must be supplied to access this resource")
    if not _UUID.match(request_id):
        raise invalid_value(request_id, "X-Request-ID", "header")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=FHIR_JSON)


def _authorize(service: PdsService, request: Request, interaction: str, resource_id: str | None) -> None:
    # As on PDS, a demographic lookup needs the right role, not a legitimate relationship with
    # the patient: no ``patient=`` here. Every lookup is audited with the number asked for.
    context = service.context(request)
    decision = authorize(context, interaction, "Patient", resource_id)
    if not decision.allowed:
        status = 401 if context.principal is None else 403  # PDS: 401 no/invalid token, 403 not allowed
        raise PdsError("ACCESS_DENIED", f"Access denied: {decision.reason}", status=status)


async def get_patient(service: PdsService, request: Request) -> Response:
    nhs_number = request.path_params["id"]
    if not is_valid_nhs_number(nhs_number) or " " in nhs_number:
        raise PdsError("INVALID_RESOURCE_ID")
    _authorize(service, request, "read", nhs_number)
    found = await service.call(service.patients_with_number, nhs_number)
    if not found:
        raise PdsError("RESOURCE_NOT_FOUND")
    chosen = people(found, nhs_number).get(nhs_number)
    if chosen is None:
        if any(security_code(p) == "REDACTED" for p in found):
            raise PdsError("INVALIDATED_RESOURCE")
        raise PdsError("RESOURCE_NOT_FOUND")
    gp = None if is_restricted(chosen) else await service.call(service.gp_code, chosen)
    body = render_patient(chosen, nhs_number, lambda ref: gp)
    return _json(body, headers={"ETag": f'W/"{body["meta"]["versionId"]}"'})


async def get_search(service: PdsService, request: Request) -> Response:
    query = parse_query(request.query_params.multi_items())
    _authorize(service, request, "search", None)
    candidates = await service.call(service.candidates, query.store_params())
    base = str(request.base_url).rstrip("/")
    gp_cache: dict[int, str | None] = {}

    def gp_code_of(patient: dict[str, Any]) -> str | None:
        key = id(patient)
        if key not in gp_cache:
            gp_cache[key] = service.gp_code(patient)
        return gp_cache[key]

    try:
        bundle = await service.call(search, query, candidates, base, gp_code_of)
    except PdsError as exc:
        if exc.code == "TOO_MANY_MATCHES":  # PDS answers this one with 200
            return _json(exc.outcome(), 200)
        raise
    return _json(bundle)
