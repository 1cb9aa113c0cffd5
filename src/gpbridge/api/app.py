"""The ASGI app: ``create_app(settings, store)`` wires routes to the FHIR base ``/fhir``.

Routing knows nothing of storage: route modules call the security gate and ``store.interactions``;
the app only owns the store's lifetime when it opened the store itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from gpbridge.api import audit, errors, ingest, oauth
from gpbridge.api import identity as identity_api
from gpbridge.api.context import FHIR_PREFIX, Api, store_calls_inline
from gpbridge.api.errors import Endpoint
from gpbridge.api.operations import gpconnect, summary, terminology
from gpbridge.api.operations import validate as validate_op
from gpbridge.api.pds import pds_app
from gpbridge.api.routes import history, instance, metadata, system
from gpbridge.api.routes import type as type_routes
from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.search import paging
from gpbridge.security import oidc
from gpbridge.security.audit import AuditSink
from gpbridge.security.audit_chain import open_audit_sink
from gpbridge.security.keys import key_dir
from gpbridge.security.shared_state import can_share, share_sign_in_state
from gpbridge.security.transport import RateLimit, SecurityHeaders
from gpbridge.store import open_store
from gpbridge.store.base import Store
from gpbridge.terminology.service import use_for_validation
from gpbridge.web import web_app
from gpbridge.web.csp import web_policy

log = logging.getLogger("gpbridge.api")


class _TypeSegment(Convertor[str]):
    """A resource-type path segment: capitalised, so ``metadata`` or ``_history`` never match."""

    regex = "[A-Z][A-Za-z]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _IdSegment(_TypeSegment):
    """An id segment: anything but ``_history``/``_search``/``$op``; bad ids still reach the route
    and get a 400 that names the problem."""

    regex = "[^/_$][^/]*"


register_url_convertor("fhirtype", _TypeSegment())
register_url_convertor("fhirid", _IdSegment())


def by_method(**handlers: Endpoint) -> tuple[Endpoint, list[str]]:
    """One route per path, dispatching on the method: fewer routes for the router to scan."""
    table = {method.upper(): handler for method, handler in handlers.items()}

    async def dispatch(request: Request) -> Response:
        return await table[request.method if request.method != "HEAD" else "GET"](request)

    dispatch.handlers = table  # type: ignore[attr-defined]  # for api.bundle_reads
    return dispatch, list(table)


def _route(path: str, **handlers: Endpoint) -> Route:
    endpoint, methods = by_method(**handlers)
    return Route(path, endpoint, methods=methods)


def routes(prefix: str = FHIR_PREFIX) -> list[Route]:
    # Typed segments make the patterns disjoint, so the hot routes (instance and type level)
    # can come first and order never changes which route a URL reaches.
    p = prefix
    type_, id_ = "{type:fhirtype}", "{id:fhirid}"
    return [
        *audit.routes(p),  # before the generic type routes: the audit is not in the store
        _route(
            f"{p}/{type_}/{id_}",
            get=instance.read,
            put=instance.update,
            patch=instance.patch,
            delete=instance.delete,
        ),
        _route(
            f"{p}/{type_}",
            get=type_routes.search_get,
            post=type_routes.create,
            put=type_routes.conditional_update,
            patch=type_routes.conditional_patch,
            delete=type_routes.conditional_delete,
        ),
        _route(f"{p}", get=system.search_get, post=system.bundle),
        _route(f"{p}/", get=system.search_get, post=system.bundle),
        _route(f"{p}/{type_}/_search", get=type_routes.search_get, post=type_routes.search_post),
        _route(f"{p}/{type_}/{id_}/_history/{{vid}}", get=instance.vread),
        _route(f"{p}/{type_}/{id_}/_history", get=history.instance_history),
        _route(f"{p}/{type_}/_history", get=history.type_history),
        _route(f"{p}/_history", get=history.system_history),
        _route(f"{p}/_search", post=system.search_post),
        _route(f"{p}/metadata", get=metadata.metadata),
        *terminology.routes(p),
        *validate_op.routes(p),
        *identity_api.routes(p),
        *gpconnect.routes(p),
        *summary.routes(p),
        Route("/ingest/gp2gp", ingest.ingest_gp2gp, methods=["POST"]),
    ]


def create_app(
    settings: Settings, store: Store | None = None, *, audit: AuditSink | None = None
) -> Starlette:
    """The FHIR REST API. Opens ``settings.database`` when no store is given, and then closes it
    on shutdown; a store passed in belongs to the caller."""
    owned = store is None
    if store is None:
        store = open_store(settings.database, settings)
    # next/previous links seal their position with the server's key, which every worker shares
    paging.use_key_file(key_dir(settings) / "page-cursor.key")
    use_for_validation(store)
    if audit is None:
        audit = open_audit_sink(settings, store)
    api = Api(
        settings=settings,
        store=store,
        audit=audit,
        inline=store_calls_inline(settings, store),
    )

    # Several workers (or servers on one PostgreSQL): a login may end on another process than it
    # started on, so pending logins, codes and replay marks live in the database they share
    # (switched on while the app runs: from lifespan start to its end).
    # Signed-out web sessions are kept there whenever the store can.
    shared = settings.workers > 1 or getattr(store, "dialect", "") == "postgresql"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.insecure_dev:
            log.warning("insecure_dev is on: the security policy allows every request")
        if settings.oidc_issuer and not settings.oidc_jwks:
            problem = await run_in_threadpool(oidc.prefetch, settings)
            if problem:
                log.warning("external identity provider not ready (logins will retry): %s", problem)
        unshare = share_sign_in_state(api.store, everything=shared) if can_share(api.store) else None
        try:
            yield
        finally:
            close = getattr(api.audit, "close", None)
            if close is not None:
                close()  # flushes buffered audit events before the store goes
            if unshare is not None:
                unshare()
            if owned:
                api.store.close()

    app = Starlette(
        routes=[*routes(), *oauth.routes(), pds_app(api), Mount("/web", app=web_app())],
        exception_handlers={
            HTTPException: errors.http_exception,
            FhirError: errors.fhir_error,
            Exception: errors.unexpected,
        },
        lifespan=lifespan,
    )
    app.state.api = api
    if settings.rate_limit_per_minute > 0:
        app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    # added last, so it wraps 429s too
    app.add_middleware(SecurityHeaders, policies={"/web": web_policy()})
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` workers: every setting comes from GPBRIDGE_* variables."""
    app = create_app(Settings.from_env())
    tune_gc()
    return app


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server or a bulk import.

    Every request allocates thousands of short-lived dicts; with the default thresholds the
    cyclic collector runs constantly and each full pass walks the large, permanent heap of compiled
    definitions and caches (measured: orjson parsing 3x slower in a loaded server). Freezing moves
    what exists at start-up out of the collector's sight; higher thresholds collect less often.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1_000)
