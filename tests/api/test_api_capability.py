"""The CapabilityStatement is generated from the spec registry and the routes."""

from __future__ import annotations

import pytest
from api_helpers import Client

from gpbridge.fhir.spec import resource_types


def test_capability_statement(client: Client) -> None:
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    rest = cs["rest"][0]
    listed = {res["type"] for res in rest["resource"]}
    assert listed == set(resource_types())
    obs = next(res for res in rest["resource"] if res["type"] == "Observation")
    params = {p["name"]: p for p in obs["searchParam"]}
    assert {"code", "subject", "date"} <= set(params)
    assert params["date"]["type"] == "date" and params["code"]["definition"].startswith(
        "http://hl7.org/fhir/"
    )
    interactions = {i["code"] for i in obs["interaction"]}
    assert {
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "create",
        "search-type",
        "history-instance",
        "history-type",
    } <= interactions
    assert {"transaction", "batch", "search-system", "history-system"} <= {
        i["code"] for i in rest["interaction"]
    }
    assert "Observation:subject" in obs["searchInclude"]
    patient = next(res for res in rest["resource"] if res["type"] == "Patient")
    assert "Observation:subject" in patient["searchRevInclude"]
    assert "_text" not in params  # unsupported parameters are not advertised
    assert client.get("/fhir/metadata").content == r.content  # cached


def test_every_routed_operation_is_listed(client: Client) -> None:
    # Patient/$match was answered but missing from the statement: the list now comes from the routes.
    from gpbridge.api.app import routes

    rest = client.get("/fhir/metadata").json()["rest"][0]
    listed = {(res["type"], op["name"]) for res in rest["resource"] for op in res.get("operation", [])}
    assert ("Patient", "match") in listed
    routed = set()
    for route in routes():
        parts = route.path.removeprefix("/fhir/").split("/")
        if parts[-1].startswith("$"):
            for type_ in resource_types() if parts[0] == "{type}" else [parts[0]]:
                routed.add((type_, parts[-1][1:]))
    assert routed == listed
    patient = next(res for res in rest["resource"] if res["type"] == "Patient")
    match = next(op for op in patient["operation"] if op["name"] == "match")
    assert match["definition"] == "http://hl7.org/fhir/OperationDefinition/Patient-match"


def test_a_routed_operation_must_be_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpbridge.api import capability, identity

    monkeypatch.delattr(identity, "OPERATION")
    with pytest.raises(LookupError, match=r"\$match"):
        capability.capability_statement("http://x/fhir")
