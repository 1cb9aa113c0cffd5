"""Query shapes that must stay index seeks as the store grows (SQLite's planner, checked directly)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg

from gpbridge.search.parse import parse_search
from gpbridge.search.query import PagePosition
from gpbridge.search.sql import SqlBuilder, order_sql, position_sql
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



def page_plan(store: SQLiteStore, type_: str, params: list[tuple[str, str]], position: PagePosition) -> str:
    """The plan of a ``_page`` page: the query's WHERE, the position, the (reversed) order."""
    builder = SqlBuilder(store)
    query = parse_search(type_, params)
    where, args = builder.level(query, "a")
    terms = builder.sort_terms(query, "a")
    at, at_args = position_sql(terms, position, "a", True, builder.driven["a"])
    order, order_args = order_sql(terms, "a", not position.forward)
    with store._read_cursor() as cur:  # noqa: SLF001 - looking at the plan of the store's own SQL
        cur.execute(f"EXPLAIN QUERY PLAN SELECT a.rid FROM resource a WHERE {where} AND {at} "
                    f"ORDER BY {order} LIMIT 5", [*args, *at_args, *order_args])
        return "\n".join(row[3] for row in cur.fetchall())


def test_page_position_never_drives(tmp_path: Path) -> None:
    """A ``_page`` cursor only filters: the query's driving clause still drives, and the default
    order's page is a range of the (type, deleted, lu) index it is read in, with no sort."""
    store = SQLiteStore(str(tmp_path / "plan.db"))
    try:
        for forward in (True, False):
            text = page_plan(store, "Observation", [("patient", "Patient/p1")], PagePosition(forward, (1.5,), 10))
            assert "ix_reference_search" in text and "rowid>" not in text and "rowid<" not in text, text
            text = page_plan(store, "Observation", [("code", "http://snomed.info/sct|77176002"), ("_sort", "-date")],
                             PagePosition(forward, (1.5e9,), 10))
            assert "ix_token_search" in text and "ix_date_search" not in text, text
            text = page_plan(store, "Observation", [], PagePosition(forward, (1.5e9,), 10))
            assert "resource_type_lu (type=? AND deleted=? AND lu" in text and "TEMP B-TREE" not in text, text
    finally:
        store.close()


def test_ne_never_drives_and_seeks_the_clustered_key(tmp_path: Path) -> None:
    """``ne`` is a complement range (a value below or above the search range): too wide to drive,
    so it stays a per-candidate check, and alone it reads each candidate's rows by (rid, pid)."""
    store = SQLiteStore(str(tmp_path / "plan.db"))
    try:
        text = "\n".join(plan(store, "Observation", [("patient", "Patient/p1"), ("date", "ne2020")]))
        assert "ix_reference_search" in text and "ix_date_search" not in text, text
        text = "\n".join(plan(store, "Observation", [("value-quantity", "ne120"), ("date", "ne2020")]))
        assert "ix_quantity_search" not in text and "ix_date_search" not in text, text
    finally:
        store.close()


def test_or_of_values_seeks_each_value(tmp_path: Path) -> None:
    """identifier=a,b,c (identity linkage searches a record's blocking keys so) must seek each
    value, not read every identifier of every Patient."""
    store = SQLiteStore(str(tmp_path / "plan.db"))
    try:
        system = "https://gpbridge.dev/Id/identity-blocking-key"
        lines = plan(store, "Patient", [("identifier", ",".join(f"{system}|K{n}" for n in range(5)))])
        seeks = [line for line in lines if "ix_token" in line]
        assert seeks and all("code=?" in line for line in seeks), lines
    finally:
        store.close()

# -- PostgreSQL: plans that stay right while a new database fills up ---------------------------

NHS_NUMBER = [("identifier", "https://fhir.nhs.uk/Id/nhs-number|9900000042")]


def _patients(n: int, start: int = 0) -> Iterator[dict]:
    for k in range(start, start + n):
        yield {"resourceType": "Patient", "id": f"p{k}",
               "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": f"99{k:08d}"}]}


def _organisations(n: int) -> Iterator[dict]:
    for k in range(n):
        yield {"resourceType": "Organization", "id": f"o{k}", "name": f"Practice {k}"}


def _prepared(store, type_: str, params: list[tuple[str, str]]) -> tuple[str, list]:
    """The search as a PREPARE statement ($n placeholders) and its arguments."""
    where, args = SqlBuilder(store).level(parse_search(type_, params), "a")
    where = where.replace("?", "{}").format(*(f"${n}" for n in range(1, len(args) + 1)))
    return f"PREPARE q AS SELECT a.rid FROM resource a WHERE {where} ORDER BY a.lu, a.rid LIMIT 2", args


def _explain(cur, args: list) -> str:
    cur.execute(f"EXPLAIN EXECUTE q({', '.join(['%s'] * len(args))})", args)
    return "\n".join(row[0] for row in cur.fetchall())


def test_postgresql_drives_from_the_index_when_statistics_predate_the_type(postgres_store) -> None:
    """Statistics taken before any Patient existed (a load starts with the practices) must not
    make an NHS number lookup walk every Patient through the (type, deleted, lu) index."""
    postgres_store.statistics.first_rows = 10**9  # keep the statistics as they were
    postgres_store.bulk_load(_organisations(50))
    with postgres_store.pool.connection() as conn:
        conn.execute("ANALYZE")
    postgres_store.bulk_load(_patients(2000))
    statement, args = _prepared(postgres_store, "Patient", NHS_NUMBER)
    with postgres_store.pool.connection() as conn:
        cur = psycopg.ClientCursor(conn)  # the simple protocol: $n inside PREPARE stays the statement's
        cur.execute("SET plan_cache_mode = force_custom_plan")
        cur.execute(statement)
        text = _explain(cur, args)
        cur.execute("DEALLOCATE q")
        cur.execute("RESET plan_cache_mode")
    assert "ix_token_search" in text, text
    assert "resource_type_lu" not in text and "Seq Scan on resource" not in text, text


def test_postgresql_replans_cached_searches_as_the_tables_grow(postgres_store) -> None:
    """A search prepared while the tables were small is planned again once they have grown."""
    postgres_store.statistics.first_rows = 200
    postgres_store.bulk_load(_patients(5))
    statement, args = _prepared(postgres_store, "Patient", NHS_NUMBER)
    with postgres_store.pool.connection() as conn:
        cur = psycopg.ClientCursor(conn)
        cur.execute("SET plan_cache_mode = force_generic_plan")  # as psycopg's prepared statements
        cur.execute(statement)
        _explain(cur, args)  # planned now, for five Patients, and cached
        postgres_store.bulk_load(_patients(3000, start=5))
        postgres_store.statistics.wait()
        text = _explain(cur, args)
        cur.execute("DEALLOCATE q")
        cur.execute("RESET plan_cache_mode")
    assert "ix_token_search" in text, text
    assert "Seq Scan on resource" not in text, text


def test_postgresql_statistics_are_refreshed_as_the_tables_grow(postgres_store) -> None:
    def analysed() -> int:
        with postgres_store.pool.connection() as conn:
            row = conn.execute("SELECT analyze_count + autoanalyze_count FROM pg_stat_user_tables "
                               "WHERE relname = 'history'").fetchone()
        return int(row[0])

    postgres_store.statistics.first_rows = 50
    before = analysed()
    postgres_store.bulk_load(_patients(20))
    postgres_store.statistics.wait()
    assert analysed() == before  # not yet: fewer versions than the first threshold
    postgres_store.bulk_load(_patients(40, start=20))
    postgres_store.statistics.wait()
    assert analysed() > before
