"""What travels with problems, consultations and immunisations: linked items and secondary Lists,
a source's consultation structure, immunisation status, and the 1.6 parameter rules around them."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest
from records_helpers import gpc_body, lists_by_code, part, put, resources

from gpbridge.fhir.outcome import FhirError
from gpbridge.fhir.validate import validate
from gpbridge.identity.nhs_number import generate_test_nhs_number
from gpbridge.records.access import TRUSTED
from gpbridge.records.gpc_codes import CONFIDENTIALITY_SYSTEM
from gpbridge.records.structured import structured_record
from gpbridge.store.base import Store

SCT = "http://snomed.info/sct"
UK = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-"
PROBLEMS, MEDS, MISC, IMMUNISATIONS = "717711000000103", "933361000000108", "826501000000100", "1102181000000102"
CONSULTATION, TOPIC, CATEGORY = "325851000000107", "25851000000105", "24781000000107"
PROBLEM_CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                 "code": "problem-list-item"}]}]
NO_SUBSTITUTION = {"allowedBoolean": False}  # UK Core requires substitution
RESTRICTED = {"security": [{"system": CONFIDENTIALITY_SYSTEM, "code": "R"}]}


def _code(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": SCT, "code": code, "display": display}]}


def _status(code: str) -> dict[str, Any]:
    return {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": code}]}


@pytest.fixture(scope="module")
def linked(demo_store: Store) -> str:
    """A patient whose hypertension links a BP reading, an issue of amlodipine, a hidden note and a
    related (inactive) problem; seen once in a consultation the source structured itself."""
    nhs = generate_test_nhs_number(random.Random(61))
    p = "Patient/linked"
    put(demo_store, {"resourceType": "Patient", "id": "linked", "name": [{"family": "Linked"}],
                     "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}]})
    subject = {"reference": p}
    put(demo_store, {"resourceType": "Encounter", "id": "visit-1", "status": "finished", "subject": subject,
                     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                     "type": [{"text": "Surgery consultation"}], "period": {"start": "2025-03-01T09:30:00+00:00"}})
    put(demo_store, {"resourceType": "Observation", "id": "bp-1", "status": "final", "subject": subject,
                     "code": _code("75367002", "Blood pressure"), "effectiveDateTime": "2025-03-01T09:40:00+00:00",
                     "encounter": {"reference": "Encounter/visit-1"}})
    put(demo_store, {"resourceType": "Observation", "id": "note-hidden", "status": "final", "subject": subject,
                     "meta": RESTRICTED, "code": _code("162864005", "Body mass index 30+ - obesity"),
                     "effectiveDateTime": "2025-03-01T09:41:00+00:00"})
    put(demo_store, {"resourceType": "MedicationRequest", "id": "amlo-plan", "status": "active", "intent": "plan",
                     "subject": subject, "medicationCodeableConcept": _code("319283006", "Amlodipine 5mg tablets"),
                     "authoredOn": "2025-03-01", "substitution": NO_SUBSTITUTION})
    put(demo_store, {"resourceType": "MedicationRequest", "id": "amlo-issue", "status": "completed",
                     "intent": "order", "subject": subject, "basedOn": [{"reference": "MedicationRequest/amlo-plan"}],
                     "medicationCodeableConcept": _code("319283006", "Amlodipine 5mg tablets"),
                     "authoredOn": "2025-03-01", "substitution": NO_SUBSTITUTION})
    put(demo_store, {"resourceType": "MedicationStatement", "id": "amlo-statement", "status": "active",
                     "subject": subject, "basedOn": [{"reference": "MedicationRequest/amlo-plan"}],
                     "medicationCodeableConcept": _code("319283006", "Amlodipine 5mg tablets"),
                     "effectivePeriod": {"start": "2025-03-01"}})
    put(demo_store, {"resourceType": "Condition", "id": "old-problem", "subject": subject,
                     "clinicalStatus": _status("inactive"), "category": PROBLEM_CATEGORY,
                     "code": _code("271737000", "Anaemia"), "onsetDateTime": "2019-01-01"})
    put(demo_store, {"resourceType": "Condition", "id": "htn", "subject": subject, "clinicalStatus": _status("active"),
                     "category": PROBLEM_CATEGORY, "code": _code("38341003", "Hypertensive disorder"),
                     "onsetDateTime": "2025-03-01", "extension": [
                         {"url": UK + "ActualProblem", "valueReference": {"reference": "Observation/bp-1"}},
                         {"url": UK + "RelatedClinicalContent",
                          "valueReference": {"reference": "MedicationRequest/amlo-issue"}},
                         {"url": UK + "RelatedClinicalContent",
                          "valueReference": {"reference": "Observation/note-hidden"}},
                         {"url": UK + "RelatedProblemHeader", "extension": [
                             {"url": "type", "valueCode": "sibling"},
                             {"url": "target", "valueReference": {"reference": "Condition/old-problem"}}]}]})
    # the source's own consultation structure: consultation > topic (about hypertension) > "Examination"
    put(demo_store, {"resourceType": "List", "id": "cat-1", "status": "current", "mode": "snapshot",
                     "title": "Examination", "code": _code(CATEGORY, "Category (EHR)"), "subject": subject,
                     "encounter": {"reference": "Encounter/visit-1"},
                     "entry": [{"item": {"reference": "Observation/bp-1"}}]})
    put(demo_store, {"resourceType": "List", "id": "topic-1", "status": "current", "mode": "snapshot",
                     "title": "High blood pressure", "code": _code(TOPIC, "Topic (EHR)"), "subject": subject,
                     "encounter": {"reference": "Encounter/visit-1"},
                     "extension": [{"url": UK + "RelatedProblemHeader", "extension": [
                         {"url": "type", "valueCode": "parent"},
                         {"url": "target", "valueReference": {"reference": "Condition/htn"}}]}],
                     "entry": [{"item": {"reference": "List/cat-1"}}]})
    put(demo_store, {"resourceType": "List", "id": "consultation-1", "status": "current", "mode": "snapshot",
                     "code": _code(CONSULTATION, "Consultation"), "subject": subject,
                     "encounter": {"reference": "Encounter/visit-1"},
                     "entry": [{"item": {"reference": "List/topic-1"}}]})
    put(demo_store, {"resourceType": "Observation", "id": "imm-dissent", "status": "final", "subject": subject,
                     "code": _code("268559007", "No consent for any immunization"),
                     "effectiveDateTime": "2024-10-01"})
    put(demo_store, {"resourceType": "Immunization", "id": "flu-declined", "status": "not-done",
                     "patient": subject, "vaccineCode": _code("1181000221105", "Influenza vaccine"),
                     "statusReason": _code("315640000", "Influenza vaccination declined"),
                     "occurrenceDateTime": "2024-10-01"})
    put(demo_store, {"resourceType": "Immunization", "id": "flu-given", "status": "completed", "patient": subject,
                     "vaccineCode": _code("1181000221105", "Influenza vaccine"), "occurrenceDateTime": "2023-10-01"})
    return nhs


def _by_title(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r.get("title", ""): r for r in resources(bundle, "List")}


def _items(listed: dict[str, Any]) -> set[str]:
    return {e["item"]["reference"] for e in listed.get("entry", ())}


def test_a_problem_brings_its_linked_items_in_secondary_lists(demo_store: Store, linked: str) -> None:
    bundle = structured_record(demo_store, gpc_body(linked, {"name": "includeProblems", "part": [
        part("filterStatus", valueCode="active")]}), access=TRUSTED)
    assert _items(lists_by_code(bundle)[PROBLEMS]) == {"Condition/htn"}
    titles = _by_title(bundle)
    # the related problem misses the filter but comes with it, in a List of its own
    assert _items(titles["Problems related to problems"]) == {"Condition/old-problem"}
    assert _items(titles["Miscellaneous record related to problems"]) == {"Observation/bp-1"}
    # an issue brings its plan and statement; the List of its area names all three
    assert _items(titles["Medications and medical devices related to problems"]) == {
        "MedicationRequest/amlo-issue", "MedicationRequest/amlo-plan", "MedicationStatement/amlo-statement"}
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for listed in resources(bundle, "List"):
        assert _items(listed) <= present
    # the confidential note is withheld, warned about, and no longer named by the problem
    assert "Observation/note-hidden" not in present
    warned = titles["Miscellaneous record related to problems"]["extension"][0]["valueCodeableConcept"]
    assert warned["coding"][0]["code"] == "confidential-items"
    problem = next(c for c in resources(bundle, "Condition") if c["id"] == "htn")
    assert "note-hidden" not in str(problem["extension"])


def test_a_sources_consultation_structure_is_kept(demo_store: Store, linked: str) -> None:
    bundle = structured_record(demo_store, gpc_body(linked, {"name": "includeConsultations"}), access=TRUSTED)
    lists = [r for r in resources(bundle, "List") if "encounter" in r]
    by_code = {code: [r for r in lists if r["code"]["coding"][0]["code"] == code]
               for code in (CONSULTATION, TOPIC, CATEGORY)}
    assert [len(v) for v in by_code.values()] == [1, 1, 1]
    consultation, topic, category = (v[0] for v in by_code.values())
    assert consultation["title"] == "Surgery consultation"
    assert _items(consultation) == {f"List/{topic['id']}"}
    assert topic["title"] == "High blood pressure"
    header = topic["extension"][0]
    assert header["url"] == UK + "RelatedProblemHeader"
    assert header["extension"][1]["valueReference"] == {"reference": "Condition/htn"}
    assert _items(topic) == {f"List/{category['id']}"}
    assert (category["title"], _items(category)) == ("Examination", {"Observation/bp-1"})
    assert {c["id"] for c in resources(bundle, "Condition")} == {"htn"}  # the topic's problem travels


def test_linked_and_structure_lists_are_valid_uk_core(demo_store: Store, linked: str) -> None:
    bundle = structured_record(demo_store, gpc_body(linked, {"name": "includeProblems"},
                                                    {"name": "includeConsultations"}), access=TRUSTED)
    errors = [
        f"{r['resourceType']}/{r['id']}: {i.diagnostics}"
        for e in bundle["entry"] if (r := e["resource"])
        for i in validate(r, profiles=r["meta"]["profile"][:1]) if i.severity in ("error", "fatal")
    ]
    assert errors == []


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([], {"Immunization/flu-given", "Observation/imm-dissent"}),
        ([part("includeNotGiven", valueBoolean=True)],
         {"Immunization/flu-given", "Immunization/flu-declined", "Observation/imm-dissent"}),
        ([part("includeStatus", valueBoolean=False)], {"Immunization/flu-given"}),
    ],
)
def test_immunisations_not_given_and_status(
    demo_store: Store, linked: str, parts: list[dict[str, Any]], expected: set[str]
) -> None:
    bundle = structured_record(demo_store, gpc_body(linked, {"name": "includeImmunisations", "part": parts}), access=TRUSTED)
    assert _items(lists_by_code(bundle)[IMMUNISATIONS]) == expected


def test_include_problems_repeats_as_a_union(demo_store: Store, linked: str) -> None:
    bundle = structured_record(demo_store, gpc_body(
        linked, {"name": "includeProblems", "part": [part("filterStatus", valueCode="active")]},
        {"name": "includeProblems", "part": [part("filterStatus", valueCode="inactive")]}), access=TRUSTED)
    assert _items(lists_by_code(bundle)[PROBLEMS]) == {"Condition/htn", "Condition/old-problem"}


_TODAY = date.today()


@pytest.mark.parametrize(
    "parameters",
    [
        # partial dates, and dates with a time, are refused
        [{"name": "includeMedication", "part": [part("medicationSearchFromDate", valueDate="2020-01")]}],
        [{"name": "includeUncategorisedData", "part": [
            part("uncategorisedDataSearchPeriod", valuePeriod={"start": "2020-01-01T10:00:00Z"})]}],
        # a period may not end in the future; a diary date may not be in the past
        [{"name": "includeReferrals", "part": [part("referralSearchPeriod", valuePeriod={
            "start": "2020-01-01", "end": (_TODAY + timedelta(days=1)).isoformat()})]}],
        [{"name": "includeDiaryEntries", "part": [
            part("diaryEntriesSearchDate", valueDate=(_TODAY - timedelta(days=1)).isoformat())]}],
        # GP Connect's "not permitted combinations"
        [{"name": "includeConsultations"}, {"name": "includeProblems", "part": [
            part("filterStatus", valueCode="active")]}],
        [{"name": "includeProblems"}, {"name": "includeImmunisations", "part": [
            part("includeNotGiven", valueBoolean=True)]}],
    ],
)
def test_the_1_6_parameter_rules(demo_store: Store, linked: str, parameters: list[dict[str, Any]]) -> None:
    with pytest.raises(FhirError) as caught:
        structured_record(demo_store, gpc_body(linked, *parameters), access=TRUSTED)
    assert caught.value.status == 422
    assert caught.value.issues[0].details["coding"][0]["code"] == "INVALID_PARAMETER"  # type: ignore[index]


def test_a_diary_date_of_today_and_permitted_combinations_are_accepted(demo_store: Store, linked: str) -> None:
    today = [part("diaryEntriesSearchDate", valueDate=_TODAY.isoformat())]
    assert structured_record(demo_store, gpc_body(linked, {"name": "includeDiaryEntries", "part": today}), access=TRUSTED)
    bundle = structured_record(demo_store, gpc_body(
        linked, {"name": "includeConsultations"}, {"name": "includeProblems"}, {"name": "includeDiaryEntries"},
        {"name": "includeImmunisations"}, {"name": "includeMedication", "part": [
            part("includePrescriptionIssues", valueBoolean=False)]}), access=TRUSTED)
    assert {PROBLEMS, IMMUNISATIONS, MEDS} <= set(lists_by_code(bundle))


def test_every_section_lists_the_problems_linked_to_its_entries(demo_store: Store, linked: str) -> None:
    bundle = structured_record(demo_store, gpc_body(linked, {"name": "includeMedication"},
                                                    {"name": "includeUncategorisedData"}), access=TRUSTED)
    titles = _by_title(bundle)
    assert _items(titles["Problems related to Medications and medical devices"]) == {"Condition/htn"}
    assert _items(titles["Problems related to Miscellaneous record"]) == {"Condition/htn"}
    assert "Condition/htn" in {f"Condition/{c['id']}" for c in resources(bundle, "Condition")}


def test_medication_search_date_keeps_ongoing_repeats_and_drops_old_acutes(demo_store: Store) -> None:
    nhs = generate_test_nhs_number(random.Random(67))
    put(demo_store, {"resourceType": "Patient", "id": "meds-dates", "name": [{"family": "Dates"}],
                     "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}]})
    subject = {"reference": "Patient/meds-dates"}
    course = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
    for name, kind, start, end in (("acute-old", "acute", "2020-01-01", None),
                                   ("repeat-old", "continuous", "2020-01-01", None),
                                   ("ended-old", "continuous", "2020-01-01", "2021-01-01"),
                                   ("acute-new", "acute", "2025-01-10", None)):
        put(demo_store, {"resourceType": "MedicationRequest", "id": f"{name}-plan", "status": "active",
                         "intent": "plan", "subject": subject, "substitution": NO_SUBSTITUTION,
                         "courseOfTherapyType": {"coding": [{"system": course, "code": kind}]},
                         "medicationCodeableConcept": _code("319283006", "Amlodipine 5mg tablets")})
        put(demo_store, {"resourceType": "MedicationStatement", "id": name, "status": "active", "subject": subject,
                         "basedOn": [{"reference": f"MedicationRequest/{name}-plan"}],
                         "medicationCodeableConcept": _code("319283006", "Amlodipine 5mg tablets"),
                         "effectivePeriod": {"start": start, **({"end": end} if end else {})}})
    bundle = structured_record(demo_store, gpc_body(nhs, {"name": "includeMedication", "part": [
        part("medicationSearchFromDate", valueDate="2025-01-01")]}), access=TRUSTED)
    assert _items(lists_by_code(bundle)[MEDS]) == {"MedicationStatement/repeat-old", "MedicationStatement/acute-new"}
