"""History at instance, type and system level, with _since and paging."""

from __future__ import annotations

import time
from collections.abc import Callable

from api_helpers import Client, assert_outcome, patient


def test_instance_history_newest_first(client: Client) -> None:
    client.put("/fhir/Patient/h", patient(id="h"))
    client.put("/fhir/Patient/h", patient(id="h", gender="male"))
    client.delete("/fhir/Patient/h")
    bundle = client.get("/fhir/Patient/h/_history").json()
    assert bundle["type"] == "history" and bundle["total"] == 3
    methods = [e["request"]["method"] for e in bundle["entry"]]
    assert methods == ["DELETE", "PUT", "POST"]
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
