"""Operations that assemble a record ($summary, $gpc.getstructuredrecord) with security on: they
answer exactly what searches of the types they return would — a role without clinical access
(admin, R8008) is refused with 403 and an audited refusal, and confidential items, dissent and
sensitive patients are handled as a search handles them."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.records.gpc_codes import SPINE_ERROR_SYSTEM
from gpbridge.security.audit import MemoryAuditSink
from gpbridge.security.labels import CONFIDENTIALITY

SCT = "http://snomed.info/sct"
GPC = "/fhir/Patient/$gpc.getstructuredrecord"
JSON = {"content-type": "application/fhir+json"}
# the NHS numbers of ``conftest.world``'s patients used here (not imported: each test folder has a conftest)
NHS_NUMBERS = {"pa": "9990000018", "pc": "9990000069", "pd": "9990000050"}


def _coded(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": SCT, "code": code, "display": display}]}


def _problem(id_: str, patient: str, display: str, *, confidential: bool = False) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition", "id": id_, "subject": {"reference": f"Patient/{patient}"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "problem-list-item"}]}],
        "code": _coded("38341003", display), "recordedDate": "2024-01-01",
    }  # fmt: skip
    if confidential:
        res["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}
    return res


def clinical_entries() -> list[dict[str, Any]]:
    """A medication, an allergy and problems for the world's patients (``conftest.world``)."""
    return [
        {"resourceType": "MedicationStatement", "id": "med-pa", "status": "active",
         "subject": {"reference": "Patient/pa"}, "medicationCodeableConcept": _coded("319283006", "Amlodipine 5mg tablets"),
         "effectiveDateTime": "2024-01-01"},
        {"resourceType": "AllergyIntolerance", "id": "allergy-pa", "patient": {"reference": "Patient/pa"},
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                        "code": "active"}]},
         "code": _coded("91936005", "Allergy to penicillin"), "recordedDate": "2023-04-02"},
        _problem("problem-pa", "pa", "Essential hypertension"),
        _problem("problem-pc", "pc", "Asthma"),
        _problem("problem-pc-secret", "pc", "Secret diagnosis", confidential=True),
        _problem("problem-ps", "ps", "Sensitive patient's problem"),
        _problem("problem-pd", "pd", "Dissenting patient's problem"),
    ]  # fmt: skip


@pytest.fixture
def api(secure_settings: Any, secure_store: Any) -> Iterator[tuple[TestClient, MemoryAuditSink]]:
    secure_store.bulk_load(iter(clinical_entries()))
    sink = MemoryAuditSink()
    app = create_app(secure_settings.with_(rate_limit_per_minute=0), secure_store, audit=sink)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, sink


def _gpc_body(patient: str, *sections: str) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "patientNHSNumber",
         "valueIdentifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS_NUMBERS[patient]}},
        *({"name": s} for s in sections)]}  # fmt: skip


def _ids(bundle: dict[str, Any]) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])}


def _spine_code(outcome: dict[str, Any]) -> str:
    coding = outcome["issue"][0]["details"]["coding"][0]
    assert coding["system"] == SPINE_ERROR_SYSTEM
    return str(coding["code"])


# ------------------------------------------------------------------ a role without clinical access


def test_admin_gets_403_from_summary_and_the_refusal_is_audited(api: Any, bearer: Any) -> None:
    client, sink = api
    admin = bearer(user="admin-a")
    assert client.get("/fhir/AllergyIntolerance?patient=Patient/pa", headers=admin).status_code == 403
    before = len(sink.records)
    response = client.get("/fhir/Patient/pa/$summary", headers=admin)
    assert response.status_code == 403, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "R8008" in outcome["issue"][0]["diagnostics"]
    for clinical in ("Amlodipine", "penicillin", "hypertension"):
        assert clinical not in response.text
    # one record for the request: the refusal, naming the patient and the type refused
    (refusal,) = sink.records[before:]
    assert not refusal.allowed and refusal.interaction == "operation:summary"
    assert refusal.patient == "Patient/pa" and refusal.resource_type == "AllergyIntolerance"
    assert refusal.principal == "555000000199"


def test_admin_gets_gp_connect_access_denied_from_the_structured_record(api: Any, bearer: Any) -> None:
    client, sink = api
    before = len(sink.records)
    response = client.post(GPC, json=_gpc_body("pa", "includeMedication"), headers=bearer(user="admin-a") | JSON)
    assert response.status_code == 403, response.text
    assert _spine_code(response.json()) == "ACCESS_DENIED"
    assert "Amlodipine" not in response.text
    refusals = [r for r in sink.records[before:] if not r.allowed]
    assert [(r.interaction, r.patient) for r in refusals] == [("operation:gpc.getstructuredrecord", "Patient/pa")]
    assert not [r for r in sink.records[before:] if r.allowed]  # nothing was let through


def test_a_narrow_scope_is_asked_per_type_too(api: Any, bearer: Any) -> None:
    client, _ = api
    narrow = bearer(user="clinician-a", scope="user/Patient.read")
    assert client.get("/fhir/Patient/pa", headers=narrow).status_code == 200
    response = client.get("/fhir/Patient/pa/$summary", headers=narrow)
    assert response.status_code == 403 and "scope does not grant" in response.text


# ------------------------------------------------------- the same item rules as a search


def test_the_registered_practice_gets_the_whole_summary_in_one_audit_record(api: Any, bearer: Any) -> None:
    client, sink = api
    before = len(sink.records)
    response = client.get("/fhir/Patient/pa/$summary", headers=bearer(user="clinician-a"))
    assert response.status_code == 200, response.text
    assert {"MedicationStatement/med-pa", "AllergyIntolerance/allergy-pa", "Condition/problem-pa"} <= _ids(response.json())
    (allowed,) = sink.records[before:]
    assert allowed.allowed and allowed.patient == "Patient/pa" and allowed.interaction == "operation:summary"


def test_a_care_relationship_does_not_see_confidential_items(api: Any, bearer: Any) -> None:
    client, _ = api
    a = bearer(user="clinician-a")
    searched = client.get("/fhir/Condition?patient=Patient/pc", headers=a).json()
    summary = client.get("/fhir/Patient/pc/$summary", headers=a).json()
    conditions = {i for i in _ids(summary) if i.startswith("Condition/")}
    assert conditions == {f"Condition/{i}" for i in {e["resource"]["id"] for e in searched["entry"]}}
    assert conditions == {"Condition/problem-pc"}
    structured = client.post(GPC, json=_gpc_body("pc", "includeProblems"), headers=a | JSON).json()
    assert "Condition/problem-pc-secret" not in _ids(structured)
    problems = next(e["resource"] for e in structured["entry"]
                    if e["resource"]["resourceType"] == "List" and e["resource"].get("title") == "Problems")
    warnings = {x["valueCodeableConcept"]["coding"][0]["code"] for x in problems.get("extension", ())}
    assert "confidential-items" in warnings  # withheld by the policy, and still said so


def test_a_sensitive_patients_demographics_are_withheld_from_the_summary(api: Any, bearer: Any) -> None:
    client, _ = api
    response = client.get("/fhir/Patient/ps/$summary", headers=bearer(user="clinician-a"))
    assert response.status_code == 200, response.text
    bundle = response.json()
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert "address" not in patient and "telecom" not in patient and "generalPractitioner" not in patient
    assert any(s["code"] == "REDACTED" for s in patient["meta"]["security"])
    assert "practice-b" not in response.text  # nor named as the document's author
    assert "Condition/problem-ps" in _ids(bundle)


def test_dissent_outside_the_registered_practice_is_no_patient_consent(api: Any, bearer: Any) -> None:
    client, sink = api
    response = client.post(GPC, json=_gpc_body("pd", "includeProblems"), headers=bearer(user="clinician-a") | JSON)
    assert response.status_code == 403
    assert _spine_code(response.json()) == "NO_PATIENT_CONSENT"
    assert "Dissenting" not in response.text
    assert not sink.records[-1].allowed and sink.records[-1].patient == "Patient/pd"
    assert client.get("/fhir/Patient/pd/$summary", headers=bearer(user="clinician-a")).status_code == 403


def test_no_relationship_is_gp_connect_access_denied(api: Any, bearer: Any) -> None:
    client, _ = api
    response = client.post(GPC, json=_gpc_body("pa", "includeMedication"), headers=bearer(user="clinician-b") | JSON)
    assert response.status_code == 403 and _spine_code(response.json()) == "ACCESS_DENIED"


def test_the_record_loader_has_no_default_access() -> None:
    """Every way into a patient's record names its access: none can forget to ask the policy."""
    from gpbridge.records.joined import reconciled_record
    from gpbridge.records.patient_record import load_person, load_record
    from gpbridge.records.structured import structured_record, structured_record_json
    from gpbridge.records.summary import summary_bundle

    for fn in (load_record, load_person, reconciled_record, summary_bundle, structured_record, structured_record_json):
        assert inspect.signature(fn).parameters["access"].default is inspect.Parameter.empty, fn.__name__


def test_linked_sources_are_judged_as_a_search_would_bar_an_unregistered_copy() -> None:
    """A hospital's copy of the person (no registered practice of its own) is shown under the
    person's relationship, as another organisation's data; a source registered elsewhere, and a
    patient who is not one of the person's sources, are judged on their own (hidden here)."""
    from gpbridge.config import Settings
    from gpbridge.security.policy import RequestContext
    from gpbridge.security.principal import Principal
    from gpbridge.security.record_access import PolicyRecordAccess
    from gpbridge.security.rules import PatientFacts

    facts = {
        "Patient/gp": PatientFacts("Patient/gp", "1", registered_ods="Y12345"),
        "Patient/copy": PatientFacts("Patient/copy", "1"),
        "Patient/elsewhere": PatientFacts("Patient/elsewhere", "1", registered_ods="Y23456"),
        "Patient/stranger": PatientFacts("Patient/stranger", "2"),
    }

    class Directory:
        def facts(self, ref: str) -> PatientFacts | None:
            return facts.get(ref)

    def obs(id_: str, patient: str, *, confidential: bool = False) -> dict[str, Any]:
        res: dict[str, Any] = {"resourceType": "Observation", "id": id_, "subject": {"reference": patient}}
        if confidential:
            res["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}
        return res

    who = Principal("u", roles=("R8000",), organisation="Y12345", scopes=("user/*.read",))
    context = RequestContext(Settings(insecure_dev=False), principal=who, patients=Directory())
    access = PolicyRecordAccess(context)
    access.open({"resourceType": "Patient", "id": "gp"}, ["Observation"],
                ["Patient/gp", "Patient/copy", "Patient/elsewhere"])
    shown = access.shown([
        obs("own", "Patient/gp"), obs("own-secret", "Patient/gp", confidential=True),
        obs("copy", "Patient/copy"), obs("copy-secret", "Patient/copy", confidential=True),
        obs("elsewhere", "Patient/elsewhere"), obs("stranger", "Patient/stranger"),
    ])  # fmt: skip
    assert [r["id"] for r in shown] == ["own", "own-secret", "copy"]
    assert access.shown([{"resourceType": "AuditEvent", "id": "a"}]) == []  # a type it could not search
