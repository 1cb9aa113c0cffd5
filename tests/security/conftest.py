"""A small secured world: two practices, patients with every kind of relationship, and an app
with security ON (``insecure_dev=False``) on a real SQLite store, recording audit in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.config import Settings
from gpbridge.security.audit import MemoryAuditSink
from gpbridge.security.labels import ACCESS_FLAG, ACT_CODE, CONFIDENTIALITY
from gpbridge.store import open_store

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
# Valid-format test numbers; patient-1's is the demo user's.
NHS_NUMBERS = {
    "pa": "9990000018",
    "pb": "9990000034",
    "ps": "9990000042",
    "pd": "9990000050",
    "pc": "9990000069",
}


def _org(id_: str, ods: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": id_,
        "identifier": [{"system": ODS, "value": ods}],
        "name": id_,
    }


def _patient(id_: str, practice: str, *, sensitive: bool = False) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": id_,
        "identifier": [{"system": NHS, "value": NHS_NUMBERS[id_]}],
        "name": [{"family": f"Family-{id_}", "given": ["Test"]}],
        "address": [{"line": [f"1 {id_} Street"], "postalCode": "LS1 1AA"}],
        "telecom": [{"system": "phone", "value": "0113 496 0000"}],
        "generalPractitioner": [{"reference": f"Organization/{practice}"}],
    }
    if sensitive:
        res["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}
    return res


def _obs(id_: str, patient: str, code: str, label: tuple[str, str] | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "performer": [{"reference": "Organization/practice-a"}],
    }
    if label:
        res["meta"] = {"security": [{"system": label[0], "code": label[1]}]}
    return res


def world() -> list[dict[str, Any]]:
    """pa: registered at A (patient-1). pb: at B. ps: sensitive, at B, cared for by A.
    pd: at B, dissented, cared for by A. pc: at B, cared for by A (with one confidential item)."""
    out = [_org("practice-a", "Y12345"), _org("practice-b", "Y23456")]
    out += [
        _patient("pa", "practice-a"),
        _patient("pb", "practice-b"),
        _patient("ps", "practice-b", sensitive=True),
    ]
    out += [_patient("pd", "practice-b"), _patient("pc", "practice-b")]
    for p in ("ps", "pd", "pc"):
        out.append({"resourceType": "EpisodeOfCare", "id": f"eoc-{p}", "status": "active",
                    "patient": {"reference": f"Patient/{p}"},
                    "managingOrganization": {"reference": "Organization/practice-a"}})  # fmt: skip
    out.append({"resourceType": "Consent", "id": "dissent-pd", "status": "active",
                "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
                "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                "patient": {"reference": "Patient/pd"}, "provision": {"type": "deny"}})  # fmt: skip
    for p in NHS_NUMBERS:
        out.append(_obs(f"obs-{p}", p, "271649006"))
    out.append(_obs("obs-pc-secret", "pc", "271649006", (CONFIDENTIALITY, "R")))
    out.append(_obs("obs-pa-nopat", "pa", "271649006", (ACT_CODE, "NOPAT")))
    out.append(_obs("obs-pa-third", "pa", "271649006", (ACCESS_FLAG, "third-party")))
    return out


@pytest.fixture
def secure_settings(tmp_path: Path) -> Settings:
    return Settings(
        database=f"sqlite:///{tmp_path}/sec.db", insecure_dev=False, var_dir=str(tmp_path / "var")
    )


@pytest.fixture
def secure_store(secure_settings: Settings) -> Iterator[Any]:
    store = open_store(secure_settings.database, secure_settings)
    store.bulk_load(iter(world()))
    yield store
    store.close()


@pytest.fixture
def audit_sink() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture
def http(secure_settings: Settings, secure_store: Any, audit_sink: MemoryAuditSink) -> Iterator[TestClient]:
    app = create_app(secure_settings, secure_store, audit=audit_sink)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def bearer(secure_settings: Settings) -> Any:
    from gpbridge.security.idp import mint_token_command

    def make(user: str | None = None, client: str | None = None, scope: str | None = None) -> dict[str, str]:
        token = mint_token_command(secure_settings, user=user, client=client, scope=scope)
        return {"authorization": f"Bearer {token}"}

    return make
