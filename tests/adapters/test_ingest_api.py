"""POST /ingest/gp2gp through the real app."""

from __future__ import annotations

from pathlib import Path

from gp2gp_samples import extract, observation
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.config import Settings
from gpbridge.security.audit import MemoryAuditSink


def client(tmp_path: Path, audit: MemoryAuditSink) -> TestClient:
    settings = Settings(database=f"sqlite:///{tmp_path / 'api.db'}", insecure_dev=True)
    app = create_app(settings, audit=audit)
    return TestClient(app)


def test_ingest_imports_then_recognises_a_duplicate(tmp_path: Path) -> None:
    audit = MemoryAuditSink()
    with client(tmp_path, audit) as http:
        raw = extract(observation("A1", "195967001"))
        first = http.post("/ingest/gp2gp", content=raw, headers={"content-type": "application/xml"})
        assert first.status_code == 201, first.text
        assert first.headers["location"].startswith("Provenance/")
        assert any("created 1 Observation" in i["diagnostics"] for i in first.json()["issue"])
        again = http.post("/ingest/gp2gp", content=raw, headers={"content-type": "application/xml"})
        assert again.status_code == 200 and "duplicate" in again.text
        search = http.get("/fhir/Observation")
        assert search.json()["total"] == 1
    assert any(r.interaction == "operation:ingest-gp2gp" and r.allowed for r in audit.records)


def test_ingest_rejects_bad_input_with_the_place(tmp_path: Path) -> None:
    with client(tmp_path, MemoryAuditSink()) as http:
        bad = http.post("/ingest/gp2gp", content=b"<oops", headers={"content-type": "application/xml"})
        assert bad.status_code == 400
        outcome = bad.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert "not well-formed" in outcome["issue"][0]["diagnostics"]
        assert "quarantine" in outcome["issue"][1]["diagnostics"]
        wrong_type = http.post("/ingest/gp2gp", content=b"{}", headers={"content-type": "application/json"})
        assert wrong_type.status_code == 415
