"""Each reconciliation rule on a hand-built two-source scenario (EMIS and SystmOne, same person)."""

from __future__ import annotations

from reconcile_helpers import (
    EMIS,
    TPP,
    allergy,
    concept,
    condition,
    immunisation,
    medication,
    observation,
    statement,
)

from gpbridge.records.concepts import Subsumption
from gpbridge.records.reconcile import detected_issue, provenance_of, reconcile


def test_the_same_allergy_from_two_sources_is_shown_once_with_both_sources() -> None:
    emis = statement(EMIS, allergy(recordedDate="2019-06-10"))
    tpp = statement(TPP, allergy(recordedDate="2021-02-03"))
    result = reconcile([emis, tpp])
    assert len(result.items) == 1 and not result.conflicts
    item = result.items[0]
    assert item.sources == [EMIS.system, TPP.system]
    provenance = provenance_of(item, "2026-11-25T12:00:00+00:00")
    assert [e["what"]["reference"] for e in provenance["entity"]] == [emis.reference, tpp.reference]
    assert provenance["target"] == [{"reference": item.resource["resourceType"] + "/" + item.resource["id"]}]


def test_a_read_code_shared_across_sources_matches_without_snomed() -> None:
    a = statement(EMIS, {"resourceType": "Condition", "code": concept("73211009", read="C10.."),
                         "clinicalStatus": {"coding": [{"code": "active"}]}})
    b = statement(TPP, {"resourceType": "Condition", "code": {"coding": [{"system": "http://read.info/readv2",
                                                                            "code": "C10.."}]},
                        "clinicalStatus": {"coding": [{"code": "active"}]}})
    assert len(reconcile([a, b]).items) == 1


def test_subsumption_makes_general_and_specific_codes_one_problem() -> None:
    def subsumes(system: str, a: str, b: str) -> str:
        return "subsumes" if (a, b) == ("73211009", "44054006") else "not-subsumed"

    general = statement(EMIS, condition("73211009"))  # diabetes mellitus (mapped from Read C10..)
    specific = statement(TPP, condition("44054006"))  # type 2 diabetes mellitus
    assert len(reconcile([general, specific]).items) == 2  # without terminology: two problems
    assert len(reconcile([general, specific], Subsumption(subsumes)).items) == 1


def test_different_concepts_stay_apart() -> None:
    result = reconcile([statement(EMIS, allergy("91936005")), statement(TPP, allergy("300916003"))])
    assert len(result.items) == 2 and not result.conflicts


def test_allergy_against_no_known_allergies_is_a_conflict() -> None:
    penicillin = statement(EMIS, allergy("91936005"))
    none_known = statement(TPP, allergy("716186003"))
    result = reconcile([penicillin, none_known])
    assert len(result.items) == 2
    [conflict] = result.conflicts
    assert conflict.code == "allergy-vs-no-known-allergies"
    issue = detected_issue(conflict, "Patient/p1", "2026-11-25T12:00:00+00:00")
    assert {i["reference"] for i in issue["implicated"]} == {penicillin.reference, none_known.reference}
    assert issue["patient"] == {"reference": "Patient/p1"}


def test_a_resolved_allergy_does_not_contradict_no_known_allergies() -> None:
    result = reconcile([statement(EMIS, allergy(status="resolved")), statement(TPP, allergy("716186003"))])
    assert not result.conflicts


def test_medication_active_in_one_source_and_stopped_in_another_is_a_conflict() -> None:
    active = statement(EMIS, medication(status="active", start="2024-01-01"))
    stopped = statement(TPP, medication(status="stopped", start="2024-01-01", end="2025-05-01"))
    result = reconcile([active, stopped])
    assert len(result.items) == 2
    assert [c.code for c in result.conflicts] == ["medication-status"]


def test_an_old_stopped_course_before_a_new_active_one_is_no_conflict() -> None:
    old = statement(TPP, medication(status="stopped", start="2015-01-01", end="2016-01-01"))
    new = statement(EMIS, medication(status="active", start="2024-01-01"))
    assert not reconcile([old, new]).conflicts


def test_the_same_course_from_two_sources_is_one_item() -> None:
    result = reconcile([statement(EMIS, medication(start="2024-01-01")), statement(TPP, medication(start="2024-02-01"))])
    assert len(result.items) == 1 and not result.conflicts


def test_same_observation_same_time_same_value_merges() -> None:
    result = reconcile([statement(EMIS, observation(value=140)), statement(TPP, observation(value=140.0))])
    assert len(result.items) == 1


def test_same_observation_same_time_different_value_is_a_conflict() -> None:
    result = reconcile([statement(EMIS, observation(value=140)), statement(TPP, observation(value=160))])
    assert len(result.items) == 2
    assert [c.code for c in result.conflicts] == ["observation-value"]


def test_same_observation_on_different_days_is_two_results_and_no_conflict() -> None:
    result = reconcile([statement(EMIS, observation(value=140, when="2025-03-01T09:30:00+00:00")),
                        statement(TPP, observation(value=160, when="2025-04-01T09:30:00+00:00"))])
    assert len(result.items) == 2 and not result.conflicts


def test_problem_resolved_in_one_source_and_active_in_another_is_a_conflict() -> None:
    result = reconcile([statement(EMIS, condition(status="active")), statement(TPP, condition(status="resolved"))])
    assert len(result.items) == 2
    assert [c.code for c in result.conflicts] == ["problem-status"]


def test_the_same_immunisation_on_the_same_day_merges_but_not_on_another_day() -> None:
    same = reconcile([statement(EMIS, immunisation(when="2025-10-01")),
                      statement(TPP, immunisation(when="2025-10-01T14:00:00+01:00"))])
    other = reconcile([statement(EMIS, immunisation(when="2025-10-01")),
                       statement(TPP, immunisation(when="2024-10-01"))])
    assert len(same.items) == 1 and len(other.items) == 2
