"""``bench/search.py --explain``: the SQL each query shape runs, its plan, and what each statement costs.

Every statement ``search.sql.execute`` issues for a request (the COUNT for ``total``, the page, the
``_include`` lookups) is captured through a recording cursor, then shown with its plan (SQLite:
EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN) and its median time over a sample of that shape's requests.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gpbridge.config import Settings
from gpbridge.search import sql as search_sql
from gpbridge.search.parse import parse_search
from gpbridge.search.query import SearchQuery
from gpbridge.store import open_store


class RecordingCursor:
    """Delegates to a DB-API cursor, recording each statement and the time spent in it (execute + fetch)."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur
        self.statements: list[list[Any]] = []  # [sql, params, seconds, rows]

    def execute(self, sql: str, params: Any = ()) -> Any:
        t0 = time.perf_counter()
        result = self._cur.execute(sql, params)
        self.statements.append([sql, list(params), time.perf_counter() - t0, 0])
        return result

    def _timed(self, fn: Any) -> Any:
        t0 = time.perf_counter()
        rows = fn()
        if self.statements:
            self.statements[-1][2] += time.perf_counter() - t0
            self.statements[-1][3] += len(rows) if isinstance(rows, list) else int(rows is not None)
        return rows

    def fetchall(self) -> Any:
        return self._timed(self._cur.fetchall)

    def fetchone(self) -> Any:
        return self._timed(self._cur.fetchone)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def query_of(path: str) -> SearchQuery:
    parts = urlsplit(path)
    type_ = parts.path.rstrip("/").rsplit("/", 1)[1]
    return parse_search(type_, parse_qsl(parts.query, keep_blank_values=True), base_url="http://bench/fhir")


def run_recorded(store: Any, query: SearchQuery) -> list[list[Any]]:
    with store._read_cursor() as cur:  # noqa: SLF001 - a benchmark looking inside its own store
        rec = RecordingCursor(cur)
        search_sql.execute(rec, store, query)
    return rec.statements


def _label(sql: str) -> str:
    if sql.startswith("SELECT COUNT(*)"):
        return "count (total)"
    if "ix_reference x WHERE" in sql and sql.startswith("SELECT x.ttype"):
        return "_include: references"
    if "LIMIT" in sql:
        return "page"
    return "_include: targets"


def _plan(store: Any, sql: str, params: list[Any]) -> list[str]:
    d = store.dialect_obj
    with store._read_cursor() as cur:  # noqa: SLF001
        if d.name == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            rows = cur.fetchall()
            depth: dict[int, int] = {0: 0}
            out = []
            for node, parent, _unused, detail in rows:
                depth[node] = depth.get(parent, 0) + 1
                out.append("  " * (depth[node] - 1) + detail)
            return out
        cur.execute("EXPLAIN " + sql, params)  # recorded SQL is already in the driver's style
        return [r[0] for r in cur.fetchall()]


def _short(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql)
    return re.sub(r"SELECT a\.rid, a\.type, a\.id, a\.version, h\.last_updated, h\.method, h\.content",
                  "SELECT a.*, h.content", sql)


def scans_search_index(plan: list[str]) -> list[str]:
    """SQLite plan lines where a correlated subquery (an AND-ed clause checked per candidate row) reads
    an ``ix_*_search`` index instead of seeking the (rid, pid, ...) primary key: its cost then grows
    with every row of that parameter and value in the table, not with the candidates."""
    flagged = []
    for k, line in enumerate(plan[:-1]):
        if line.strip().startswith("CORRELATED") and re.search(r"INDEX ix_\w+_search", plan[k + 1]):
            flagged.append(plan[k + 1].strip())
    return flagged


def explain_shapes(url: str, by_shape: dict[str, list[str]], samples: int = 200) -> None:
    store = open_store(url, Settings(database=url))
    flagged: dict[str, set[str]] = {}
    try:
        print(f"\n== query plans on the large store ({url})")
        for shape, paths in by_shape.items():
            first = run_recorded(store, query_of(paths[0]))
            timings: list[list[float]] = [[] for _ in first]
            rows: list[list[int]] = [[] for _ in first]
            whole: list[float] = []
            for path in paths[:samples]:
                q = query_of(path)
                t0 = time.perf_counter()
                stmts = run_recorded(store, q)
                whole.append(time.perf_counter() - t0)
                for k, st in enumerate(stmts[:len(first)]):
                    timings[k].append(st[2])
                    rows[k].append(st[3])
            print(f"\n  {shape}: {paths[0]}")
            print(f"    search_sql.execute: median {_med(whole) * 1000:.3f} ms over {len(whole)} requests")
            for k, (sql, params, _, _) in enumerate(first):
                print(f"    [{_label(sql)}] median {_med(timings[k]) * 1000:.3f} ms, "
                      f"median rows {_med(rows[k]):.0f}")
                print(f"      {_short(sql)}")
                print(f"      params {params}")
                plan = _plan(store, sql, params)
                for line in plan:
                    print(f"        {line}")
                flagged.setdefault(shape, set()).update(scans_search_index(plan))
    finally:
        store.close()
    bad = {shape: lines for shape, lines in flagged.items() if lines}
    if not bad:
        print("\n  plan check: every correlated clause seeks its index table by (rid, pid): cost follows the candidates")
    for shape, lines in bad.items():
        print(f"\n  plan check: {shape}: a per-candidate clause scans a search index, so its cost grows with the "
              f"table, not the candidates: {'; '.join(sorted(lines))}")


def _med(values: list[float]) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
