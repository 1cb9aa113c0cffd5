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
    # next continues after the page's last row (keyset, search.paging), not at an offset
    assert nxt is not None and "_page" in parse_qs(urlsplit(nxt).query)
    assert "_offset" not in parse_qs(urlsplit(nxt).query)
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


def follow(client: Client, url: str | None, **kw: object) -> dict:
    assert url is not None
    r = client.get(url.removeprefix("http://testserver"), **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return r.json()


def dated(client: Client, id_: str, when: str) -> None:
    obs = observation("Patient/p", code="77176002", id=id_, effectiveDateTime=when)
    assert client.put(f"/fhir/Observation/{id_}", obs).status_code in (200, 201)


def test_next_link_is_stable_under_inserts_and_deletes(client: Client) -> None:
    """The QA scenario: a row inserted before the cursor is not repeated, a deleted one on page 1
    makes nothing skipped; previous pages back from page 2's first row."""
    client.put("/fhir/Patient/p", patient(id="p"))
    for i in range(12):
        dated(client, f"o{i:02d}", f"20{10 + i:02d}-03-01")
    url = "/fhir/Observation?code=http://snomed.info/sct|77176002&_sort=date&_count=5"
    first = client.get(url).json()
    assert [e["resource"]["id"] for e in first["entry"]] == [f"o{i:02d}" for i in range(5)]
    dated(client, "early", "1800-01-01")
    assert client.delete("/fhir/Observation/o01").status_code == 204
    second = follow(client, link(first, "next"), headers={"Prefer": "handling=strict"})  # _page is known
    assert [e["resource"]["id"] for e in second["entry"]] == [f"o{i:02d}" for i in range(5, 10)]
    assert second["total"] == 12
    query = parse_qs(urlsplit(link(second, "self")).query)
    assert query["_page"] == parse_qs(urlsplit(link(first, "next")).query)["_page"]
    assert query["code"] == ["http://snomed.info/sct|77176002"] and query["_sort"] == ["date"]
    back = follow(client, link(second, "previous"))
    assert [e["resource"]["id"] for e in back["entry"]] == ["early", "o00", "o02", "o03", "o04"]
    assert link(back, "previous") is None  # nothing before "early"
    last = follow(client, link(second, "next"))
    assert [e["resource"]["id"] for e in last["entry"]] == ["o10", "o11"] and link(last, "next") is None
    assert "_offset" in parse_qs(urlsplit(link(first, "last")).query)  # first/last stay offsets


def test_malformed_page_cursor_is_400(client: Client) -> None:
    seed(client, 3)
    for bad in ("garbage", "eyJ2IjoxfQ", "A" * 5000):
        r = client.get(f"/fhir/Observation?subject=Patient/p&_page={bad}")
        body = assert_outcome(r, 400)
        assert body["issue"][0]["expression"] == ["_page"]
    first = client.get("/fhir/Observation?subject=Patient/p&_count=1&_sort=_id").json()
    token = parse_qs(urlsplit(link(first, "next")).query)["_page"][0]
    assert_outcome(client.get(f"/fhir/Observation?subject=Patient/p&_count=1&_sort=-_id&_page={token}"), 400)
