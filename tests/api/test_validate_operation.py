"""``$validate`` over HTTP: type and instance level, resource or Parameters body, every issue back.

The app's route table is the lead's to wire; these tests put the operation's routes in front of
it the way ``api.app`` will (``$validate`` must come before ``{type}/{id}``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import NHS, Client, assert_outcome, make_settings
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.api.operations.validate import OPERATION, routes
from gpbridge.security.audit import MemoryAuditSink

UK = "https://fhir.hl7.org.uk/StructureDefinition/"
NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Jo Smith</div>'}


@pytest.fixture
def audit() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture
def client(tmp_path: Path, audit: MemoryAuditSink) -> Iterator[Client]:
    app = create_app(make_settings(tmp_path), audit=audit)
    app.router.routes[0:0] = routes()
    with TestClient(app, raise_server_exceptions=False) as http:
        yield Client(http)


def good_patient(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "text": NARRATIVE,
        "identifier": [{"system": NHS, "value": "9000000009"}],
        "name": [{"family": "Smith", "given": ["Jo"]}],
        "gender": "female",
        **extra,
    }


def issues(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return list(body["issue"])


def test_a_valid_resource_is_all_ok(client: Client) -> None:
    found = issues(client.post("/fhir/Patient/$validate", good_patient()))
    assert found == [{"severity": "information", "code": "informational", "diagnostics": "All OK"}]


def test_every_issue_is_returned_with_its_expression(client: Client) -> None:
    patient = good_patient(gender="M", birthDate="1970-13-01", colour="blue")
    patient["identifier"][0]["value"] = "9000000008"
    found = issues(client.post("/fhir/Patient/$validate", patient))
    assert {(i["severity"], i["code"], i["expression"][0]) for i in found} == {
        ("error", "structure", "Patient.colour"),
        ("error", "value", "Patient.birthDate"),
        ("error", "code-invalid", "Patient.gender"),
        ("error", "value", "Patient.identifier[0].value"),
    }
    assert all(i["diagnostics"] for i in found)


def test_nothing_is_stored(client: Client) -> None:
    client.post("/fhir/Patient/$validate", good_patient())
    assert client.get("/fhir/Patient").json().get("total", 0) == 0


def test_parameters_carry_resource_mode_and_profile(client: Client) -> None:
    patient = good_patient()
    patient["identifier"].append({"system": NHS, "value": "9912003888"})
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": patient},
            {"name": "mode", "valueCode": "create"},
            {"name": "profile", "valueUri": UK + "UKCore-Patient"},
        ],
    }
    found = issues(client.post("/fhir/Patient/$validate", body))
    assert [(i["code"], i["expression"]) for i in found if i["severity"] == "error"] == [("structure", ["Patient.identifier"])]
    assert "UKCorePatient" in found[0]["diagnostics"]


def test_profile_and_mode_in_the_query_string(client: Client) -> None:
    found = issues(client.post("/fhir/Patient/$validate?mode=update&profile=https://example.org/Unknown", good_patient()))
    assert ("error", "required", ["Patient.id"]) in [(i["severity"], i["code"], i.get("expression")) for i in found]
    assert any(i["severity"] == "warning" and "https://example.org/Unknown" in i["diagnostics"] for i in found)


def test_instance_level_update_checks_the_id(client: Client) -> None:
    found = issues(client.post("/fhir/Patient/abc/$validate?mode=update", good_patient(id="xyz")))
    assert [(i["code"], i["expression"]) for i in found if i["severity"] == "error"] == [("invalid", ["Patient.id"])]


def test_instance_level_without_a_body_validates_the_stored_version(client: Client) -> None:
    created = client.post("/fhir/Patient", good_patient())
    assert created.status_code == 201, created.text
    id_ = created.json()["id"]
    assert issues(client.post(f"/fhir/Patient/{id_}/$validate"))[0]["diagnostics"] == "All OK"
    found = issues(client.post(f"/fhir/Patient/{id_}/$validate?profile={UK}UKCore-Observation"))
    assert [(i["code"], i["severity"]) for i in found] == [("invalid", "error")]  # wrong profile for a Patient
    assert_outcome(client.post("/fhir/Patient/nobody/$validate"), 404)


def test_delete_mode_needs_no_resource_but_a_stored_one(client: Client) -> None:
    created = client.post("/fhir/Patient", good_patient())
    found = issues(client.post(f"/fhir/Patient/{created.json()['id']}/$validate?mode=delete"))
    assert [i["severity"] for i in found] == ["information"]
    assert_outcome(client.post("/fhir/Patient/nobody/$validate?mode=delete"), 404)  # as the other modes
    assert [i["severity"] for i in issues(client.post("/fhir/Patient/$validate?mode=delete"))] == ["information"]


@pytest.mark.parametrize(
    "url, body, status",
    [
        ("/fhir/Patient/$validate", {"resourceType": "Observation"}, 400),
        ("/fhir/Patient/$validate?mode=sideways", {"resourceType": "Patient"}, 400),
        ("/fhir/Patient/$validate", None, 400),
        ("/fhir/Nonsense/$validate", {"resourceType": "Patient"}, 404),
    ],
    ids=["type-mismatch", "unknown-mode", "no-resource", "unknown-type"],
)
def test_requests_that_cannot_be_validated_are_4xx(client: Client, url: str, body: Any, status: int) -> None:
    assert_outcome(client.post(url, body), status)


def test_malformed_json_is_a_400(client: Client) -> None:
    body = assert_outcome(client.post("/fhir/Patient/$validate", raw=b'{"resourceType": "Patient",'), 400)
    assert "Malformed JSON" in body["issue"][0]["diagnostics"]


def test_the_security_gate_records_the_operation(client: Client, audit: MemoryAuditSink) -> None:
    client.post("/fhir/Patient/$validate", good_patient())
    assert [(r.interaction, r.resource_type) for r in audit.records] == [("operation:validate", "Patient")]


def test_the_operation_declares_itself_for_every_type() -> None:
    assert OPERATION["name"] == "validate"
    assert {"Patient", "Observation", "Bundle"} <= set(OPERATION["types"])
