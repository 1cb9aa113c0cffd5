"""``bench/search.py --profile``: where one search request's time goes, in process, per query shape.

The ASGI app (``create_app``) is called directly — no sockets, no HTTP parsing — with the sampled
requests one at a time, and the steps of ``api.routes.type.run_search`` are timed by wrapping them:

  gate      type check + security decision           parse   ``parse_search``
  sql       time inside the database driver (execute + fetch, every statement of the search)
  search-py the rest of ``store.search`` (SQL building, row -> StoredResource, _include bookkeeping)
  bundle    ``searchset`` (the Bundle dict)          json    ``json_response`` (orjson + Response)
  other     routing, Starlette request/response, error wrappers: whole request minus the above

Then each store's mixed workload under cProfile, top functions by own time. The gap between
``total`` here and the server's unloaded latency (bench/search.py prints both) is uvicorn, HTTP and
the socket.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import statistics
import time
from typing import Any
from urllib.parse import unquote

from gpbridge.api.app import create_app
from gpbridge.api.routes import type as type_routes
from gpbridge.config import Settings
from gpbridge.search import parse as search_parse
from gpbridge.search import sql as search_sql
from search_explain import RecordingCursor

PARTS = ("gate", "parse", "sql", "search-py", "bundle", "json", "other")


async def asgi_get(app: Any, path: str) -> tuple[int, bytes]:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": unquote(raw_path), "raw_path": raw_path.encode(), "query_string": query.encode(),
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
        "headers": [(b"host", b"127.0.0.1:8080"), (b"accept", b"application/fhir+json")],
    }
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


class Timed:
    """Wraps the steps of a search request with timers (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.store = app.state.api.store
        self.now: dict[str, float] = {}
        self._saved: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, name: str, part: str) -> None:
        original = getattr(owner, name)
        now = self.now

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                now[part] = now.get(part, 0.0) + time.perf_counter() - t0

        self._saved.append((owner, name, original))
        setattr(owner, name, timed)

    def __enter__(self) -> Timed:
        self._wrap(type_routes, "gate", "gate")
        self._wrap(search_parse, "parse_search", "parse")
        self._wrap(self.store, "search", "search")
        self._wrap(type_routes, "searchset", "bundle")
        self._wrap(type_routes, "json_response", "json")
        now, store = self.now, self.store
        original_run = store.run_search

        def run_search(cur: Any, query: Any) -> Any:
            rec = RecordingCursor(cur)
            try:
                return search_sql.execute(rec, store, query)
            finally:
                now["sql"] = now.get("sql", 0.0) + sum(s[2] for s in rec.statements)

        self._saved.append((store, "run_search", original_run))
        store.run_search = run_search
        return self

    def __exit__(self, *exc: Any) -> None:
        for owner, name, original in reversed(self._saved):
            if owner is self.store:
                delattr(owner, name)  # back to the class's method
            else:
                setattr(owner, name, original)
        self._saved.clear()

    async def request(self, path: str) -> dict[str, float]:
        self.now.clear()
        t0 = time.perf_counter()
        status, _ = await asgi_get(self.app, path)
        total = time.perf_counter() - t0
        if status != 200:
            raise RuntimeError(f"{status} for {path}")
        n = self.now
        parts = {"gate": n.get("gate", 0.0), "parse": n.get("parse", 0.0), "sql": n.get("sql", 0.0),
                 "search-py": n.get("search", 0.0) - n.get("sql", 0.0), "bundle": n.get("bundle", 0.0),
                 "json": n.get("json", 0.0)}
        parts["other"] = total - sum(parts.values())
        parts["total"] = total
        return parts


def _settings(url: str, audit: bool) -> Settings:
    # as bench/search.py serves it: no rate limit (one client), audit as asked
    return Settings(database=url, insecure_dev=True, rate_limit_per_minute=0, audit=audit)


def _breakdown(url: str, by_shape: dict[str, list[str]], n: int, audit: bool) -> dict[str, dict[str, float]]:
    app = create_app(_settings(url, audit))
    out: dict[str, dict[str, float]] = {}

    async def run() -> None:
        with Timed(app) as t:
            for shape, paths in by_shape.items():
                for path in paths[:50]:  # warm caches
                    await t.request(path)
                samples = [await t.request(p) for p in paths[:n]]
                out[shape] = {k: statistics.mean(s[k] for s in samples) * 1000 for k in (*PARTS, "total")}
                out[shape]["p50"] = statistics.median(s["total"] for s in samples) * 1000

    try:
        asyncio.run(run())
    finally:
        _close(app)
    return out


def _close(app: Any) -> None:
    api = app.state.api
    close = getattr(api.audit, "close", None)
    if close is not None:
        close()
    api.store.close()


def profile_shapes(
    urls: dict[str, str], requests: dict[str, dict[str, list[str]]], n: int = 400, *, audit: bool = True
) -> None:
    print("\n== where a request's time goes, in process (no HTTP), mean ms per request, one at a time")
    header = "    store shape                " + "".join(f"{p:>10}" for p in (*PARTS, "total", "p50"))
    print(header)
    tables = {name: _breakdown(url, requests[name], n, audit) for name, url in urls.items()}
    for name, table in tables.items():
        for shape, row in table.items():
            print(f"    {name:5} {shape:20} " + "".join(f"{row[p]:>10.3f}" for p in (*PARTS, "total", "p50")))
        mean_total = statistics.mean(r["total"] for r in table.values())
        mean_sql = statistics.mean(r["sql"] for r in table.values())
        print(f"    {name:5} {'mix (equal shares)':20} total {mean_total:.3f} ms, of which SQL {mean_sql:.3f} ms "
              f"({mean_sql / mean_total:.0%}); ceiling {1000 / mean_total:,.0f} req/s per core before HTTP")

    for name, url in urls.items():
        _cprofile(name, url, requests[name], audit)


def _cprofile(name: str, url: str, by_shape: dict[str, list[str]], audit: bool, top: int = 15) -> None:
    app = create_app(_settings(url, audit))
    paths = [p for shape in by_shape.values() for p in shape[:250]]

    async def loop() -> None:
        for p in paths:
            await asgi_get(app, p)

    try:
        asyncio.run(loop())  # warm
        prof = cProfile.Profile()
        prof.enable()
        asyncio.run(loop())
        prof.disable()
    finally:
        _close(app)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    print(f"\n== cProfile, {name} store, {len(paths)} mixed requests in process: top functions by own time")
    lines = buf.getvalue().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    for ln in lines[start:]:
        if ln.strip():
            print("    " + ln.replace(str(_src()), "").replace(str(_site()), "<site>"))


def _site() -> str:
    import starlette

    return starlette.__file__.rsplit("/starlette/", 1)[0]


def _src() -> str:
    import gpbridge

    return gpbridge.__file__.rsplit("/gpbridge/", 1)[0] + "/"
