"""POST /fhir with transaction and batch Bundles."""

from __future__ import annotations

from typing import Any

from api_helpers import NHS, Client, assert_outcome, nhs, observation, patient

from identity_helpers import NOT_GOLDEN

SOURCES = "=".join(NOT_GOLDEN)  # source Patients only, not the golden ones linkage makes


def tx(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def versions(client: Client) -> int:
    return client.get("/fhir/_history?_count=0").json()["total"]


def test_transaction_rewrites_urn_uuid(client: Client) -> None:
    pid = "urn:uuid:0a8e5b4c-3d2f-4e1a-9b8c-7d6e5f4a3b2c"
    r = client.post("/fhir", tx(post(observation(pid)), post(patient(), pid)))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    obs_loc, pat_loc = (e["response"]["location"] for e in out["entry"])
    pat_ref = "/".join(pat_loc.split("/")[:2])
    obs = client.get("/fhir/" + "/".join(obs_loc.split("/")[:2])).json()
    assert obs["subject"]["reference"] == pat_ref
    assert all(e["response"]["status"] == "201 Created" for e in out["entry"])
    assert all("resource" not in e for e in out["entry"])  # minimal by default


def test_transaction_prefer_representation(client: Client) -> None:
    r = client.post("/fhir", tx(post(patient())), headers={"Prefer": "return=representation"})
    assert r.json()["entry"][0]["resource"]["resourceType"] == "Patient"


def test_transaction_atomic_failure_on_third_entry(client: Client) -> None:
    client.put("/fhir/Patient/keep", patient(id="keep"))
    before = versions(client)
    bad = tx(
        {"resource": patient(id="keep", gender="male"), "request": {"method": "PUT", "url": "Patient/keep"}},
        post(patient(nhs(1))),
        post({"resourceType": "Patient", "notAnElement": True}),
        post(patient(nhs(2))),
    )
    body = assert_outcome(client.post("/fhir", bad), 400)
    expressions = [e for issue in body["issue"] for e in issue.get("expression", [])]
    assert any(e.startswith("Bundle.entry[2].resource") for e in expressions), expressions
    assert versions(client) == before
    assert client.get("/fhir/Patient/keep").headers["etag"] == 'W/"1"'
    assert client.get(f"/fhir/Patient?_summary=count&{SOURCES}").json()["total"] == 1


def test_transaction_conditional_reference(client: Client) -> None:
    client.put("/fhir/Patient/nhs", patient("9000000009", id="nhs"))
    r = client.post("/fhir", tx(post(observation(f"Patient?identifier={NHS}|9000000009"))))
    loc = r.json()["entry"][0]["response"]["location"]
    obs = client.get("/fhir/" + "/".join(loc.split("/")[:2])).json()
    assert obs["subject"]["reference"] == "Patient/nhs"
    r = client.post("/fhir", tx(post(observation(f"Patient?identifier={NHS}|0000000000"))))
    assert_outcome(r, 422)


def test_batch_entries_independent(client: Client) -> None:
    b = tx(post(patient(nhs(1))), post({"resourceType": "Patient", "nope": 1}), post(patient(nhs(2))), kind="batch")
    r = client.post("/fhir", b)
    assert r.status_code == 200
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses[0] == "201 Created" and statuses[1].startswith("400") and statuses[2] == "201 Created"
    assert r.json()["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert client.get(f"/fhir/Patient?_summary=count&{SOURCES}").json()["total"] == 2


def test_post_to_base_needs_a_bundle(client: Client) -> None:
    assert_outcome(client.post("/fhir", patient()), 400)
    assert_outcome(client.post("/fhir", {"resourceType": "Bundle", "type": "collection"}), 400)
    assert_outcome(client.post("/fhir", patient(), content_type="text/plain"), 415)
