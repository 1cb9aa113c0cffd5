"""``POST /fhir/Patient/$gpc.getstructuredrecord`` over HTTP: statuses, Spine headers, audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from records_helpers import DEMO_NHS, gpc_body
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.api.operations.gpconnect import INTERACTION_ID
from gpbridge.config import Settings
from gpbridge.demo.loader import load_demo
from gpbridge.security.audit import AuditRecord
from gpbridge.store import open_store

PATH = "/fhir/Patient/$gpc.getstructuredrecord"


class _Audit:
    enabled = True

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def record(self, record: AuditRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, _Audit]]:
    directory: Path = tmp_path_factory.mktemp("gpc")
    settings = Settings(database=f"sqlite:///{directory}/gpc.db", insecure_dev=True)
    store = open_store(settings.database, settings)
    load_demo(store, settings, patients=1)
    audit = _Audit()
    app = create_app(settings, store, audit=audit)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, audit
    store.close()


def test_the_record_comes_back_and_the_spine_headers_are_recorded(http: tuple[TestClient, _Audit]) -> None:
    client, audit = http
    headers = {"Ssp-TraceID": "trace-123", "Ssp-From": "200000000359", "Ssp-To": "918999198738",
               "Ssp-InteractionID": INTERACTION_ID, "Content-Type": "application/fhir+json"}
    response = client.post(PATH, json=gpc_body(DEMO_NHS, {"name": "includeMedication"}), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["type"] == "collection"
    assert response.headers["Ssp-TraceID"] == "trace-123"
    last = audit.records[-1]
    assert last.patient is not None and last.patient.startswith("Patient/")  # decided with the patient known
    assert last.interaction == "operation:gpc.getstructuredrecord"
    assert last.correlation_id == "trace-123"
    assert "200000000359" in (last.request_id or "") and "918999198738" in (last.request_id or "")


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 422, "INVALID_RESOURCE"),
        (b'{"resourceType": "Parameters", "parameter": [{"name": "patientNHSNumber", "valueIdentifier": '
         b'{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "1234567890"}}, {"name": "includeMedication"}]}',
         400, "INVALID_NHS_NUMBER"),
    ],
)
def test_errors_are_operation_outcomes_with_spine_codes(
    http: tuple[TestClient, _Audit], content: bytes, status: int, code: str
) -> None:
    client, _ = http
    response = client.post(PATH, content=content, headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == status
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == code


def test_a_wrong_interaction_id_is_a_bad_request(http: tuple[TestClient, _Audit]) -> None:
    client, _ = http
    response = client.post(PATH, json=gpc_body(DEMO_NHS, {"name": "includeMedication"}),
                           headers={"Ssp-InteractionID": "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1"})
    assert response.status_code == 400


def _consumer_jwt(ods: str) -> str:
    """A GP Connect consumer JWT as the Spine proxy forwards it: unsigned (alg none), every claim set."""
    import base64
    import time

    import orjson

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": "https://consumer.example", "sub": "p1", "aud": "https://authorize.fhir.nhs.net/token",
        "iat": now, "exp": now + 300, "reason_for_request": "directcare", "requested_scope": "patient/*.read",
        "requesting_device": {"resourceType": "Device", "identifier": [{"system": "x", "value": "dev-1"}]},
        "requesting_organization": {"resourceType": "Organization",
                                    "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": ods}]},
        "requesting_practitioner": {"resourceType": "Practitioner", "id": "p1",
                                    "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "555000000105"}]},
    }  # fmt: skip
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


@pytest.mark.parametrize("trusted, status", [("testclient", 200), ("10.0.0.9", 401)])
def test_consumer_jwt_is_accepted_only_from_the_trusted_proxy(tmp_path: Path, trusted: str, status: int) -> None:
    settings = Settings(database=f"sqlite:///{tmp_path}/gpc.db", insecure_dev=False, var_dir=str(tmp_path / "var"),
                        gpconnect_trusted_proxies=trusted, rate_limit_per_minute=0)
    store = open_store(settings.database, settings)
    load_demo(store, settings, patients=1)
    app = create_app(settings, store)
    headers = {"Ssp-TraceID": "t-1", "Ssp-From": "200000000359", "Ssp-To": "918999198738",
               "Ssp-InteractionID": INTERACTION_ID, "Content-Type": "application/fhir+json",
               "Authorization": f"Bearer {_consumer_jwt('Y12345')}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(PATH, json=gpc_body(DEMO_NHS, {"name": "includeAllergies",
                                                              "part": [{"name": "includeResolvedAllergies",
                                                                        "valueBoolean": False}]}), headers=headers)
    store.close()
    assert response.status_code == status, response.text
