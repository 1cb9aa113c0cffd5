"""The transitive is-a closure: built in memory from the direct edges, and the SQL that uses it.

``tx_closure`` holds one row (ancestor, descendant) for every pair where descendant is-a* ancestor,
including each concept with itself, so "X or any kind of X" is one indexed range scan.

Building it: concepts get dense integer indexes; leaves first (reverse topological order), each
concept's descendant set is an ``array('I')`` — its children's sets merged, plus itself. Four
bytes per closure row keeps a 350k-concept release's ~7M pairs in tens of megabytes, and a
single-child concept (the common case) costs one C-level array copy. Rows are then written in
(ancestor, descendant) key order so the clustered index is filled by appends.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gpbridge.fhir.outcome import FhirError
from gpbridge.store.dialect import Dialect
from gpbridge.terminology.db import TerminologyStore

# Edge kinds that mean "is a kind of": SNOMED CT / CodeSystem is-a, and the dm+d links
# (an AMP is a kind of its VMP, a VMP of its VTM, as in the UK Drug Extension).
SUBSUMPTION_KINDS = ("is-a", "vmp", "vtm")

Progress = Callable[[str, int, int | None], None]
# The by-descendant index of schema v3 (store/migrations/v3_terminology.py), restated here because
# a closure rebuild drops it and creates it again.
CLOSURE_UP_INDEX = "CREATE INDEX IF NOT EXISTS tx_closure_up ON tx_closure (sid, descendant, ancestor)"


class CycleError(ValueError):
    """The hierarchy has a cycle: no closure exists (a broken CodeSystem, never a real RF2)."""

    def __init__(self, nodes: list[int]) -> None:
        super().__init__(f"the hierarchy has a cycle through node(s) {nodes}")
        self.nodes = nodes


def descendant_sets(n: int, parents: Sequence[Sequence[int]]) -> list[array]:
    """For nodes 0..n-1 with ``parents[i]`` their direct parents: each node's descendants and itself."""
    children: list[list[int]] = [[] for _ in range(n)]
    for child, ps in enumerate(parents):
        for p in set(ps):
            if p != child:
                children[p].append(child)
    waiting = [len(c) for c in children]  # children not yet done
    ready = [i for i in range(n) if waiting[i] == 0]
    desc: list[array | None] = [None] * n
    done = 0
    while ready:
        node = ready.pop()
        kids = children[node]
        if not kids:
            mine = array("I", (node,))
        elif len(kids) == 1:
            mine = array("I", desc[kids[0]])  # type: ignore[arg-type]
            mine.append(node)
        else:
            merged = set(desc[kids[0]])  # type: ignore[arg-type]
            for k in kids[1:]:
                merged.update(desc[k])  # type: ignore[arg-type]
            merged.add(node)
            mine = array("I", merged)
        desc[node] = mine
        done += 1
        for p in set(parents[node]):
            if p == node:
                continue
            waiting[p] -= 1
            if waiting[p] == 0:
                ready.append(p)
    if done != n:
        raise CycleError([i for i in range(n) if desc[i] is None][:5])
    return desc  # type: ignore[return-value]


def closure_rows(codes: Sequence[str], parents: Sequence[Sequence[int]]) -> tuple[int, Iterator[tuple[str, str]]]:
    """(row count, rows in (ancestor, descendant) order) for concepts ``codes`` and their edges."""
    desc = descendant_sets(len(codes), parents)
    total = sum(len(d) for d in desc)

    def rows() -> Iterator[tuple[str, str]]:
        for a in sorted(range(len(codes)), key=codes.__getitem__):
            ancestor = codes[a]
            below = sorted(codes[i] for i in desc[a])
            desc[a] = array("I")  # free as we go
            for d in below:
                yield ancestor, d

    return total, rows()


def rebuild_closure(ts: TerminologyStore, cur: Any, sid: int, progress: Progress | None = None) -> int:
    """Replace the closure of one code system from its concepts and subsumption edges."""
    sql = ts.sql
    cur.execute(sql("SELECT code FROM tx_concept WHERE sid = ?"), (sid,))
    codes = [row[0] for row in cur.fetchall()]
    index = {c: i for i, c in enumerate(codes)}
    marks = ",".join("?" * len(SUBSUMPTION_KINDS))
    cur.execute(sql(f"SELECT child, parent FROM tx_edge WHERE sid = ? AND kind IN ({marks})"),
                (sid, *SUBSUMPTION_KINDS))
    parents: list[list[int]] = [[] for _ in codes]
    for child, parent in cur.fetchall():
        c, p = index.get(child), index.get(parent)
        if c is not None and p is not None:  # an edge to an unknown concept cannot be placed
            parents[c].append(p)
    del index
    try:
        total, rows = closure_rows(codes, parents)
    except CycleError as exc:
        stuck = ", ".join(codes[i] for i in exc.nodes)
        raise FhirError.of(422, "business-rule", f"the is-a hierarchy has a cycle (through {stuck}…): "
                           "a code cannot be a kind of itself, so the release was not loaded") from None
    del parents
    cur.execute(sql("DELETE FROM tx_closure WHERE sid = ?"), (sid,))
    # Rows arrive in primary-key order, so the clustered key fills by appends; the by-descendant
    # index would take millions of random inserts instead, so it is rebuilt once, by a sort, after.
    cur.execute("DROP INDEX IF EXISTS tx_closure_up")
    written = 0

    def tagged() -> Iterator[tuple[int, str, str]]:
        nonlocal written
        for a, d in rows:
            written += 1
            if progress is not None and written % 200_000 == 0:
                progress("closure", written, total)
            yield sid, a, d

    ts.insert(cur, "tx_closure", ("sid", "ancestor", "descendant"), tagged())
    with ts.sorts_on_disk(cur):
        cur.execute(CLOSURE_UP_INDEX)
    if progress is not None:
        progress("closure", total, total)
    return total


# -- SQL for search and expansion ------------------------------------------------------------------
_SID = "(SELECT sid FROM tx_system WHERE url = ?)"


def descendants_sql(dialect: Dialect, system: str, code: str, include_self: bool = True) -> tuple[str, list[Any]]:
    """A subquery of the codes that are ``code`` or a kind of it (``:below``), with its params.

    Use as ``x.system = ? AND x.code IN (<sql>)``. Unknown systems or codes give an empty set.
    Placeholders are ``?`` like every query in ``search.sql``: the caller's ``dialect.sql()``
    rewrites the whole statement once, so this fragment must not be rewritten before that.
    """
    sql = f"SELECT descendant FROM tx_closure WHERE sid = {_SID} AND ancestor = ?"
    params: list[Any] = [system, code]
    if not include_self:
        sql += " AND descendant <> ?"
        params.append(code)
    del dialect  # same SQL for both dialects today; kept so callers need not change if that ends
    return sql, params


def ancestors_sql(dialect: Dialect, system: str, code: str, include_self: bool = True) -> tuple[str, list[Any]]:
    """A subquery of ``code`` and every code it is a kind of (``:above``), with its params."""
    sql = f"SELECT ancestor FROM tx_closure WHERE sid = {_SID} AND descendant = ?"
    params: list[Any] = [system, code]
    if not include_self:
        sql += " AND ancestor <> ?"
        params.append(code)
    del dialect
    return sql, params
