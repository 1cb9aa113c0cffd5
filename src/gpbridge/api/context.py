"""What a route needs besides the request: settings, the store and how to call it, the base URL
and the security context. Built once per app; routes reach it through ``request.app.state.api``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from gpbridge.api.auth import principal_for_gpconnect, principal_from_request
from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.audit import AuditRecord, AuditSink, NullAuditSink
from gpbridge.security.facts import PatientDirectory
from gpbridge.security.policy import RequestContext, authorize
from gpbridge.security.principal import Principal
from gpbridge.security.tokens import unauthorized
from gpbridge.store.base import Store
from gpbridge.store.interactions import check_type

T = TypeVar("T")

FHIR_PREFIX = "/fhir"
#: scope key: the Bundle request's security context, which each of its GET entries' gate starts
#: from (``api.bundle_reads``): the caller was authenticated once, for the Bundle
BUNDLE_CONTEXT = "gpbridge.bundle_context"


@dataclass(slots=True)
class Api:
    settings: Settings
    store: Store
    audit: AuditSink = field(default_factory=NullAuditSink)
    # Call the store on the event loop (``store_calls_inline``): a thread hop costs more than it saves.
    inline: bool = False
    cache: dict[str, Any] = field(default_factory=dict)  # e.g. the CapabilityStatement bytes

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call: inline for stores that allow it, else in the thread pool."""
        if self.inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)


def store_calls_inline(settings: Settings, store: Any) -> bool:
    """Whether request handlers call ``store`` on the event loop (``GPBRIDGE_STORE_CALLS``)."""
    mode = settings.store_calls.strip().lower()
    if mode == "auto":
        return bool(getattr(store, "blocking_ok", False))
    if mode in ("inline", "threads"):
        return mode == "inline"
    raise ValueError(f"GPBRIDGE_STORE_CALLS must be auto, inline or threads, not {settings.store_calls!r}")


def api_of(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


def base_url(request: Request, settings: Settings) -> str:
    """The FHIR base (``.../fhir``) for Location headers and Bundle links, without a trailing slash."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    # Built from the scope directly: request.base_url re-parses the whole URL on every call.
    # X-Forwarded-* are trusted only once a setting says so (security issue).
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    root = scope.get("root_path", "").rstrip("/")
    return f"{scope.get('scheme', 'http')}://{host}{root}{FHIR_PREFIX}"


def request_context(request: Request, api: Api, *, gpconnect: bool = False) -> RequestContext:
    """The caller and request ids for the policy. ``gpconnect``: the GP Connect operation, where a
    consumer JWT is accepted instead of an access token — only from a configured trusted proxy."""
    bundle = request.scope.get(BUNDLE_CONTEXT)
    if bundle is not None:  # a Bundle's GET entry: its own gate decides afresh
        return replace(bundle, audit_deferred=False, hidden_count=None, gate_decision=None)
    headers = request.headers
    client = request.client
    try:
        principal = _gpconnect_principal(request, api) if gpconnect else None
        if principal is None:
            principal = principal_from_request(request, api.settings)
    except FhirError as exc:  # a bad token is a denial: the audit must see it
        _audit_bad_token(request, api, exc)
        raise
    return RequestContext(
        settings=api.settings,
        principal=principal,
        purpose_of_use=headers.get("x-purpose-of-use"),
        request_id=headers.get("x-request-id"),
        correlation_id=headers.get("x-correlation-id") or headers.get("ssp-traceid"),
        audit=api.audit,
        # Per request: reads patient facts only when a decision needs them, and caches them.
        patients=None if api.settings.insecure_dev else PatientDirectory(api.store),
        break_glass=headers.get(BREAK_GLASS_HEADER) or None,
        source_ip=client.host if client else None,
    )


def _gpconnect_principal(request: Request, api: Api) -> Principal | None:
    trusted = tuple(p.strip() for p in api.settings.gpconnect_trusted_proxies.split(",") if p.strip())
    client = request.client
    if not trusted or client is None or client.host not in trusted:
        return None  # not from the proxy: an ordinary access token is needed
    return principal_for_gpconnect(request, api.settings, trusted)


def _audit_bad_token(request: Request, api: Api, error: FhirError) -> None:
    if api.audit.enabled:
        reason = error.outcome()["issue"][0].get("diagnostics", "invalid token")
        api.audit.record(
            AuditRecord(
                interaction="login",
                resource_type=None,
                resource_id=None,
                allowed=False,
                reason=reason,
                source_ip=request.client.host if request.client else None,
                request_id=request.headers.get("x-request-id"),
                detail=f"{request.method} {request.url.path}",
            )
        )


# The stated reason for a break-glass access; its presence is what invokes break-glass.
BREAK_GLASS_HEADER = "x-break-glass-reason"


def gate(
    request: Request,
    interaction: str,
    resource_type: str | None = None,
    resource_id: str | None = None,
    *,
    audit_later: bool = False,
) -> tuple[Api, RequestContext]:
    """What every route calls before the store: type check, then the security decision.

    ``audit_later``: the route passes its result through ``security.filtering``, which records
    the access (with the patient) instead of the gate.
    """
    api = api_of(request)
    if resource_type is not None:
        check_type(resource_type)
    context = request_context(request, api)
    context.audit_deferred = audit_later
    decision = context.gate_decision = authorize(context, interaction, resource_type, resource_id)
    if not decision.allowed and context.principal is None:
        raise unauthorized("Authentication required: send Authorization: Bearer <access token>")
    decision.enforce()
    return api, context


def in_session(store: Store, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one interaction in its own write session (used through ``Api.call``)."""
    with store.session() as session:
        return fn(session, *args, **kwargs)
