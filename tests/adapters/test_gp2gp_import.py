"""Importing GP2GP extracts: stored through the transaction path, archived, provenanced, idempotent."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from gp2gp_samples import extract, medication, observation, uat_extract

from gpbridge.adapters.common import pipeline
from gpbridge.adapters.common.errors import AdapterError
from gpbridge.adapters.common.quarantine import quarantine_list, quarantine_retry, quarantine_show
from gpbridge.adapters.gp2gp.importer import import_gp2gp, import_gp2gp_paths
from gpbridge.config import Settings
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store


def test_import_is_archived_provenanced_and_idempotent(store: Store, settings: Settings) -> None:
    raw = extract(observation("A1", "195967001"), medication("M1", "AUTH-1", "ISSUE-1"))
    first = import_gp2gp(store, settings, raw, "one.xml", received="2024-01-02T03:04:05+00:00")
    assert first.status == "imported", first.error
    assert first.created["Observation"] == 1 and first.created["MedicationRequest"] == 2
    total = store.count()
    binary = orjson.loads(store.read("Binary", first.archive.split("/")[1]).content)
    assert base64.b64decode(binary["data"]) == raw
    provenance = orjson.loads(store.read("Provenance", first.provenance.split("/")[1]).content)
    assert provenance["recorded"] == "2024-01-02T03:04:05+00:00"
    assert provenance["agent"][0]["who"]["identifier"]["value"] == "A82038"
    assert provenance["entity"][0]["what"]["identifier"]["value"] == "AAAAAAAA-0000-0000-0000-000000000001"
    assert "gp2gp adapter" in provenance["agent"][1]["who"]["display"]
    assert len(provenance["target"]) == sum(first.created.values())

    again = import_gp2gp(store, settings, raw, "one.xml")
    assert again.status == "duplicate" and not again.created
    assert store.count() == total

    # the same record re-sent in a new message: matched, not duplicated
    resent = extract(observation("A1", "195967001"), medication("M1", "AUTH-1", "ISSUE-1"),
                     message_id="AAAAAAAA-0000-0000-0000-000000000002")
    third = import_gp2gp(store, settings, resent, "two.xml")
    assert third.status == "imported" and sum(third.created.values()) == 0
    assert store.count() == total + 2  # only the new message's archive and Provenance
    patients = store.search(parse_search("Patient", [("identifier", "https://fhir.nhs.uk/Id/nhs-number|9434765919")]))
    assert len(patients.matches) == 1


def test_uat_extract_imports_under_strict_validation(store: Store, settings: Settings,
                                                     gp2gp_pairs: list[tuple[Path, Path]]) -> None:
    xml_path = next(p for p, _ in gp2gp_pairs if "Magre_full_20210119" in p.name)
    result = import_gp2gp(store, settings, uat_extract(xml_path), str(xml_path))
    assert result.status == "imported", result.error
    assert result.created["Condition"] == 4 and result.created["AllergyIntolerance"] == 2


def test_directory_import(store: Store, settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(extract(observation("A1", "195967001")))
    (tmp_path / "b.xml").write_bytes(b"<not-an-extract/>")
    results = import_gp2gp_paths(store, settings, [tmp_path])
    assert [r.status for r in results] == ["imported", "quarantined"]


def test_quarantine_retry_after_a_fix(store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = extract(observation("A1", "195967001"))
    real = pipeline._store

    def broken(*args: object, **kwargs: object) -> pipeline.ImportResult:
        raise AdapterError("mapping table missing", "ObservationStatement[id=A1]")

    monkeypatch.setattr(pipeline, "_store", broken)
    failed = import_gp2gp(store, settings, raw, "later.xml")
    assert failed.status == "quarantined"
    again = import_gp2gp(store, settings, raw, "later.xml")
    assert again.quarantine_id == failed.quarantine_id
    item = quarantine_show(store, failed.quarantine_id)
    assert item.attempts == 2 and item.raw == raw and "mapping table missing" in item.reason

    monkeypatch.setattr(pipeline, "_store", real)
    retried = quarantine_retry(store, settings, failed.quarantine_id)
    assert retried.status == "imported"
    assert quarantine_list(store) == []
    assert quarantine_show(store, failed.quarantine_id).status == "completed"
