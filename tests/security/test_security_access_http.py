"""End to end through the API with security on: who can read which record, and why."""

from __future__ import annotations

from typing import Any


def _ids(bundle: dict[str, Any]) -> set[str]:
    return {
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] != "OperationOutcome"
    }


def test_no_token_is_401_but_metadata_is_public(http: Any) -> None:
    assert http.get("/fhir/Patient/pa").status_code == 401
    assert http.get("/fhir/metadata").status_code == 200


def test_registered_practice_reads_its_patient(http: Any, bearer: Any) -> None:
    assert http.get("/fhir/Patient/pa", headers=bearer(user="clinician-a")).status_code == 200
    assert http.get("/fhir/Observation/obs-pa", headers=bearer(user="clinician-a")).status_code == 200


def test_other_practice_without_relationship_is_refused(http: Any, bearer: Any) -> None:
    response = http.get("/fhir/Observation/obs-pa", headers=bearer(user="clinician-b"))
    assert response.status_code == 403
    assert response.json()["resourceType"] == "OperationOutcome"


def test_break_glass_allows_and_is_flagged(http: Any, bearer: Any, audit_sink: Any) -> None:
    headers = bearer(user="clinician-b") | {"x-break-glass-reason": "unconscious in A&E"}
    assert http.get("/fhir/Observation/obs-pa", headers=headers).status_code == 200
    flagged = [r for r in audit_sink.records if "break-glass" in r.flags]
    assert flagged and flagged[-1].break_glass_reason == "unconscious in A&E"
    assert flagged[-1].patient == "Patient/pa"


def test_care_relationship_allows_but_hides_confidential_items(http: Any, bearer: Any) -> None:
    a = bearer(user="clinician-a")
    assert http.get("/fhir/Observation/obs-pc", headers=a).status_code == 200
    assert http.get("/fhir/Observation/obs-pc-secret", headers=a).status_code == 403
    found = http.get("/fhir/Observation?patient=Patient/pc", headers=a).json()
    assert _ids(found) == {"obs-pc"} and found["total"] == 1
    counted = http.get("/fhir/Observation?_summary=count", headers=a).json()
    assert counted["total"] == 5  # obs-pa, obs-pa-nopat, obs-pa-third (registered), obs-ps, obs-pc


def test_dissent_stops_sharing_outside_registered_practice(http: Any, bearer: Any) -> None:
    assert http.get("/fhir/Observation/obs-pd", headers=bearer(user="clinician-a")).status_code == 403
    assert http.get("/fhir/Observation/obs-pd", headers=bearer(user="clinician-b")).status_code == 200


def test_sensitive_patient_demographics_withheld_outside_registered_practice(http: Any, bearer: Any) -> None:
    body = http.get("/fhir/Patient/ps", headers=bearer(user="clinician-a")).json()
    assert "address" not in body and "telecom" not in body and "generalPractitioner" not in body
    assert any(s["code"] == "REDACTED" for s in body["meta"]["security"])
    own = http.get("/fhir/Patient/ps", headers=bearer(user="clinician-b")).json()
    assert own["address"]


def test_patient_sees_own_record_minus_hidden_items(http: Any, bearer: Any) -> None:
    me = bearer(user="patient-1")
    assert http.get("/fhir/Patient/pa", headers=me).status_code == 200
    assert http.get("/fhir/Patient/pb", headers=me).status_code == 403
    found = http.get("/fhir/Observation", headers=me).json()
    assert _ids(found) == {"obs-pa"}
    assert found["total"] == 1
    assert http.get("/fhir/Observation/obs-pa-nopat", headers=me).status_code == 403


def test_proxy_gets_granted_patient_only(http: Any, bearer: Any) -> None:
    proxy = bearer(user="proxy-1")
    assert http.get("/fhir/Observation/obs-pa", headers=proxy).status_code == 200
    assert http.get("/fhir/Observation/obs-pb", headers=proxy).status_code == 403
    assert _ids(http.get("/fhir/Patient", headers=proxy).json()) == {"pa"}


def test_patient_cannot_write(http: Any, bearer: Any) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/pa"},
    }
    assert http.post("/fhir/Observation", json=obs, headers=bearer(user="patient-1")).status_code == 403


def test_clinician_writes_only_where_related(http: Any, bearer: Any) -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "bp"}}
    ok = http.post("/fhir/Observation", json=obs | {"subject": {"reference": "Patient/pa"}},
                   headers=bearer(user="clinician-a") | {"content-type": "application/fhir+json"})  # fmt: skip
    assert ok.status_code == 201
    refused = http.post("/fhir/Observation", json=obs | {"subject": {"reference": "Patient/pb"}},
                        headers=bearer(user="clinician-a") | {"content-type": "application/fhir+json"})  # fmt: skip
    assert refused.status_code == 403


def test_scope_is_enforced_per_type(http: Any, bearer: Any) -> None:
    narrow = bearer(user="clinician-a", scope="user/Patient.read")
    assert http.get("/fhir/Patient/pa", headers=narrow).status_code == 200
    assert http.get("/fhir/Observation/obs-pa", headers=narrow).status_code == 403


def test_admin_reads_demographics_not_clinical(http: Any, bearer: Any) -> None:
    admin = bearer(user="admin-a")
    assert http.get("/fhir/Patient/pa", headers=admin).status_code == 200
    assert http.get("/fhir/Observation/obs-pa", headers=admin).status_code == 403


def test_system_token_reads_everything(http: Any, bearer: Any) -> None:
    system = bearer(client="test-system")
    assert http.get("/fhir/Observation/obs-pc-secret", headers=system).status_code == 200
    assert http.post("/fhir/Observation", json={}, headers=system).status_code == 403  # read-only scope


def test_a_refusal_is_one_refused_audit_record(http: Any, bearer: Any, audit_sink: Any) -> None:
    before = len(audit_sink.records)
    assert http.get("/fhir/Observation/obs-pa", headers=bearer(user="clinician-b")).status_code == 403
    (refusal,) = audit_sink.records[before:]  # not also an "allowed" record of the failed request
    assert not refusal.allowed and refusal.patient == "Patient/pa"
    before = len(audit_sink.records)
    glass = bearer(user="clinician-b") | {"x-break-glass-reason": "unconscious in A&E"}
    assert http.get("/fhir/Observation", headers=glass).status_code == 403  # must name the patient
    (refused,) = audit_sink.records[before:]
    assert not refused.allowed and refused.interaction == "search"


def test_validating_a_stored_instance_needs_the_right_to_read_it(http: Any, bearer: Any, audit_sink: Any) -> None:
    b, a = bearer(user="clinician-b"), bearer(user="clinician-a")
    before = len(audit_sink.records)
    refused = http.post("/fhir/Observation/obs-pa/$validate", headers=b)  # another practice's patient
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    (refusal,) = audit_sink.records[before:]
    assert not refusal.allowed and refusal.patient == "Patient/pa"
    assert refusal.interaction == "operation:validate"
    assert http.post("/fhir/Observation/obs-pc-secret/$validate", headers=a).status_code == 403  # confidential
    assert http.post("/fhir/Observation/obs-pa/$validate", headers=a).status_code == 200
    assert audit_sink.records[-1].allowed and audit_sink.records[-1].patient == "Patient/pa"
