"""``value||unit``: with the system empty, the code is matched against Quantity.code or
Quantity.unit (FHIR R4 search, "quantity"); ``value|system|code`` stays exact. Runs on SQLite and
PostgreSQL, and an upgraded database searches like a new one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gpbridge.search.parse import parse_search
from gpbridge.store import migrations
from gpbridge.store.base import Store
from gpbridge.store.postgres import PostgresStore
from gpbridge.store.sqlite import SQLiteStore

SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
SYSTOLIC = "271649006"
FIXTURE = Path(__file__).with_name("fixtures") / "schema_v1.db"


def _ids(store: Store, type_: str, params: list[tuple[str, str]]) -> list[str]:
    return sorted(m.id for m in store.search(parse_search(type_, params)).matches)


def _obs(quantity: dict[str, Any] | None, code: str = "75367002") -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                           "code": {"coding": [{"system": SCT, "code": code}]}}  # fmt: skip
    if quantity is not None:
        obs["valueQuantity"] = quantity
        obs["component"] = [{"code": {"coding": [{"system": SCT, "code": SYSTOLIC}]}, "valueQuantity": quantity}]
    return obs


def _create(store: Store, *resources: dict[str, Any]) -> list[str]:
    with store.session() as s:
        return [s.create(r).resource.id for r in resources]


MM_HG = {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}


def test_empty_system_matches_the_code_or_the_unit(store: Store) -> None:
    coded, unit_only, other, no_system = _create(
        store,
        _obs(MM_HG),
        _obs({"value": 120, "unit": "mmHg"}),
        _obs({"value": 120, "unit": "kg", "system": UCUM, "code": "kg"}),
        _obs({"value": 120, "unit": "mmHg", "code": "mm[Hg]"}),
    )
    with_unit = sorted([coded, unit_only, no_system])
    assert _ids(store, "Observation", [("value-quantity", "120||mmHg")]) == with_unit
    assert _ids(store, "Observation", [("value-quantity", "120||mm[Hg]")]) == sorted([coded, no_system])
    assert _ids(store, "Observation", [("value-quantity", "gt100||mmHg")]) == with_unit
    assert _ids(store, "Observation", [("value-quantity", "ne120||mmHg")]) == []
    assert _ids(store, "Observation", [("value-quantity", "120")]) == sorted([coded, unit_only, other, no_system])
    # a system names a coded unit: only Quantity.system and Quantity.code, as before
    assert _ids(store, "Observation", [("value-quantity", f"120|{UCUM}|mm[Hg]")]) == [coded]
    assert _ids(store, "Observation", [("value-quantity", f"120|{UCUM}|mmHg")]) == []
    # the same in composites and in parameters derived from others
    assert _ids(store, "Observation", [("code-value-quantity", "75367002$120||mmHg")]) == with_unit
    assert _ids(store, "Observation", [("component-code-value-quantity", f"{SYSTOLIC}$120||mmHg")]) == with_unit
    assert _ids(store, "Observation", [("combo-value-quantity", "120||mmHg")]) == with_unit
    assert _ids(store, "Observation", [("combo-code-value-quantity", f"{SCT}|{SYSTOLIC}$120||mmHg")]) == with_unit
    assert _ids(store, "Observation", [("component-code-value-quantity", f"{SYSTOLIC}$120|{UCUM}|mmHg")]) == []


def test_unit_rows_leave_sort_missing_and_totals_alone(store: Store) -> None:
    high, low, none, kg = _create(store, _obs(MM_HG), _obs({**MM_HG, "value": 90}), _obs(None),
                                  _obs({"value": 100, "unit": "kg", "system": UCUM, "code": "kg"}))
    by_value = [m.id for m in store.search(parse_search("Observation", [("_sort", "value-quantity")])).matches]
    assert by_value == [low, kg, high, none]
    by_value = [m.id for m in store.search(parse_search("Observation", [("_sort", "-value-quantity")])).matches]
    assert by_value == [high, kg, low, none]
    assert _ids(store, "Observation", [("value-quantity:missing", "true")]) == [none]
    assert _ids(store, "Observation", [("value-quantity:missing", "false")]) == sorted([high, low, kg])
    assert store.search(parse_search("Observation", [("value-quantity", "ge0||mmHg")])).total == 2
    assert store.search(parse_search("Observation", [("value-quantity", "ge0"), ("_count", "1")])).total == 3


def _reopen(store: Store) -> Store:
    store.close()  # the fixture's close after this one does nothing
    return PostgresStore(store.dsn) if isinstance(store, PostgresStore) else SQLiteStore(store.path)  # type: ignore[attr-defined]


def _unit_tables(store: Store) -> dict[str, list[tuple]]:
    with store._read_cursor() as cur:  # noqa: SLF001
        out = {}
        for table in ("ix_quantity", "ix_composite"):
            cur.execute(f"SELECT * FROM {table}")
            out[table] = sorted(cur.fetchall())
        return out


def test_upgrade_indexes_the_units_of_stored_quantities(store: Store) -> None:
    """Version 13: a database written before unit rows gets them for every stored quantity,
    exactly the rows a write makes now."""
    bp, unit_only, kg = _create(store, _obs(MM_HG), _obs({"value": 120, "unit": "mmHg"}),
                                _obs({"value": 120, "unit": "kg", "system": UCUM, "code": "kg"}))
    written = _unit_tables(store)
    of_bp = "rid = (SELECT rid FROM resource WHERE id = ?)"  # unit_only's code already is its unit
    with store._write_cursor() as cur:  # noqa: SLF001 - put the database back as version 12 left it
        cur.execute(store.dialect_obj.sql(f"DELETE FROM ix_quantity WHERE code = 'mmHg' AND {of_bp}"), [bp])
        assert cur.rowcount == 2  # its value and its component's
        cur.execute(store.dialect_obj.sql(f"DELETE FROM ix_composite WHERE code2 = 'mmHg' AND {of_bp}"), [bp])
        assert cur.rowcount == 2  # code-value-quantity, component-code-value-quantity
        cur.execute("DELETE FROM schema_version WHERE version >= 13")
    assert _ids(store, "Observation", [("value-quantity", "120||mmHg")]) == [unit_only]
    upgraded = _reopen(store)
    try:
        assert upgraded.schema_version() == migrations.latest_version() >= 13
        assert _unit_tables(upgraded) == written
        assert _ids(upgraded, "Observation", [("value-quantity", "120||mmHg")]) == sorted([bp, unit_only])
        assert _ids(upgraded, "Observation", [("code-value-quantity", "75367002$120||mmHg")]) == sorted([bp, unit_only])
        assert _ids(upgraded, "Observation", [("value-quantity", "120||kg")]) == [kg]
    finally:
        upgraded.close()


def test_version_1_database_finds_quantities_by_unit(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    store = SQLiteStore(str(db))
    try:
        assert _ids(store, "Observation", [("component-value-quantity", "120||mmHg")]) == ["bp-1"]
        assert _ids(store, "Observation", [("component-value-quantity", "120||mm[Hg]")]) == ["bp-1"]
        assert _ids(store, "Observation", [("component-code-value-quantity", f"{SYSTOLIC}$gt140||mmHg")]) == ["bp-2"]
        assert _ids(store, "Observation", [("component-value-quantity", f"120|{UCUM}|mmHg")]) == []
    finally:
        store.close()
