"""What a route needs besides the request: settings, the store and how to call it, the base URL
and the security context. Built once per app; routes reach it through ``request.app.state.api``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from gpbridge.config import Settings
from gpbridge.security.audit import AuditSink, NullAuditSink
from gpbridge.security.policy import RequestContext, authorize
from gpbridge.store.base import Store
from gpbridge.store.interactions import check_type

T = TypeVar("T")

FHIR_PREFIX = "/fhir"


@dataclass(slots=True)
class Api:
    settings: Settings
    store: Store
    audit: AuditSink = field(default_factory=NullAuditSink)
    # SQLite calls are sub-millisecond: a thread hop would cost more than it saves.
    inline: bool = False
    cache: dict[str, Any] = field(default_factory=dict)  # e.g. the CapabilityStatement bytes

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call: inline for stores that allow it, else in the thread pool."""
        if self.inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)


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


def request_context(request: Request, api: Api) -> RequestContext:
    headers = request.headers
    return RequestContext(
        settings=api.settings,
        principal=None,  # authentication is a later issue
        purpose_of_use=None,
        request_id=headers.get("x-request-id"),
        correlation_id=headers.get("x-correlation-id"),
        audit=api.audit,
    )


def gate(
    request: Request,
    interaction: str,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> tuple[Api, RequestContext]:
    """What every route calls before the store: type check, then the security decision."""
    api = api_of(request)
    if resource_type is not None:
        check_type(resource_type)
    context = request_context(request, api)
    authorize(context, interaction, resource_type, resource_id).enforce()
    return api, context


def in_session(store: Store, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one interaction in its own write session (used through ``Api.call``)."""
    with store.session() as session:
        return fn(session, *args, **kwargs)
