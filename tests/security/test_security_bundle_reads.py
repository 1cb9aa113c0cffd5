"""A Bundle's GET entries pass the same gate, filtering and audit as the standalone GETs."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from gpbridge.security.audit import MemoryAuditSink


def _gets(*urls: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "batch",
            "entry": [{"request": {"method": "GET", "url": u}} for u in urls]}  # fmt: skip


def test_entry_reads_are_gated_and_audited_as_standalone(
    http: TestClient, bearer: Any, audit_sink: MemoryAuditSink
) -> None:
    token = bearer(client="test-system", scope="system/Patient.rs system/*.c")
    standalone = [http.get(f"/fhir/{u}", headers=token).status_code for u in ("Patient/pa", "Observation/obs-pa")]
    audit_sink.records.clear()
    r = http.post("/fhir", json=_gets("Patient/pa", "Observation/obs-pa", "Observation?subject=Patient/pa"),
                  headers=token)  # fmt: skip
    assert r.status_code == 200, r.text
    statuses = [int(e["response"]["status"][:3]) for e in r.json()["entry"]]
    assert statuses[:2] == standalone == [200, 403] and statuses[2] == 403
    # the read is recorded as the standalone read is: allowed, naming the patient
    [read] = [rec for rec in audit_sink.records if rec.interaction == "read" and rec.allowed]
    assert read.allowed and read.patient == "Patient/pa" and read.resource_id == "pa"
    denied = [rec for rec in audit_sink.records if not rec.allowed]
    assert {(rec.interaction, rec.resource_type) for rec in denied} == {("read", "Observation"),
                                                                        ("search", "Observation")}
