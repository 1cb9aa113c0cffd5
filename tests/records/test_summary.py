"""``$summary``: the IPS-style document for the demo patient joined with a second source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from records_helpers import DEMO_NHS
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.config import Settings
from gpbridge.demo.loader import load_demo
from gpbridge.identity.golden import is_golden
from gpbridge.records.access import TRUSTED
from gpbridge.records.demo_sources import SECOND_SOURCE, add_second_source
from gpbridge.records.patient_record import find_patients
from gpbridge.store import open_store

IPS_SECTIONS = ["10160-0", "48765-2", "11450-4", "11369-6", "30954-2", "104605-1"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    directory: Path = tmp_path_factory.mktemp("summary")
    settings = Settings(database=f"sqlite:///{directory}/summary.db", insecure_dev=True)
    store = open_store(settings.database, settings)
    load_demo(store, settings, patients=1)
    add_second_source(store, settings)
    app = create_app(settings, store)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http
    store.close()


@pytest.fixture(scope="module")
def golden_id(client: TestClient) -> str:
    """The person linkage made of the GP's and the hospital's records of the demo patient."""
    found = [p for p in find_patients(client.app.state.api.store, DEMO_NHS) if is_golden(p)]
    assert len(found) == 1
    return str(found[0]["id"])


def _summary(client: TestClient, id_: str) -> dict[str, Any]:
    response = client.get(f"/fhir/Patient/{id_}/$summary")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _by_ref(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in bundle["entry"]}


def test_a_document_with_the_ips_sections(client: TestClient, golden_id: str) -> None:
    bundle = _summary(client, golden_id)
    assert bundle["type"] == "document"
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert [s["code"]["coding"][0]["code"] for s in composition["section"]] == IPS_SECTIONS
    resources = _by_ref(bundle)
    for section in composition["section"]:  # every section entry is in the document
        for entry in section.get("entry", ()):
            assert entry["reference"] in resources
    assert all(e["fullUrl"].endswith(k) for e, k in zip(bundle["entry"], resources, strict=True))


def test_a_fact_from_two_sources_is_shown_once_with_a_provenance_naming_both(client: TestClient, golden_id: str) -> None:
    bundle = _summary(client, golden_id)
    allergies = next(s for s in bundle["entry"][0]["resource"]["section"] if s["code"]["coding"][0]["code"] == "48765-2")
    assert len(allergies["entry"]) == 1  # the penicillin allergy, recorded by both
    shown = allergies["entry"][0]["reference"]
    provenance = next(r for r in _by_ref(bundle).values()
                      if r["resourceType"] == "Provenance" and r["target"] == [{"reference": shown}])
    assert len(provenance["entity"]) == 2
    assert SECOND_SOURCE in {e["what"]["display"] for e in provenance["entity"]}


def test_conflicts_are_detected_issues_implicating_both_versions(client: TestClient, golden_id: str) -> None:
    bundle = _summary(client, golden_id)
    resources = _by_ref(bundle)
    issues = [r for r in resources.values() if r["resourceType"] == "DetectedIssue"]
    assert {i["code"]["coding"][0]["code"] for i in issues} == {"problem-status", "observation-value"}
    for issue in issues:
        assert len(issue["implicated"]) == 2
        for implicated in issue["implicated"]:
            assert implicated["reference"] in resources  # both versions are in the document


def test_a_source_patient_gets_the_whole_persons_summary(client: TestClient) -> None:
    store = client.app.state.api.store
    gp_patient = next(p for p in find_patients(store, DEMO_NHS) if not is_golden(p) and not p["id"].startswith("leeds-"))
    via_source = _summary(client, gp_patient["id"])
    assert any(r["resourceType"] == "DetectedIssue" for r in _by_ref(via_source).values())


def test_an_unknown_patient_is_404(client: TestClient) -> None:
    assert client.get("/fhir/Patient/nobody/$summary").status_code == 404


def test_the_structured_record_is_the_registered_practices_not_the_golden_patients(client: TestClient) -> None:
    from gpbridge.records.structured import structured_record

    store = client.app.state.api.store
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patientNHSNumber", "valueIdentifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                                                         "value": DEMO_NHS}},
        {"name": "includeAllergies", "part": [{"name": "includeResolvedAllergies", "valueBoolean": False}]}]}
    bundle = structured_record(store, body, access=TRUSTED)
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert not patient["id"].startswith(("person-", "leeds-"))
    assert any(e["resource"]["resourceType"] == "AllergyIntolerance" for e in bundle["entry"])
