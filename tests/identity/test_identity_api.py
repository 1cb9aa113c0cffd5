"""The identity routes over HTTP: review queue, accept/reject/undo with audit, and Patient/$match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gpbridge.api import identity
from gpbridge.api.context import Api
from gpbridge.config import Settings
from gpbridge.security.audit import MemoryAuditSink
from gpbridge.store import interactions as ops
from gpbridge.store.sqlite import SQLiteStore

FHIR = "application/fhir+json"


@pytest.fixture
def app(tmp_path: Path) -> tuple[TestClient, SQLiteStore, MemoryAuditSink]:
    settings = Settings(insecure_dev=True)  # access decisions are the policy's suite; denial tested below
    store = SQLiteStore(str(tmp_path / "id.db"), settings)
    audit = MemoryAuditSink()
    starlette = Starlette(routes=identity.routes())
    starlette.state.api = Api(settings=settings, store=store, audit=audit, inline=True)
    return TestClient(starlette), store, audit


def ingest(store: SQLiteStore, pid: str, given: str, birth: str, postcode: str) -> None:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": birth,
                               "name": [{"use": "official", "family": "Smith", "given": [given]}],
                               "address": [{"use": "home", "line": ["1 Mill Lane"], "postalCode": postcode}]}
    with store.session() as session:  # the write path links the Patient (interactions' identity hook)
        ops.update(session, "Patient", pid, patient, settings=store.settings)


def test_review_queue_accept_and_undo(app: tuple[TestClient, SQLiteStore, MemoryAuditSink]) -> None:
    http, store, audit = app
    ingest(store, "a", "Margaret", "1950-03-04", "LS6 3AB")
    ingest(store, "b", "Margaret", "1950-03-05", "WF1 2AB")
    queue = http.get("/identity/review").json()
    tasks = [e for e in queue["entry"] if e["search"]["mode"] == "match"]
    included = {e["resource"]["id"] for e in queue["entry"] if e["search"]["mode"] == "include"}
    assert len(tasks) == 1 and queue["total"] == 1
    assert "b" in included  # the reviewer sees the records side by side
    task_id = tasks[0]["resource"]["id"]
    note = {"resourceType": "Parameters", "parameter": [{"name": "note", "valueString": "checked with patient"}]}
    accepted = http.post(f"/identity/review/{task_id}/accept", json=note, headers={"content-type": FHIR})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "completed"
    assert accepted.json()["note"][0]["text"] == "checked with patient"
    assert http.get("/identity/review").json()["total"] == 0
    assert http.post(f"/identity/review/{task_id}/accept").status_code == 409
    undone = http.post(f"/identity/review/{task_id}/undo")
    assert undone.status_code == 200 and undone.json()["status"] == "cancelled"
    decisions = [r.interaction for r in audit.records if r.interaction.startswith("operation")]
    assert decisions == ["operation:identity-accept", "operation:identity-accept", "operation:identity-unmerge"]


def test_reject_and_unknown_items(app: tuple[TestClient, SQLiteStore, MemoryAuditSink]) -> None:
    http, store, _ = app
    ingest(store, "a", "Margaret", "1950-03-04", "LS6 3AB")
    ingest(store, "b", "Margaret", "1950-03-05", "WF1 2AB")
    task_id = http.get("/identity/review").json()["entry"][0]["resource"]["id"]
    rejected = http.post(f"/identity/review/{task_id}/reject")
    assert rejected.json()["status"] == "rejected"
    missing = http.post("/identity/review/no-such-task/reject")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_patient_match(app: tuple[TestClient, SQLiteStore, MemoryAuditSink]) -> None:
    http, store, audit = app
    ingest(store, "a", "Margaret", "1950-03-04", "LS6 3AB")
    query = {"resourceType": "Patient", "name": [{"family": "Smith", "given": ["Maggie"]}], "gender": "female",
             "birthDate": "1950-03-04", "address": [{"postalCode": "LS6 3AB"}]}
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": query},
                                                         {"name": "onlyCertainMatches", "valueBoolean": True}]}
    response = http.post("/fhir/Patient/$match", json=body, headers={"content-type": FHIR})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["total"] == 1 and bundle["entry"][0]["search"]["extension"][0]["valueCode"] == "certain"
    assert audit.records[-1].interaction == "operation:match"
    bad = http.post("/fhir/Patient/$match", json={"resourceType": "Patient"}, headers={"content-type": FHIR})
    assert bad.status_code == 400


def test_denied_by_policy(app: tuple[TestClient, SQLiteStore, MemoryAuditSink], monkeypatch: Any) -> None:
    from gpbridge.security import identity_review, policy

    http, _, _ = app
    monkeypatch.setattr(policy, "_decide", lambda *a: policy.Decision(False, "not a reviewer"))
    # the review queue has a gate of its own (tests/security/test_security_identity_review.py)
    monkeypatch.setattr(identity_review, "authorize_identity_review",
                        lambda *a, **k: policy.Decision(False, "not a reviewer"))
    assert http.get("/identity/review").status_code == 401  # nobody signed in
    assert http.post("/identity/review/x/accept").status_code == 401
    assert http.post("/fhir/Patient/$match", json={}).status_code == 401
