"""GET and HEAD entries of a transaction or batch Bundle, answered by the API's own routes.

An entry ``GET Observation?_id=x&_include=Observation:subject`` is the request
``GET [base]/Observation?_id=x&_include=…`` made by the Bundle's caller: the same route handles it,
behind the same ``gate`` (``security.policy``), with the same filtering and audit, the same result
parameters (``_include``, ``_revinclude``, ``_elements``, ``_summary``, paging links on the server
base, the OperationOutcome for unknown parameters, ``Prefer: handling=strict`` from the Bundle
request), and the same errors, which become the entry's status (a batch) or fail the Bundle (a
transaction). ``metadata``, history, vread and ``$operations`` via GET work as they do standalone.

Inside a transaction the route reads through the Bundle's open session (``_SessionReads``), so it
sees the Bundle's own writes. The route's coroutine is run to completion on the spot: with the
store called inline and no body to read, a GET handler never waits on anything.
"""

from __future__ import annotations

from collections.abc import Coroutine
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from gpbridge.api import headers
from gpbridge.api.context import BUNDLE_CONTEXT, FHIR_PREFIX, Api
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.policy import RequestContext
from gpbridge.store import interactions as ops
from gpbridge.store.base import SearchResult, StoredResource, StoreSession
from gpbridge.store.transaction import ReadEntry, status_line

# Bundle request headers an entry does not inherit: they describe the Bundle POST itself (Prefer
# is passed on for ``handling`` only; an entry's conditional headers come from ``entry.request``).
_NOT_INHERITED = frozenset(
    {b"content-type", b"content-length", b"transfer-encoding", b"prefer", b"if-none-match",
     b"if-match", b"if-modified-since", b"if-none-exist"}
)  # fmt: skip


def entry_reader(request: Request, api: Api, context: RequestContext) -> ReadEntry:
    """The ``process_bundle(read_entry=…)`` that answers each GET entry as ``request``'s caller."""
    routes = [r for r in request.app.router.routes if isinstance(r, Route)]
    outer = request.scope
    inherited = [(k, v) for k, v in outer.get("headers", []) if k.lower() not in _NOT_INHERITED]
    handling = headers.prefer(request).get("handling")
    if handling:
        inherited.append((b"prefer", f"handling={handling}".encode("latin-1")))
    root = outer.get("root_path", "").rstrip("/")

    def read_entry(session: StoreSession | None, method: str, url: str, if_none_match: str | None) -> dict[str, Any]:
        path, _, query = url.partition("?")
        entry_headers = list(inherited)
        if if_none_match is not None:
            entry_headers.append((b"if-none-match", if_none_match.encode("latin-1")))
        store: Any = api.store if session is None else _SessionReads(api.store, session)
        entry_api = Api(settings=api.settings, store=store, audit=api.audit, inline=True, cache=api.cache)
        scope: dict[str, Any] = {
            "type": "http",
            "http_version": outer.get("http_version", "1.1"),
            "method": "GET",
            "scheme": outer.get("scheme", "http"),
            "server": outer.get("server"),
            "client": outer.get("client"),
            "root_path": outer.get("root_path", ""),
            "path": f"{root}{FHIR_PREFIX}/{path}" if path else f"{root}{FHIR_PREFIX}",
            "query_string": query.encode("latin-1", "replace"),
            "headers": entry_headers,
            "app": SimpleNamespace(state=SimpleNamespace(api=entry_api)),
            BUNDLE_CONTEXT: context,
        }
        handler = _handler(routes, scope)
        response = _run(handler(Request(scope)))
        return _entry(response, method)

    return read_entry


def _handler(routes: list[Route], scope: dict[str, Any]) -> Any:
    """The GET handler the app would route ``scope`` to, without its error wrapper: an error
    must reach ``process_bundle`` as the FhirError it is (an entry status, or the Bundle's failure)."""
    partial = False
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.NONE:
            continue
        if match == Match.PARTIAL:
            partial = True
            continue
        scope.update(child)
        endpoint = route.endpoint
        table = getattr(endpoint, "handlers", None)  # api.app.by_method
        if table is not None:
            endpoint = table["GET"]
        return getattr(endpoint, "__wrapped__", endpoint)  # api.errors.fhir_endpoint
    path = scope["path"]
    if partial:
        raise FhirError.of(405, "not-supported", f"GET is not allowed on {path}")
    raise FhirError.of(404, "not-found", f"No FHIR endpoint at {path}")


def _run(coroutine: Coroutine[Any, Any, Response]) -> Response:
    """Run a GET handler's coroutine to its end here (it never suspends: see the module docstring)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        response: Response = done.value
        return response
    coroutine.close()
    raise RuntimeError("a GET handler suspended inside a Bundle entry")


def _entry(response: Response, method: str) -> dict[str, Any]:
    status = response.status_code
    body = bytes(response.body) if response.body else b""
    if status >= 400:  # handlers raise their errors; this is only a safety net
        raise FhirError.of(status, "processing", body.decode("utf-8", "replace") or f"HTTP {status}")
    answer: dict[str, Any] = {"status": status_line(status)}
    for header, key in (("location", "location"), ("etag", "etag")):
        value = response.headers.get(header)
        if value:
            answer[key] = value
    modified = response.headers.get("last-modified")
    if modified:
        answer["lastModified"] = parsedate_to_datetime(modified).isoformat()
    out: dict[str, Any] = {}
    if method == "GET" and body and status != 304:
        out["resource"] = orjson.Fragment(body)
    out["response"] = answer
    return out


class _SessionReads:
    """The store as a transaction's GET entries see it: through the Bundle's session, so reads,
    searches and history include the Bundle's own writes. Anything else comes from the store."""

    def __init__(self, store: Any, session: StoreSession) -> None:
        self._store = store
        self._session = session

    def read(self, type_: str, id_: str) -> StoredResource:
        return ops.read(self._session, type_, id_)

    def vread(self, type_: str, id_: str, version: int) -> StoredResource:
        return self._session.vread(type_, id_, version)

    def search(self, query: Any) -> SearchResult:
        return self._session.search(query)

    def history(self, *args: Any, **kwargs: Any) -> tuple[list[StoredResource], int]:
        return self._session.versions(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
