"""Parameters that are unions of others (combo-*, phonetic) get no rows of their own and search
exactly as before, through their sources' rows."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gpbridge.search.derived import derived_params
from gpbridge.search.parse import parse_search
from gpbridge.store.index_rows import INDEX_TABLES
from gpbridge.store.sqlite import SQLiteStore

SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
FIXTURE = Path(__file__).with_name("fixtures") / "schema_v1.db"


def _bp(systolic: float, diastolic: float) -> dict[str, Any]:
    def component(code: str, value: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": SCT, "code": code}]},
                "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}  # fmt: skip

    return {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": SCT, "code": "75367002"}]},
            "component": [component("271649006", systolic), component("271650006", diastolic)]}  # fmt: skip


def _weight(kg: float | None) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                           "code": {"coding": [{"system": SCT, "code": "27113001"}]}}  # fmt: skip
    if kg is not None:
        obs["valueQuantity"] = {"value": kg, "unit": "kg", "system": UCUM, "code": "kg"}
    return obs


def _ids(store: Any, type_: str, params: list[tuple[str, str]]) -> list[str]:
    return sorted(m.id for m in store.search(parse_search(type_, params)).matches)


def _derived_row_count(store: Any) -> int:
    derived = [pid for key, pid in store.pids.items() if key in derived_params()]
    marks = ", ".join("?" for _ in derived)
    total = 0
    with store._read_cursor() as cur:
        for table, _ in INDEX_TABLES:
            cur.execute(store.dialect_obj.sql(f"SELECT count(*) FROM {table} WHERE pid IN ({marks})"), derived)
            total += cur.fetchone()[0]
    return total


def test_the_spec_yields_the_expected_unions() -> None:
    derived = derived_params()
    assert derived[("Observation", "combo-code")] == ("code", "component-code")
    assert set(derived[("Observation", "combo-code-value-quantity")]) == {"code-value-quantity",
                                                                          "component-code-value-quantity"}  # fmt: skip
    assert derived[("Patient", "phonetic")] == ("name",)
    # composites with other components, and parameters narrower than another, are not unions
    assert ("Observation", "code-value-concept") not in derived and ("Observation", "code") not in derived
    from gpbridge.search import params as registry

    assert all(registry.param(t, c)["type"] != "reference" for t, c in derived)  # type: ignore[index]


def test_combo_searches_answer_from_source_rows(store: Any) -> None:
    with store.session() as s:
        bp = s.create(_bp(150, 85)).resource.id
        heavy = s.create(_weight(90)).resource.id
        unknown = s.create(_weight(None)).resource.id
    assert _derived_row_count(store) == 0
    assert _ids(store, "Observation", [("combo-code", f"{SCT}|75367002")]) == [bp]  # Observation.code
    assert _ids(store, "Observation", [("combo-code", "271650006")]) == [bp]  # a component's code
    assert _ids(store, "Observation", [("combo-code", "27113001,271649006")]) == sorted([bp, heavy, unknown])
    assert _ids(store, "Observation", [("combo-value-quantity", "gt88")]) == sorted([bp, heavy])
    assert _ids(store, "Observation", [("combo-value-quantity", "lt86")]) == [bp]
    assert _ids(store, "Observation", [("combo-code-value-quantity", "271649006$gt140")]) == [bp]
    assert _ids(store, "Observation", [("combo-code-value-quantity", "27113001$gt80")]) == [heavy]
    assert _ids(store, "Observation", [("combo-value-quantity:missing", "true")]) == [unknown]
    page = store.search(parse_search("Observation", [("_sort", "combo-value-quantity")]))
    assert [m.id for m in page.matches][:2] == [bp, heavy]  # bp's lowest value (85) sorts first


def test_phonetic_answers_from_name(store: Any) -> None:
    patient = {"resourceType": "Patient", "name": [{"family": "Featherstonehaugh", "given": ["Ada"]}]}
    with store.session() as s:
        pid = s.create(patient).resource.id
    assert _ids(store, "Patient", [("phonetic", "feather")]) == [pid]
    assert _ids(store, "Patient", [("phonetic:exact", "Ada")]) == [pid]


def test_upgrade_drops_derived_rows_and_searches_alike(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    store = SQLiteStore(str(db))
    try:
        assert _derived_row_count(store) == 0
        assert len(_ids(store, "Observation", [("combo-code", "271649006")])) == 3
        assert _ids(store, "Observation", [("combo-code-value-quantity", "271649006$gt140")]) == ["bp-2"]
    finally:
        store.close()
