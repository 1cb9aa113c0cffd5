"""An old database upgrades on start without losing anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from gpbridge.search.parse import parse_search
from gpbridge.store import migrations
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
