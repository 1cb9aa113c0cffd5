"""What the structured record withholds, and how it says so: sensitive patients, dissent,
confidential entries, unfiled results and records still in transit."""

from __future__ import annotations

from typing import Any

import pytest
from records_helpers import DEMO_NHS, gpc_body, lists_by_code, put, resources

from gpbridge.fhir.outcome import FhirError
from gpbridge.identity.nhs_number import generate_test_nhs_number
from gpbridge.records.access import TRUSTED
from gpbridge.records.gpc_codes import CONFIDENTIALITY_SYSTEM, RECORD_STATE_SYSTEM
from gpbridge.records.patient_record import find_patients
from gpbridge.records.structured import structured_record
from gpbridge.store.base import Store

PROBLEMS, INVESTIGATIONS = "717711000000103", "887191000000108"
RESTRICTED = {"security": [{"system": CONFIDENTIALITY_SYSTEM, "code": "R"}]}


def _patient(store: Store, id_: str, nhs: str, **extra: Any) -> dict[str, Any]:
    return put(store, {"resourceType": "Patient", "id": id_, "identifier": [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}], "name": [{"family": "Test"}], **extra})


def _warnings(listed: dict[str, Any]) -> set[str]:
    return {e["valueCodeableConcept"]["coding"][0]["code"] for e in listed.get("extension", ())}


def test_a_sensitive_patient_is_not_found(demo_store: Store) -> None:
    import random

    nhs = generate_test_nhs_number(random.Random(7))
    _patient(demo_store, "sensitive", nhs, meta=RESTRICTED)
    with pytest.raises(FhirError) as caught:
        structured_record(demo_store, gpc_body(nhs, {"name": "includeMedication"}), access=TRUSTED)
    assert caught.value.status == 404
    assert caught.value.issues[0].details["coding"][0]["code"] == "PATIENT_NOT_FOUND"  # type: ignore[index]


@pytest.mark.parametrize("state", [{"deceasedDateTime": "2024-02-01T10:00:00+00:00"}, {"active": False}])
def test_deceased_and_inactive_patients_are_not_found(demo_store: Store, state: dict[str, Any]) -> None:
    import random

    nhs = generate_test_nhs_number(random.Random(13 + len(state) + len(str(state))))
    _patient(demo_store, f"gone-{len(str(state))}", nhs, **state)
    with pytest.raises(FhirError) as caught:
        structured_record(demo_store, gpc_body(nhs, {"name": "includeMedication"}), access=TRUSTED)
    assert caught.value.status == 404
    assert caught.value.issues[0].details["coding"][0]["code"] == "PATIENT_NOT_FOUND"  # type: ignore[index]


def test_dissent_is_refused(demo_store: Store) -> None:
    import random

    nhs = generate_test_nhs_number(random.Random(11))
    _patient(demo_store, "dissenter", nhs)
    put(demo_store, {"resourceType": "Consent", "id": "dissent-1", "status": "active",
                     "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                           "code": "patient-privacy"}]},
                     "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                     "patient": {"reference": "Patient/dissenter"}, "provision": {"type": "deny"}})
    with pytest.raises(FhirError) as caught:
        structured_record(demo_store, gpc_body(nhs, {"name": "includeMedication"}), access=TRUSTED)
    assert caught.value.status == 403
    assert caught.value.issues[0].details["coding"][0]["code"] == "NO_PATIENT_CONSENT"  # type: ignore[index]


def test_withheld_entries_are_warned_about(demo_store: Store) -> None:
    patient = find_patients(demo_store, DEMO_NHS)[0]
    subject = {"reference": f"Patient/{patient['id']}"}
    put(demo_store, {"resourceType": "Condition", "id": "hidden-problem", "meta": RESTRICTED, "subject": subject,
                     "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                               "code": "problem-list-item"}]}],
                     "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]}})
    put(demo_store, {"resourceType": "DiagnosticReport", "id": "unfiled", "status": "preliminary", "subject": subject,
                     "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1000971000000107"}]}})
    bundle = structured_record(demo_store, gpc_body(DEMO_NHS, {"name": "includeProblems"},
                                                    {"name": "includeInvestigations"}), access=TRUSTED)
    lists = lists_by_code(bundle)
    assert _warnings(lists[PROBLEMS]) == {"confidential-items"}
    assert _warnings(lists[INVESTIGATIONS]) == {"data-awaiting-filing"}
    ids = {r["id"] for r in resources(bundle, "Condition") + resources(bundle, "DiagnosticReport")}
    assert not {"hidden-problem", "unfiled"} & ids


def test_a_record_in_transit_warns_on_every_list(demo_store: Store) -> None:
    patient = find_patients(demo_store, DEMO_NHS)[0]
    patient["meta"] = {"tag": [{"system": RECORD_STATE_SYSTEM, "code": "data-in-transit"}]}
    put(demo_store, patient)
    bundle = structured_record(demo_store, gpc_body(DEMO_NHS, {"name": "includeImmunisations"},
                                                    {"name": "includeReferrals"}), access=TRUSTED)
    assert all("data-in-transit" in _warnings(listed) for listed in lists_by_code(bundle).values())


def test_a_referenced_medication_travels_with_the_statement(demo_store: Store) -> None:
    patient = find_patients(demo_store, DEMO_NHS)[0]
    put(demo_store, {"resourceType": "Medication", "id": "gp2gp-med-1", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "318420003", "display": "Amlodipine 5mg tablets"}]}})
    put(demo_store, {"resourceType": "MedicationStatement", "id": "gp2gp-statement-1", "status": "active",
                     "medicationReference": {"reference": "Medication/gp2gp-med-1"},
                     "subject": {"reference": f"Patient/{patient['id']}"}, "effectivePeriod": {"start": "2024-01-01"}})
    bundle = structured_record(demo_store, gpc_body(DEMO_NHS, {"name": "includeMedication"}), access=TRUSTED)
    medications = resources(bundle, "Medication")
    assert [m["id"] for m in medications] == ["gp2gp-med-1"]
    assert medications[0]["meta"]["profile"][0].endswith("UKCore-Medication")
