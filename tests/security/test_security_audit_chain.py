"""The durable audit trail: hash-chained, append-only; tampering is detected and located."""

from __future__ import annotations

from typing import Any

import pytest

from gpbridge.demo.practices import DEMO_USERS
from gpbridge.security.audit import AuditRecord, audit_event
from gpbridge.security.audit_chain import ChainedAuditSink, audit_events, verify_audit_chain


def _record(i: int, patient: str = "Patient/pa", allowed: bool = True) -> AuditRecord:
    return AuditRecord("read", "Observation", f"obs-{i}", allowed, "registered", principal="u1", patient=patient,
                       recorded=f"2026-11-25T15:00:{i:02d}.000+00:00", roles=("R8000",), organisation="Y12345",
                       source_ip="10.0.0.1", request_id=f"req-{i}")  # fmt: skip


@pytest.fixture
def chained(secure_store: Any) -> ChainedAuditSink:
    sink = ChainedAuditSink(secure_store, background=False)
    for i in range(10):
        sink.record(_record(i))
    sink.flush()
    return sink


def _execute(store: Any, sql: str, *args: Any) -> None:
    with store._write_cursor() as cur:
        cur.execute(sql, args)


def test_intact_chain_verifies(chained: ChainedAuditSink) -> None:
    report = verify_audit_chain(chained.store)
    assert report.ok and report.checked == 10


def test_altered_event_is_named(chained: ChainedAuditSink) -> None:
    _execute(chained.store, "UPDATE audit_log SET event = replace(event, 'u1', 'someone-else') WHERE seq = 4")
    report = verify_audit_chain(chained.store)
    assert not report.ok and any(p.startswith("event 4: content altered") for p in report.problems)


def test_removed_event_is_named(chained: ChainedAuditSink) -> None:
    _execute(chained.store, "DELETE FROM audit_log WHERE seq = 6")
    report = verify_audit_chain(chained.store)
    assert any("events 6..6 were removed" in p for p in report.problems)


def test_reordered_events_are_named(chained: ChainedAuditSink) -> None:
    store = chained.store
    _execute(store, "UPDATE audit_log SET seq = 100 WHERE seq = 3")
    _execute(store, "UPDATE audit_log SET seq = 3 WHERE seq = 7")
    _execute(store, "UPDATE audit_log SET seq = 7 WHERE seq = 100")
    report = verify_audit_chain(store)
    assert not report.ok
    assert any(p.startswith("event 3:") for p in report.problems)
    assert any(p.startswith("event 7:") for p in report.problems)


def test_recomputed_hash_after_alteration_still_breaks_the_next_link(chained: ChainedAuditSink) -> None:
    from gpbridge.security.audit_chain import chain_hash

    store = chained.store
    with store._read_cursor() as cur:
        cur.execute("SELECT prev_hash, event FROM audit_log WHERE seq = 5")
        prev, event = cur.fetchone()
    forged = event.replace("u1", "x")
    _execute(
        store, "UPDATE audit_log SET event = ?, hash = ? WHERE seq = 5", forged, chain_hash(prev, 5, forged)
    )
    report = verify_audit_chain(store)
    assert any(p.startswith("event 6:") for p in report.problems)


def test_chain_continues_across_flushes_and_sinks(chained: ChainedAuditSink) -> None:
    again = ChainedAuditSink(chained.store, background=False)
    again.record(_record(30))
    again.flush()
    assert verify_audit_chain(chained.store).ok and verify_audit_chain(chained.store).checked == 11


def test_background_writer_flushes(secure_store: Any) -> None:
    sink = ChainedAuditSink(secure_store, interval=0.05)
    sink.record(_record(1))
    sink.close()
    assert verify_audit_chain(secure_store).checked == 1


def test_audit_event_is_fhir_shaped() -> None:
    event = audit_event(_record(1, allowed=False), "1")
    assert event["resourceType"] == "AuditEvent" and event["outcome"] == "4"
    assert event["agent"][0]["network"]["address"] == "10.0.0.1"
    assert {"what": {"reference": "Patient/pa"}, "role": {"code": "1", "display": "Patient"}} in event[
        "entity"
    ]


def test_who_accessed_my_record(chained: ChainedAuditSink) -> None:
    chained.record(_record(20, patient="Patient/pb"))
    chained.flush()
    mine = audit_events(chained.store, patient="Patient/pa")
    assert len(mine) == 10 and all(e["entity"][-1]["what"]["reference"] == "Patient/pa" for e in mine)


def test_every_api_interaction_is_audited(http: Any, bearer: Any, audit_sink: Any) -> None:
    a = bearer(user="clinician-a")
    http.get("/fhir/Observation/obs-pa", headers=a)
    http.get("/fhir/Observation/obs-pb", headers=a)
    http.get("/fhir/Observation?patient=Patient/pa", headers=a)
    http.get("/fhir/Observation/obs-pa/_history", headers=a)
    kinds = [(r.interaction, r.allowed) for r in audit_sink.records]
    assert ("read", True) in kinds and ("read", False) in kinds
    assert ("search", True) in kinds and ("history", True) in kinds
    read_pa = [r for r in audit_sink.records if r.resource_id == "obs-pa" and r.patient]
    assert read_pa and read_pa[0].organisation == "Y12345" and read_pa[0].roles == ("R8000",)


def test_patient_sees_who_accessed_their_record(secure_settings: Any, secure_store: Any, bearer: Any) -> None:
    from starlette.testclient import TestClient

    from gpbridge.api import oauth
    from gpbridge.api.app import create_app

    sink = ChainedAuditSink(secure_store, background=False)
    app = create_app(secure_settings, secure_store, audit=sink)
    app.router.routes.extend(oauth.routes())
    with TestClient(app) as http:
        http.get("/fhir/Observation/obs-pa", headers=bearer(user="clinician-a"))
        http.get("/fhir/Observation/obs-pb", headers=bearer(user="clinician-b"))
        sink.flush()
        mine = http.get("/fhir/AuditEvent", headers=bearer(user="patient-1")).json()
        who = {e["resource"]["agent"][0]["who"]["display"] for e in mine["entry"]}
        assert who == {DEMO_USERS["clinician-a"].display_name}  # a name, not an internal id
        assert (
            http.get("/fhir/AuditEvent?patient=Patient/pb", headers=bearer(user="patient-1")).status_code
            == 403
        )
        sink.flush()
        officer = http.get("/fhir/AuditEvent", headers=bearer(user="admin-a")).json()
        outcomes = [e["resource"]["outcome"] for e in officer["entry"]]
        assert len(outcomes) == 4 and outcomes.count("4") == 1  # 2 reads, the patient's search, one denial
        assert http.get("/fhir/AuditEvent", headers=bearer(user="clinician-a")).status_code == 403
    assert verify_audit_chain(secure_store).ok
