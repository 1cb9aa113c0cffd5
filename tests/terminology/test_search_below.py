"""Search with the closure: ``Condition?code:below=http://snomed.info/sct|73211009`` finds every
kind of diabetes (and ``:above`` the generalisations, ``:in`` a value set's members).

Runs against a real SQLiteStore with the fixture SNOMED CT release and a handful of Conditions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tx_fixtures import FHIR, RF2, ensure_terminology_schema

from gpbridge.search.parse import parse_search
from gpbridge.store.sqlite import SQLiteStore
from gpbridge.terminology.fhirload import load_fhir_terminology
from gpbridge.terminology.rf2 import load_snomed_rf2

SCT = "http://snomed.info/sct"
CONDITIONS = {
    "dm": "73211009",  # diabetes mellitus
    "t1": "46635009",  # type 1
    "t2": "44054006",  # type 2
    "gdm": "11687002",  # gestational (also a disorder of pregnancy)
    "renal": "127013003",  # diabetic renal disease (also a kidney disease)
    "asthma": "195967001",
    "htn": "38341003",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    s = SQLiteStore(str(tmp_path / "search.db"))
    ensure_terminology_schema(s)
    load_snomed_rf2(s, RF2)
    load_fhir_terminology(s, FHIR)
    with s.session() as session:
        for id_, code in CONDITIONS.items():
            session.create({"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                            "code": {"coding": [{"system": SCT, "code": code}]}}, id_=id_)
        # the same code in another system must not match a SNOMED CT :below
        session.create({"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                        "code": {"coding": [{"system": "http://example.org/local", "code": "73211009"}]}},
                       id_="local")
    yield s
    s.close()


def ids(store: Any, *params: tuple[str, str]) -> set[str]:
    return {m.id for m in store.search(parse_search("Condition", list(params))).matches}


def test_below_finds_every_kind_of_diabetes(store: Any) -> None:
    assert ids(store, ("code:below", f"{SCT}|73211009")) == {"dm", "t1", "t2", "gdm", "renal"}


def test_below_follows_every_parent(store: Any) -> None:
    # diabetic renal disease is a kidney disease too; gestational diabetes a disorder of pregnancy
    assert ids(store, ("code:below", f"{SCT}|90708001")) == {"renal"}
    assert ids(store, ("code:below", f"{SCT}|173300003")) == {"gdm"}
    assert ids(store, ("code:below", f"{SCT}|64572001")) == set(CONDITIONS)


def test_above_finds_generalisations(store: Any) -> None:
    assert ids(store, ("code:above", f"{SCT}|127013003")) == {"dm", "renal"}


def test_below_combines_with_other_parameters(store: Any) -> None:
    assert ids(store, ("code:below", f"{SCT}|73211009"), ("_id", "t1,asthma")) == {"t1"}


def test_in_uses_the_value_set(store: Any) -> None:
    vs = "https://fhir.example.org/ValueSet/diabetes-disorders"  # diabetes minus gestational
    assert ids(store, ("code:in", vs)) == {"dm", "t1", "t2", "renal"}
    assert ids(store, ("code:not-in", vs)) >= {"asthma", "htn", "gdm"}
