"""A transaction/batch Bundle is audited as one AuditEvent per patient compartment it touched,
listing every resource with the id the server gave it, and the chain still verifies."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.config import Settings
from gpbridge.security.audit import AuditRecord, MemoryAuditSink, audit_event
from gpbridge.security.audit_chain import ChainedAuditSink, audit_events, verify_audit_chain
from gpbridge.store import open_store

NHS = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED = "http://snomed.info/sct"


def _patient(nhs: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": NHS, "value": nhs}],
            "name": [{"family": "Audit", "given": ["Test"]}]}  # fmt: skip


def _obs(subject: str, code: str = "271649006") -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": SNOMED, "code": code}]}, "subject": {"reference": subject}}  # fmt: skip


def _post(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    type_ = resource["resourceType"]
    return {"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": type_}}


def _two_patients() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        _post("urn:uuid:p1", _patient("9990000018")),
        _post("urn:uuid:o1", _obs("urn:uuid:p1")),
        _post("urn:uuid:p2", _patient("9990000034")),
        _post("urn:uuid:o2", _obs("urn:uuid:p2", "38341003")),
        _post("urn:uuid:org", {"resourceType": "Organization", "name": "Audit Surgery"}),
    ]}  # fmt: skip


@pytest.fixture
def app_with(tmp_path: Path) -> Iterator[tuple[TestClient, MemoryAuditSink]]:
    sink = MemoryAuditSink()
    settings = Settings(database=f"sqlite:///{tmp_path}/t.db", insecure_dev=True, rate_limit_per_minute=0)
    with TestClient(create_app(settings, audit=sink)) as http:
        yield http, sink


def _send(http: TestClient, bundle: dict[str, Any]) -> Any:
    return http.post("/fhir", content=orjson.dumps(bundle), headers={"content-type": "application/fhir+json",
                                                                    "X-Request-ID": "req-b1"})  # fmt: skip


def _locations(response: Any) -> list[str]:
    return [e["response"]["location"].rsplit("/_history", 1)[0] for e in response.json()["entry"]]


def test_one_event_per_patient_with_the_assigned_ids(app_with: tuple[TestClient, MemoryAuditSink]) -> None:
    http, sink = app_with
    r = _send(http, _two_patients())
    assert r.status_code == 200, r.text
    p1, o1, p2, o2, org = _locations(r)
    by_patient = {rec.patient: rec for rec in sink.records}
    assert len(sink.records) == 3 and set(by_patient) == {p1, p2, None}
    assert all(rec.interaction == "transaction" and rec.allowed and rec.request_id == "req-b1"
               for rec in sink.records)  # fmt: skip
    assert [(e.what, e.interaction) for e in by_patient[p1].entities] == [(p1, "create"), (o1, "create")]
    assert [e.what for e in by_patient[p2].entities] == [p2, o2]
    assert [e.what for e in by_patient[None].entities] == [org]
    assert all(rec.detail == "5 entries" for rec in sink.records)


def test_event_lists_entities_with_lifecycle(app_with: tuple[TestClient, MemoryAuditSink]) -> None:
    http, sink = app_with
    p1, o1, *_ = _locations(_send(http, _two_patients()))
    sink.records.clear()
    obs_id = o1.partition("/")[2]
    update = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**_obs(p1, "38341003"), "id": obs_id}, "request": {"method": "PUT", "url": o1}},
        {"request": {"method": "GET", "url": p1}},
    ]}  # fmt: skip
    assert _send(http, update).status_code == 200
    [rec] = [r for r in sink.records if r.interaction == "transaction"]
    # the GET entry is audited as the standalone read is, besides being listed in the Bundle's event
    [read] = [r for r in sink.records if r.interaction == "read"]
    assert (read.resource_type, read.resource_id, read.allowed) == ("Patient", p1.partition("/")[2], True)
    event = audit_event(rec, "1")
    entities = event["entity"]
    assert entities[0] == {"what": {"display": "Bundle"}, "description": "2 entries"}
    assert [(e["what"]["reference"], e["lifecycle"]["code"]) for e in entities[1:3]] == [(o1, "3"), (p1, "6")]
    assert entities[-1] == {"what": {"reference": p1}, "role": {"code": "1", "display": "Patient"}}


def test_failed_transaction_is_one_failure_event(app_with: tuple[TestClient, MemoryAuditSink]) -> None:
    http, sink = app_with
    bundle = _two_patients()
    bundle["entry"][1]["resource"]["status"] = "not-a-status"
    r = _send(http, bundle)
    assert r.status_code in (400, 422)
    [rec] = sink.records
    assert rec.interaction == "transaction" and rec.reason == f"failed: HTTP {r.status_code}"
    assert rec.detail and not rec.entities


def test_batch_lists_failed_entries(app_with: tuple[TestClient, MemoryAuditSink]) -> None:
    http, sink = app_with
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        _post("urn:uuid:p1", _patient("9990000018")),
        {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
    ]}  # fmt: skip
    r = _send(http, bundle)
    assert r.status_code == 200
    created = r.json()["entry"][0]["response"]["location"].rsplit("/_history", 1)[0]
    events = [rec for rec in sink.records if rec.interaction == "batch"]
    by_patient = {rec.patient: rec for rec in events}
    assert set(by_patient) == {created, "Patient/does-not-exist"}
    assert all(rec.detail == "2 entries, 1 failed" for rec in events)
    # and the failed GET as the standalone one is: a read that failed with 404
    [read] = [rec for rec in sink.records if rec.interaction == "read"]
    assert read.reason == "failed: HTTP 404" and read.resource_id == "does-not-exist"
    [missing] = by_patient["Patient/does-not-exist"].entities
    assert missing.detail == "failed: HTTP 404"


def test_chained_bundle_events_verify_and_are_found_by_patient(tmp_path: Path) -> None:
    settings = Settings(database=f"sqlite:///{tmp_path}/t.db", insecure_dev=True, rate_limit_per_minute=0)
    store = open_store(settings.database, settings)
    sink = ChainedAuditSink(store, background=False)
    with TestClient(create_app(settings, store, audit=sink)) as http:
        p1, o1, p2, o2, _ = _locations(_send(http, _two_patients()))
    sink.flush()
    assert verify_audit_chain(store).ok
    [event] = audit_events(store, patient=p1)
    refs = [e["what"].get("reference") for e in event["entity"]]
    assert o1 in refs and p2 not in refs and o2 not in refs


def test_record_without_entities_renders_as_before() -> None:
    rec = AuditRecord("read", "Observation", "o1", True, "ok", patient="Patient/p", recorded="2026-01-01T00:00:00Z")
    assert [e["what"] for e in audit_event(rec)["entity"]] == [{"reference": "Observation/o1"},
                                                               {"reference": "Patient/p"}]  # fmt: skip


# -- with security on (tests/security/conftest.py: http, bearer, audit_sink) ----------------------


def _bundle_of(*resources: dict[str, Any]) -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction",
                         "entry": [_post(f"urn:uuid:e{n}", r) for n, r in enumerate(resources)]})  # fmt: skip


def test_denied_entry_is_recorded_as_the_denial_only(http: TestClient, bearer: Any, audit_sink: MemoryAuditSink) -> None:
    headers = {**bearer(client="loader", scope="system/*.cru"), "content-type": "application/fhir+json"}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        _post("urn:uuid:e0", _obs("Patient/pa")),
        {"request": {"method": "DELETE", "url": "Observation/obs-pa"}},
    ]}  # fmt: skip
    r = http.post("/fhir", content=orjson.dumps(bundle), headers=headers)
    assert r.status_code == 403
    assert http.get("/fhir/Observation/obs-pa", headers=bearer(client="reader", scope="system/*.read")).status_code == 200
    [denial] = [rec for rec in audit_sink.records if rec.interaction in ("create", "delete", "transaction")]
    assert not denial.allowed and (denial.interaction, denial.resource_type) == ("delete", "Observation")
    assert denial.client_id == "loader"


def test_user_token_bundle_is_refused_and_recorded(http: TestClient, bearer: Any, audit_sink: MemoryAuditSink) -> None:
    headers = {**bearer(user="clinician-a"), "content-type": "application/fhir+json"}
    r = http.post("/fhir", content=_bundle_of(_obs("Patient/pa")), headers=headers)
    assert r.status_code == 403
    [refusal] = [rec for rec in audit_sink.records if rec.interaction == "transaction"]
    assert not refusal.allowed and "system token" in refusal.reason


def test_system_bundle_names_patient_and_client(http: TestClient, bearer: Any, audit_sink: MemoryAuditSink) -> None:
    headers = {**bearer(client="loader", scope="system/*.write"), "content-type": "application/fhir+json"}
    r = http.post("/fhir", content=_bundle_of(_obs("Patient/pa"), _obs("Patient/pb")), headers=headers)
    assert r.status_code == 200, r.text
    events = [rec for rec in audit_sink.records if rec.interaction == "transaction"]
    assert {rec.patient for rec in events} == {"Patient/pa", "Patient/pb"}
    assert all(rec.allowed and rec.client_id == "loader" and len(rec.entities) == 1 for rec in events)


def test_conditional_create_that_matched_is_audited_as_a_read(app_with: tuple[TestClient, MemoryAuditSink]) -> None:
    http, sink = app_with
    entry = _post("urn:uuid:p1", _patient("9990000018"))
    entry["request"]["ifNoneExist"] = f"identifier={NHS}|9990000018"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    [first] = _locations(_send(http, bundle))
    sink.records.clear()
    assert _locations(_send(http, bundle)) == [first]
    [rec] = sink.records
    assert rec.patient == first and [(e.what, e.interaction) for e in rec.entities] == [(first, "read")]


def test_patch_and_delete_entries_are_audited_under_their_patient(app_with: tuple[TestClient, MemoryAuditSink]) -> None:
    # neither carries the resource (a PATCH body is the patch; a DELETE has none): the patient
    # comes from the patched result and from the version deleted
    http, sink = app_with
    p1, o1, p2, o2, _ = _locations(_send(http, _two_patients()))
    sink.records.clear()
    patch = [{"op": "replace", "path": "/status", "value": "amended"}]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                      "data": base64.b64encode(orjson.dumps(patch)).decode()},
         "request": {"method": "PATCH", "url": o1}},
        {"request": {"method": "DELETE", "url": o2}},
        {"request": {"method": "DELETE", "url": f"Observation?subject={p2}&code=38341003"}},  # gone already
    ]}  # fmt: skip
    r = _send(http, bundle)
    assert r.status_code == 200, r.text
    by_patient = {rec.patient: rec for rec in sink.records}
    assert set(by_patient) == {p1, p2, None}, [(rec.patient, rec.entities) for rec in sink.records]
    assert [(e.what, e.interaction) for e in by_patient[p1].entities] == [(o1, "patch")]
    assert [(e.what, e.interaction) for e in by_patient[p2].entities] == [(o2, "delete")]


def test_conditional_delete_is_audited_under_its_patient(app_with: tuple[TestClient, MemoryAuditSink]) -> None:
    http, sink = app_with
    p1, o1, *_ = _locations(_send(http, _two_patients()))
    sink.records.clear()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": f"Observation?subject={p1}&code=271649006"}}]}
    assert _send(http, bundle).status_code == 200
    [rec] = sink.records
    assert rec.patient == p1 and [(e.what, e.interaction) for e in rec.entities] == [(o1, "delete")]
