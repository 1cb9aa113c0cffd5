"""One page of a value set expansion, computed in SQL: total, text filter, paging, displays.

``filter`` follows the common terminology-server reading: every word must begin a word of the
display or of one of the concept's active designations (case-insensitive), so "diab typ 2"
finds "Type 2 diabetes mellitus". With a filter, shorter (closer) matches come first.
"""

from __future__ import annotations

from typing import Any

from gpbridge.terminology.codeset import set_sql
from gpbridge.terminology.db import TerminologyStore
from gpbridge.terminology.errors import too_costly
from gpbridge.terminology.results import Concept, Expansion
from gpbridge.terminology.valueset import CompiledValueSet

MAX_UNPAGED = 10_000  # an expansion bigger than this must be paged (count/offset) or filtered


def filter_words(text: str | None) -> list[str]:
    return [w for w in (text or "").lower().split() if w]


def matches(words: list[str], text: str | None) -> bool:
    """The Python twin of the SQL filter, for displays that exist only in the value set."""
    haystack = " " + (text or "").lower()
    return all(f" {w}" in haystack for w in words)


def expand_page(ts: TerminologyStore, cur: Any, compiled: CompiledValueSet, *, text: str | None = None,
                count: int | None = None, offset: int = 0, active_only: bool = False,
                limit: int = MAX_UNPAGED) -> Expansion:
    d = ts.dialect
    words = filter_words(text)
    body_sql, params = set_sql(compiled.node, d)
    where: list[str] = []
    where_params: list[Any] = []
    for w in words:
        pattern = "% " + _like(w) + "%"
        where.append("(LOWER(' ' || COALESCE(c.display, '')) LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM "
                     "tx_description d WHERE d.sid = c.sid AND d.code = c.code AND d.active = 1 "
                     "AND LOWER(' ' || d.term) LIKE ? ESCAPE '\\'))")
        where_params.extend([pattern, pattern])
    if words:
        # Codes whose only display is the one the value set gives: matched here, in Python.
        extra = [key for key, display in compiled.displays.items() if matches(words, display)]
        if extra:
            ors = " OR ".join("(v.system = ? AND v.code = ?)" for _ in extra)
            where[:] = [f"(({' AND '.join(where)}) OR {ors})"]
            where_params.extend(x for key in extra for x in key)
    if active_only:
        where.append("(c.active IS NULL OR c.active = 1)")
    base = (f"FROM ({body_sql}) v LEFT JOIN tx_system s ON s.url = v.system "
            f"LEFT JOIN tx_concept c ON c.sid = s.sid AND c.code = v.code")
    if where:
        base += " WHERE " + " AND ".join(where)
    all_params = params + where_params
    cur.execute(d.sql(f"SELECT COUNT(*) {base}"), all_params)
    total = int(cur.fetchone()[0])
    if count is None and total - offset > limit:
        raise too_costly(total, limit)
    page = limit if count is None else count
    order = ("LENGTH(COALESCE(c.display, v.code)), c.display, v.system, v.code" if words
             else "COALESCE(c.display, v.code), v.system, v.code")
    contains: list[Concept] = []
    if page > 0 and offset < total:
        cur.execute(d.sql(f"SELECT v.system, v.code, c.display, c.active, c.kind {base} ORDER BY {order} "
                          f"LIMIT ? OFFSET ?"), [*all_params, page, offset])
        for system, code, display, active, kind in cur.fetchall():
            shown = compiled.displays.get((system, code)) or display
            contains.append(Concept(system, code, shown, active is None or bool(active), kind))
    return Expansion(total, offset, contains)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
