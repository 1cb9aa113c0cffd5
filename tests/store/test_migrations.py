"""An old database upgrades on start without losing anything."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from gpbridge.search.parse import parse_search
from gpbridge.store import migrations
from gpbridge.store.postgres import PostgresStore
from gpbridge.store.sqlite import SQLiteStore

FIXTURE = Path(__file__).with_name("fixtures") / "schema_v1.db"


def test_version_1_database_upgrades_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    store = SQLiteStore(str(db))
    try:
        assert store.schema_version() == migrations.latest_version() >= 2
        # everything written at version 1 is still there, history included
        patient = orjson.loads(store.read("Patient", "p1").content)
        assert patient["name"][0]["given"] == ["Version"]
        assert store.vread("Patient", "p1", 1).version == 1
        assert store.count("Observation") == 3
        # version 2's composite index was built for the old rows
        q = parse_search("Observation", [("component-code-value-quantity", "http://snomed.info/sct|271649006$gt140")])
        assert [m.id for m in store.search(q).matches] == ["bp-2"]
        q = parse_search("Observation", [("component-code-value-quantity", "271650006$le85")])
        assert sorted(m.id for m in store.search(q).matches) == ["bp-1", "bp-3"]
        # and old searches still work
        assert [m.id for m in store.search(parse_search("Patient", [("family", "legacy")])).matches] == ["p1"]
    finally:
        store.close()
    # reopening does not migrate again
    again = SQLiteStore(str(db))
    assert again.schema_version() == migrations.latest_version()
    again.close()


def test_composite_search_on_new_writes(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "new.db"))
    obs = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "27113001"}]},
        "valueQuantity": {"value": 82.0, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }
    with store.session() as s:
        oid = s.create(obs).resource.id
    hit = parse_search("Observation", [("code-value-quantity", "http://snomed.info/sct|27113001$82||kg")])
    miss = parse_search("Observation", [("code-value-quantity", "27113001$lt80")])
    assert [m.id for m in store.search(hit).matches] == [oid]
    assert store.search(miss).matches == []
    store.close()


@pytest.mark.postgres
def test_postgresql_jsonb_history_becomes_text_without_loss(postgres_store: PostgresStore) -> None:
    """Version 8: a database whose versions are JSONB (versions 1-7) keeps every version, now as text."""
    store = postgres_store
    with store.session() as s:
        pid = s.create({"resourceType": "Patient", "name": [{"family": "Jsonb", "given": ["Old"]}]}).resource.id
    with store.session() as s:
        s.update("Patient", pid, {"resourceType": "Patient", "id": pid, "name": [{"family": "Jsonb", "given": ["New"]}]})
    # put the database back as version 7 wrote it
    with store.pool.connection() as conn:
        conn.execute("ALTER TABLE history ALTER COLUMN content TYPE JSONB USING content::jsonb")
        conn.execute("DELETE FROM schema_version WHERE version >= 8")
    store.close()  # the fixture's close after this one does nothing
    upgraded = PostgresStore(store.dsn)
    try:
        assert upgraded.schema_version() == migrations.latest_version() >= 8
        with upgraded.pool.connection() as conn:
            kind = conn.execute("SELECT data_type FROM information_schema.columns "
                                "WHERE table_name = 'history' AND column_name = 'content'").fetchone()[0]
        assert kind == "text"
        assert orjson.loads(upgraded.read("Patient", pid).content)["name"][0]["given"] == ["New"]
        assert orjson.loads(upgraded.vread("Patient", pid, 1).content)["name"][0]["given"] == ["Old"]
        found = upgraded.search(parse_search("Patient", [("family", "jsonb")])).matches
        assert [m.id for m in found] == [pid]
    finally:
        upgraded.close()


@pytest.mark.postgres
def test_postgresql_stores_the_json_as_written(postgres_store: PostgresStore) -> None:
    """What a read returns is byte for byte what the store wrote (JSONB reordered keys)."""
    resource = {"resourceType": "Patient", "name": [{"given": ["Zed"], "family": "Keyorder"}], "active": True}
    with postgres_store.session() as s:
        pid = s.create(resource).resource.id
    content = postgres_store.read("Patient", pid).content
    assert list(orjson.loads(content)["name"][0]) == ["given", "family"]


def test_resources_are_indexed_by_id_then_type(tmp_path: Path) -> None:
    """Version 12: (id, type) — time-ordered ids append at one end — and still unique per type."""
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    store = SQLiteStore(str(db))
    try:
        with store._read_cursor() as cur:  # noqa: SLF001
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'resource'")
            names = {row[0] for row in cur.fetchall()}
            cur.execute("PRAGMA index_info(resource_id_type)")
            columns = [row[2] for row in cur.fetchall()]
        assert "resource_type_id" not in names and columns == ["id", "type"]
        assert store.read("Patient", "p1").id == "p1"
        with pytest.raises(Exception, match="UNIQUE"), store._write_cursor() as cur:  # noqa: SLF001
            cur.execute("INSERT INTO resource (rid, type, id, version, lu) VALUES (999, 'Patient', 'p1', 1, 0)")
        with store._write_cursor() as cur:  # noqa: SLF001 - the same id on another type is another resource
            cur.execute("INSERT INTO resource (rid, type, id, version, lu) VALUES (999, 'Group', 'p1', 1, 0)")
    finally:
        store.close()


def _history_before_v14(store: Any) -> str:
    """A resource created, updated, deleted and recreated by PUT, as a version 12 store recorded it."""
    with store.session() as s:
        s.update("Patient", "r", {"resourceType": "Patient", "id": "r"})
    with store.session() as s:
        s.update("Patient", "r", {"resourceType": "Patient", "id": "r", "gender": "male"})
    with store.session() as s:
        s.delete("Patient", "r")
    with store.session() as s:
        s.update("Patient", "r", {"resourceType": "Patient", "id": "r"})
    with store._write_cursor() as cur:  # noqa: SLF001
        for version, method in ((1, "POST"), (2, "PUT"), (3, "DELETE"), (4, "PUT")):
            cur.execute(store.dialect_obj.sql(
                "UPDATE history SET method = ? WHERE version = ? AND rid = (SELECT rid FROM resource WHERE id = 'r')"),
                (method, version))  # fmt: skip
        cur.execute("DELETE FROM schema_version WHERE version >= 14")
    return "r"


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_version_14_history_keeps_old_rows_and_finds_recreations(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if dialect == "sqlite":
        store: Any = SQLiteStore(str(tmp_path / "v12.db"))
        reopen: Any = lambda: SQLiteStore(str(tmp_path / "v12.db"))  # noqa: E731
    else:
        store = request.getfixturevalue("postgres_store")
        reopen = lambda: PostgresStore(store.dsn)  # noqa: E731
    id_ = _history_before_v14(store)
    store.close()
    upgraded = reopen()
    try:
        assert upgraded.schema_version() == migrations.latest_version() >= 14
        versions, _ = upgraded.history("Patient", id_)
        # old rows keep the method alone, read with its usual status; the recreation is now a 201
        assert [v.request for v in reversed(versions)] == [("POST", 201), ("PUT", 200), ("DELETE", 204), ("PUT", 201)]
        assert [v.method for v in reversed(versions)] == ["POST", "PUT", "DELETE", "PUT 201"]
    finally:
        upgraded.close()
