"""Search: GET, POST _search, system-level, paging, totals, summaries, ignored parameters."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from api_helpers import NHS, Client, assert_outcome, observation, patient


def seed(client: Client, n: int = 5) -> None:
    client.put("/fhir/Patient/p", patient(id="p"))
    for i in range(n):
        client.put(f"/fhir/Observation/o{i}", observation("Patient/p", id=f"o{i}"))


def link(bundle: dict, relation: str) -> str | None:
    return next((x["url"] for x in bundle.get("link", []) if x["relation"] == relation), None)


def test_search_get(client: Client) -> None:
    seed(client, 3)
    r = client.get(f"/fhir/Patient?identifier={NHS}|9000000009")
    bundle = r.json()
    assert r.status_code == 200 and bundle["type"] == "searchset" and bundle["total"] == 1
    entry = bundle["entry"][0]
    assert entry["fullUrl"] == "http://testserver/fhir/Patient/p" and entry["search"]["mode"] == "match"
    assert entry["resource"]["id"] == "p"
    r = client.get("/fhir/Observation?subject=Patient/p&code=http://snomed.info/sct|271649006")
    assert r.json()["total"] == 3


def test_search_post_form(client: Client) -> None:
    seed(client, 2)
    r = client.http.post(
        "/fhir/Observation/_search",
        content=b"subject=Patient/p",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and r.json()["total"] == 2
    r = client.http.post(
        "/fhir/Observation/_search", content=b"{}", headers={"content-type": "application/json"}
    )
    assert_outcome(r, 415)


def test_system_search_with_type(client: Client) -> None:
    seed(client, 2)
    r = client.get("/fhir?_type=Patient,Observation")
    assert r.status_code == 200
    types = sorted(e["resource"]["resourceType"] for e in r.json()["entry"])
    assert types == ["Observation", "Observation", "Patient", "Patient"]  # the source and its golden Patient


def test_paging_links(client: Client) -> None:
    seed(client, 5)
    first = client.get("/fhir/Observation?subject=Patient/p&_count=2").json()
    assert first["total"] == 5 and len(first["entry"]) == 2
    assert link(first, "self").startswith("http://testserver/fhir/Observation?")
    assert link(first, "previous") is None
    nxt = link(first, "next")
    assert nxt is not None and parse_qs(urlsplit(nxt).query)["_offset"] == ["2"]
    assert parse_qs(urlsplit(nxt).query)["subject"] == ["Patient/p"]
    seen = [e["resource"]["id"] for e in first["entry"]]
    while nxt:
        page = client.get(nxt.removeprefix("http://testserver")).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        assert link(page, "previous") is not None
        nxt = link(page, "next")
    assert sorted(seen) == [f"o{i}" for i in range(5)]
    assert parse_qs(urlsplit(link(first, "last")).query)["_offset"] == ["4"]


def test_total_none_and_summary_count(client: Client) -> None:
    seed(client, 3)
    assert "total" not in client.get("/fhir/Observation?_total=none").json()
    counted = client.get("/fhir/Observation?_summary=count").json()
    assert counted["total"] == 3 and "entry" not in counted


def test_summary_and_elements_subset_resources(client: Client) -> None:
    seed(client, 1)
    bundle = client.get("/fhir/Observation?_elements=subject").json()
    res = bundle["entry"][0]["resource"]
    assert res["subject"] == {"reference": "Patient/p"}
    assert res["status"] == "final" and "code" in res  # mandatory elements stay
    assert any(t["code"] == "SUBSETTED" for t in res["meta"]["tag"])
    res = client.get("/fhir/Observation?_summary=true").json()["entry"][0]["resource"]
    assert any(t["code"] == "SUBSETTED" for t in res["meta"]["tag"])


def test_ignored_parameters_reported_and_strict_rejects(client: Client) -> None:
    seed(client, 1)
    bundle = client.get("/fhir/Patient?frobnicate=1").json()
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and "frobnicate" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    r = client.get("/fhir/Patient?frobnicate=1", headers={"Prefer": "handling=strict"})
    assert_outcome(r, 400)


def test_malformed_search_value_is_400(client: Client) -> None:
    assert_outcome(client.get("/fhir/Observation?date=notadate"), 400)


def test_include(client: Client) -> None:
    seed(client, 1)
    bundle = client.get("/fhir/Observation?_include=Observation:subject").json()
    modes = sorted((e["search"]["mode"], e["resource"]["resourceType"]) for e in bundle["entry"])
    assert modes == [("include", "Patient"), ("match", "Observation")]
