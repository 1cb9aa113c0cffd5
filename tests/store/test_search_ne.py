"""The ``ne`` prefix (FHIR R4 search, "prefixes"): a resource matches when it has a value whose
range the search value's range does not fully contain. A resource without the element never
matches ``ne``; only ``:missing=true`` finds those. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store

SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
SYSTOLIC, DIASTOLIC = "271649006", "271650006"


def _ids(store: Store, type_: str, params: list[tuple[str, str]]) -> list[str]:
    return sorted(m.id for m in store.search(parse_search(type_, params)).matches)


def _observation(when: str | None = None, value: float | None = None) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                           "code": {"coding": [{"system": SCT, "code": "75367002"}]}}  # fmt: skip
    if when is not None:
        obs["effectiveDateTime"] = when
    if value is not None:
        obs["valueQuantity"] = {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
    return obs


def _bp(systolic: float | None) -> dict[str, Any]:
    def component(code: str, value: float | None) -> dict[str, Any]:
        part: dict[str, Any] = {"code": {"coding": [{"system": SCT, "code": code}]}}
        if value is not None:
            part["valueQuantity"] = {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
        return part

    return {**_observation(), "component": [component(SYSTOLIC, systolic), component(DIASTOLIC, 80)]}


@pytest.fixture
def made(store: Store) -> dict[str, str]:
    with store.session() as s:
        def create(resource: dict[str, Any]) -> str:
            return s.create(resource).resource.id

        return {
            "born_1980": create({"resourceType": "Patient", "birthDate": "1980-05-15"}),
            "born_1990": create({"resourceType": "Patient", "birthDate": "1990-01-01"}),
            "unborn": create({"resourceType": "Patient"}),
            "obs_2020": create(_observation("2020-03-01", 120)),
            "obs_2021": create(_observation("2021-06-01", 80)),
            "obs_bare": create(_observation()),
            "bp_120": create(_bp(120)),
            "bp_150": create(_bp(150)),
            "bp_unknown": create(_bp(None)),
            "risk_half": create({"resourceType": "RiskAssessment", "status": "final",
                                 "subject": {"reference": "Patient/x"}, "prediction": [{"probabilityDecimal": 0.5}]}),
            "risk_tenth": create({"resourceType": "RiskAssessment", "status": "final",
                                  "subject": {"reference": "Patient/x"}, "prediction": [{"probabilityDecimal": 0.1}]}),
            "risk_none": create({"resourceType": "RiskAssessment", "status": "final",
                                 "subject": {"reference": "Patient/x"}}),
        }  # fmt: skip


def test_ne_on_dates_needs_a_value(store: Store, made: dict[str, str]) -> None:
    assert _ids(store, "Patient", [("birthdate", "ne1980-05-15")]) == [made["born_1990"]]
    assert _ids(store, "Patient", [("birthdate", "ne1980")]) == [made["born_1990"]]
    assert _ids(store, "Observation", [("date", "ne2020")]) == [made["obs_2021"]]
    # the resources without a value are what :missing=true finds
    assert _ids(store, "Patient", [("birthdate:missing", "true")]) == [made["unborn"]]
    assert made["obs_bare"] in _ids(store, "Observation", [("date:missing", "true")])


def test_ne_on_quantities_and_numbers_needs_a_value(store: Store, made: dict[str, str]) -> None:
    assert _ids(store, "Observation", [("value-quantity", "ne120")]) == [made["obs_2021"]]
    assert _ids(store, "Observation", [("value-quantity", f"ne120|{UCUM}|mm[Hg]")]) == [made["obs_2021"]]
    assert _ids(store, "Observation", [("value-quantity", "ne80|http://other|mm[Hg]")]) == []  # no value in that unit
    assert _ids(store, "RiskAssessment", [("probability", "ne0.5")]) == [made["risk_tenth"]]


def test_ne_in_a_composite_needs_the_pair(store: Store, made: dict[str, str]) -> None:
    """``code$ne120``: a systolic value other than 120, not "any Observation without a 120 systolic"."""
    assert _ids(store, "Observation", [("component-code-value-quantity", f"{SYSTOLIC}$ne120")]) == [made["bp_150"]]
    assert _ids(store, "Observation", [("component-code-value-quantity", f"{SCT}|{DIASTOLIC}$ne80")]) == []
    assert _ids(store, "Observation", [("combo-code-value-quantity", f"{SYSTOLIC}$ne150")]) == [made["bp_120"]]


def test_ne_ors_with_other_values_and_ands_with_other_clauses(store: Store, made: dict[str, str]) -> None:
    assert _ids(store, "Observation", [("date", "ne2020,2020")]) == sorted([made["obs_2020"], made["obs_2021"]])
    assert _ids(store, "Observation", [("date", "ne2020"), ("value-quantity", "ne120")]) == [made["obs_2021"]]
    assert _ids(store, "Observation", [("date", "ne2021"), ("value-quantity", "lt100")]) == []
    assert _ids(store, "Observation", [("code", "75367002"), ("date", "ne2021")]) == [made["obs_2020"]]
    # every resource has a lastUpdated: ne there is a plain complement
    assert len(_ids(store, "Patient", [("_lastUpdated", "ne2000-01-01")])) == 3
