"""Query shapes that must stay index seeks as the store grows (SQLite's planner, checked directly)."""

from __future__ import annotations

from pathlib import Path

from gpbridge.search.parse import parse_search
from gpbridge.search.sql import SqlBuilder
from gpbridge.store.sqlite import SQLiteStore


def plan(store: SQLiteStore, type_: str, params: list[tuple[str, str]]) -> list[str]:
    builder = SqlBuilder(store)
    where, args = builder.level(parse_search(type_, params), "a")
    with store._read_cursor() as cur:  # noqa: SLF001 - looking at the plan of the store's own SQL
        cur.execute(f"EXPLAIN QUERY PLAN SELECT a.rid FROM resource a WHERE {where}", args)
        return [row[3] for row in cur.fetchall()]


def test_per_candidate_checks_seek_the_clustered_key(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "plan.db"))
    try:
        lines = plan(store, "MedicationRequest", [("patient", "Patient/p1"), ("status", "active"),
                                                  ("authoredon", "ge2020-01-01")])
        text = "\n".join(lines)
        # driven by the patient reference ...
        assert "ix_reference_search" in text, text
        # ... and each candidate's status/date checked by (rid, pid), never by scanning the value index
        assert "ix_token_search" not in text and "ix_date_search" not in text, text
    finally:
        store.close()
