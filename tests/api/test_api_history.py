"""History at instance, type and system level, with _since and paging."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import orjson
from api_helpers import Client, assert_outcome, patient


def test_instance_history_newest_first(client: Client) -> None:
    client.put("/fhir/Patient/h", patient(id="h"))
    client.put("/fhir/Patient/h", patient(id="h", gender="male"))
    client.delete("/fhir/Patient/h")
    bundle = client.get("/fhir/Patient/h/_history").json()
    assert bundle["type"] == "history" and bundle["total"] == 3
    methods = [e["request"]["method"] for e in bundle["entry"]]
    assert methods == ["DELETE", "PUT", "PUT"]  # created by PUT: not a POST
    assert "resource" not in bundle["entry"][0]
    assert bundle["entry"][1]["resource"]["meta"]["versionId"] == "2"
    assert bundle["entry"][1]["response"]["etag"] == 'W/"2"'
    assert_outcome(client.get("/fhir/Patient/never/_history"), 404)


def test_type_and_system_history_paging(make_client: Callable[..., Client]) -> None:
    client = make_client(identity_linkage=False)  # counts versions: no golden Patients among them
    for i in range(5):
        client.put(f"/fhir/Patient/t{i}", patient(id=f"t{i}"))
    client.put("/fhir/Organization/o", {"resourceType": "Organization", "id": "o", "name": "Surgery"})
    page = client.get("/fhir/Patient/_history?_count=2").json()
    assert page["total"] == 5 and len(page["entry"]) == 2
    seen = []
    url: str | None = "/fhir/Patient/_history?_count=2"
    while url:
        page = client.get(url).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = next((x["url"] for x in page["link"] if x["relation"] == "next"), None)
        url = url.removeprefix("http://testserver") if url else None
    assert sorted(seen) == [f"t{i}" for i in range(5)]
    assert client.get("/fhir/_history").json()["total"] == 6


def test_since(client: Client) -> None:
    client.put("/fhir/Patient/s0", patient(id="s0"))
    time.sleep(0.01)
    client.put("/fhir/Patient/s1", patient(id="s1"))
    stamp = client.get("/fhir/Patient/s1").json()["meta"]["lastUpdated"]
    client.put("/fhir/Patient/s2", patient(id="s2"))
    bundle = client.http.get("/fhir/Patient/_history", params={"_since": stamp}).json()
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert "s2" in ids and "s0" not in ids
    assert bundle["link"][0]["url"].startswith("http://testserver/fhir/Patient/_history?_since=")
    assert_outcome(client.get("/fhir/Patient/_history?_since=yesterday"), 400)
    assert_outcome(client.get("/fhir/Patient/_history?_count=x"), 400)


def _requests(client: Client, url: str) -> list[tuple[str, str, str]]:
    """(method, url, status) of each history entry, oldest first."""
    entries = client.get(url).json()["entry"]
    return [(e["request"]["method"], e["request"]["url"], e["response"]["status"]) for e in reversed(entries)]


def test_history_shows_each_request_as_it_was_answered(client: Client) -> None:
    made = client.post("/fhir/Organization", {"resourceType": "Organization", "name": "Surgery"})
    org = made.json()["id"]
    client.put(f"/fhir/Organization/{org}", {"resourceType": "Organization", "id": org, "name": "The Surgery"})
    client.patch(f"/fhir/Organization/{org}", [{"op": "add", "path": "/active", "value": True}])
    client.delete(f"/fhir/Organization/{org}")
    recreated = client.put(f"/fhir/Organization/{org}", {"resourceType": "Organization", "id": org, "name": "New"})
    assert recreated.status_code == 201
    answered = client.delete(f"/fhir/Organization/{org}", headers={"prefer": "return=OperationOutcome"})
    assert answered.status_code == 200
    assert _requests(client, f"/fhir/Organization/{org}/_history") == [
        ("POST", "Organization", "201 Created"),
        ("PUT", f"Organization/{org}", "200 OK"),
        ("PATCH", f"Organization/{org}", "200 OK"),
        ("DELETE", f"Organization/{org}", "204 No Content"),
        ("PUT", f"Organization/{org}", "201 Created"),
        ("DELETE", f"Organization/{org}", "200 OK"),
    ]
    assert client.put("/fhir/Organization/o2", {"resourceType": "Organization", "id": "o2", "name": "O2"}).status_code == 201
    assert _requests(client, "/fhir/Organization/o2/_history") == [("PUT", "Organization/o2", "201 Created")]


def test_conditional_and_bundle_writes_show_their_own_requests(client: Client) -> None:
    org = {"resourceType": "Organization", "identifier": [{"system": "urn:ods", "value": "Y1"}]}
    assert client.put("/fhir/Organization?identifier=urn:ods|Y1", org).status_code == 201
    found = client.get("/fhir/Organization?identifier=urn:ods|Y1").json()["entry"][0]["resource"]["id"]
    client.patch("/fhir/Organization?identifier=urn:ods|Y1", [{"op": "add", "path": "/name", "value": "Y"}])
    client.delete("/fhir/Organization?identifier=urn:ods|Y1", headers={"prefer": "return=OperationOutcome"})
    assert _requests(client, f"/fhir/Organization/{found}/_history") == [
        ("PUT", f"Organization/{found}", "201 Created"),
        ("PATCH", f"Organization/{found}", "200 OK"),
        ("DELETE", f"Organization/{found}", "200 OK"),
    ]
    patch = base64.b64encode(orjson.dumps([{"op": "add", "path": "/active", "value": True}])).decode()
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch}
    for entries in (
        [{"resource": {"resourceType": "Organization", "id": "t1", "name": "T1"}, "request": {"method": "PUT", "url": "Organization/t1"}}],
        [{"resource": binary, "request": {"method": "PATCH", "url": "Organization/t1"}}],
        [{"request": {"method": "DELETE", "url": "Organization/t1"}}],
        [{"resource": {"resourceType": "Organization", "id": "t1", "name": "T1"}, "request": {"method": "PUT", "url": "Organization/t1"}}],
    ):  # fmt: skip
        answer = client.post("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": entries})
        assert answer.status_code == 200, answer.text
    assert _requests(client, "/fhir/Organization/t1/_history") == [
        ("PUT", "Organization/t1", "201 Created"),
        ("PATCH", "Organization/t1", "200 OK"),
        ("DELETE", "Organization/t1", "204 No Content"),
        ("PUT", "Organization/t1", "201 Created"),
    ]
