"""The audit query over ``audit_log`` itself, on SQLite and PostgreSQL alike: every filter,
date prefixes, flags matched whole, paging by cursor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.audit import AuditRecord
from gpbridge.security.audit_chain import ChainedAuditSink, verify_audit_chain
from gpbridge.security.audit_search import parse_audit_query, search_audit

POSTGRES_DSN = Settings.from_env().test_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChainedAuditSink]:
    from gpbridge.store.sqlite import SQLiteStore

    if request.param == "sqlite":
        store: Any = SQLiteStore(str(tmp_path / "audit.db"), Settings())
    else:
        if not POSTGRES_DSN:
            pytest.skip("PostgreSQL audit tests need GPBRIDGE_TEST_POSTGRES (a DSN); .ci/run sets it")
        from gpbridge.store.postgres import PostgresStore

        fresh = PostgresStore(POSTGRES_DSN)
        fresh.drop_all()
        fresh.close()
        store = PostgresStore(POSTGRES_DSN)
    made = ChainedAuditSink(store, background=False)
    with store._write_cursor() as cur:  # drop_all keeps the audit (append-only by design)
        cur.execute("DELETE FROM audit_log")
    rows = [
        ("read", "u1", "Patient/a", True, (), "2026-11-30T23:59:59.999+00:00"),
        ("read", "u2", "Patient/a", True, ("break-glass",), "2026-12-01T08:00:00.000+00:00"),
        ("search", "u2", "Patient/b", False, (), "2026-12-01T12:00:00.000+00:00"),
        ("operation:$everything", "u1", "Patient/b", True, ("redacted", "filtered"), "2026-12-01T23:59:59.999+00:00"),
        ("login", "u3", None, False, (), "2026-12-02T00:00:00.000+00:00"),
    ]  # fmt: skip
    for interaction, who, patient, allowed, flags, recorded in rows:
        made.record(AuditRecord(interaction, "Patient" if patient else None, None, allowed, "why", principal=who,
                                patient=patient, flags=flags, recorded=recorded, client_id=f"app-{who}"))  # fmt: skip
    made.flush()
    yield made
    made.store.close()


def _ids(sink: ChainedAuditSink, *params: tuple[str, str]) -> list[int]:
    return [int(e["id"]) for e in search_audit(sink.store, parse_audit_query(list(params))).events]


def test_filters(sink: ChainedAuditSink) -> None:
    assert _ids(sink) == [5, 4, 3, 2, 1]
    assert _ids(sink, ("patient", "Patient/a")) == [2, 1]
    assert _ids(sink, ("patient", "a,Patient/b")) == [4, 3, 2, 1]
    assert _ids(sink, ("agent", "u2")) == [3, 2]
    assert _ids(sink, ("outcome", "4")) == [5, 3]
    assert _ids(sink, ("subtype", "operation")) == [4]
    assert _ids(sink, ("type", "110114")) == [5] and _ids(sink, ("type", "rest")) == [4, 3, 2, 1]
    assert _ids(sink, ("_tag", "break-glass")) == [2]
    assert _ids(sink, ("_tag", "filtered")) == [4] and _ids(sink, ("_tag", "filter")) == []  # whole flags only
    assert _ids(sink, ("altid", "app-u3")) == [5]
    assert verify_audit_chain(sink.store).ok


def test_dates(sink: ChainedAuditSink) -> None:
    assert _ids(sink, ("date", "2026-12-01")) == [4, 3, 2]
    assert _ids(sink, ("date", "ge2026-12-01"), ("date", "lt2026-12-02")) == [4, 3, 2]
    assert _ids(sink, ("date", "gt2026-12-01")) == [5]
    assert _ids(sink, ("date", "le2026-11-30")) == [1]
    assert _ids(sink, ("date", "ge2026-12-01T12:00:00Z")) == [5, 4, 3]
    assert _ids(sink, ("date", "2026-12-01T13:00:00+01:00")) == [3]  # the same second, in BST


def test_paging_by_cursor(sink: ChainedAuditSink) -> None:
    first = search_audit(sink.store, parse_audit_query([("_count", "2")]))
    assert [e["id"] for e in first.events] == ["5", "4"] and first.next_cursor == 4
    second = search_audit(sink.store, parse_audit_query([("_count", "2"), ("_cursor", str(first.next_cursor))]))
    assert [e["id"] for e in second.events] == ["3", "2"]
    last = search_audit(sink.store, parse_audit_query([("_count", "2"), ("_cursor", "2")]))
    assert [e["id"] for e in last.events] == ["1"] and last.next_cursor is None


def test_by_id(sink: ChainedAuditSink) -> None:
    assert _ids(sink, ("_id", "3")) == [3]
    assert _ids(sink, ("_id", "1,4,99")) == [4, 1]
    assert _ids(sink, ("_id", "x")) == [] and _ids(sink, ("_id", "2"), ("patient", "Patient/b")) == []


def test_unknown_parameters_are_ignored_unless_strict() -> None:
    query = parse_audit_query([("colour", "red"), ("size", "1"), ("colour", "blue"), ("outcome", "0")])
    assert query.ignored == ["colour", "size"] and query.outcome == "allowed"
    with pytest.raises(FhirError) as unknown:
        parse_audit_query([("colour", "red"), ("size", "1")], strict=True)
    assert unknown.value.status == 400
    assert [i.expression for i in unknown.value.issues] == [("colour",), ("size",)]


def test_every_bad_parameter_is_named() -> None:
    for name, value in (("date", "2026-13-01"), ("date", "sa2026-01-01"), ("outcome", "1"), ("type", "x"),
                        ("_tag", "http://other|break-glass"), ("_cursor", "x"), ("_sort", "agent")):  # fmt: skip
        with pytest.raises(FhirError):
            parse_audit_query([(name, value)])
