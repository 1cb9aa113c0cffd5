"""GET entries of batch and transaction Bundles answer exactly as the standalone GET does.

Run on SQLite and on PostgreSQL (when GPBRIDGE_TEST_POSTGRES is set): inside a transaction the
entries read through the Bundle's own session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Client, make_settings, nhs, observation, patient
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.config import Settings

POSTGRES_DSN = Settings.from_env().test_postgres
BASE = "http://testserver/fhir"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    settings = make_settings(tmp_path)
    if request.param == "postgresql":
        if not POSTGRES_DSN:
            pytest.skip("PostgreSQL tests need GPBRIDGE_TEST_POSTGRES (a DSN); .ci/run sets it")
        from gpbridge.store.postgres import PostgresStore

        fresh = PostgresStore(POSTGRES_DSN)
        fresh.drop_all()
        fresh.close()
        settings = dataclasses.replace(settings, database=POSTGRES_DSN)
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        yield Client(http)


def gets(*urls: str, kind: str = "batch", **request: Any) -> dict[str, Any]:
    entries = [{"request": {"method": "GET", "url": url, **request}} for url in urls]
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def send(client: Client, bundle: dict[str, Any], **headers: str) -> Any:
    r = client.post("/fhir", bundle, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def without_ids(searchset: dict[str, Any]) -> dict[str, Any]:
    """A searchset without what differs between two runs of one search (its id, outcome fullUrls)."""
    out = {k: v for k, v in searchset.items() if k != "id"}
    out["entry"] = [
        {k: v for k, v in e.items() if not (k == "fullUrl" and v.startswith("urn:uuid:"))}
        for e in searchset.get("entry", [])
    ]
    return out


@pytest.fixture
def record(client: Client) -> dict[str, str]:
    """A patient with a blood pressure observation; the patient updated once (two versions)."""
    p = client.post("/fhir/Patient", patient(nhs(1))).json()
    o = client.post("/fhir/Observation", observation(f"Patient/{p['id']}")).json()
    client.put(f"/fhir/Patient/{p['id']}", {**p, "gender": "female"})
    return {"patient": p["id"], "observation": o["id"]}


SEARCHES = [
    "Observation?_id={observation}&_include=Observation:subject",
    "Patient?_id={patient}&_revinclude=Observation:subject",
    "Observation?_id={observation}&_elements=status",
    "Patient?_summary=true",
    "Observation?_summary=count",
    "Observation?subject=Patient/{patient}&_total=none",
    "Observation?_id={observation}&unknown-param=1",
    "Observation?_count=1&_sort=-_lastUpdated",
    "Patient/{patient}/_history",
    "Patient/{patient}/_history?_count=1",
    "?_type=Patient,Observation&_count=1",
]


@pytest.mark.parametrize("kind", ["batch", "transaction"])
@pytest.mark.parametrize("template", SEARCHES)
def test_search_and_history_entries_match_the_standalone_bundle(
    client: Client, record: dict[str, str], kind: str, template: str
) -> None:
    url = template.format(**record)
    standalone = client.get(f"/fhir/{url}" if not url.startswith("?") else f"/fhir{url}").json()
    [entry] = send(client, gets(url, kind=kind))["entry"]
    assert entry["response"]["status"] == "200 OK"
    assert without_ids(entry["resource"]) == without_ids(standalone)


def test_result_parameters_apply_in_a_batch(client: Client, record: dict[str, str]) -> None:
    obs, pat = record["observation"], record["patient"]
    included, revincluded, elements = (e["resource"] for e in send(client, gets(
        f"Observation?_id={obs}&_include=Observation:subject",
        f"Patient?_id={pat}&_revinclude=Observation:subject",
        f"Observation?_id={obs}&_elements=status",
    ))["entry"])  # fmt: skip
    assert [(e["resource"]["resourceType"], e["search"]["mode"]) for e in included["entry"]] == [
        ("Observation", "match"), ("Patient", "include")]  # fmt: skip
    assert [(e["resource"]["resourceType"], e["search"]["mode"]) for e in revincluded["entry"]] == [
        ("Patient", "match"), ("Observation", "include")]  # fmt: skip
    [subset] = elements["entry"]
    assert "subject" not in subset["resource"] and subset["resource"]["status"] == "final"
    assert any(t.get("code") == "SUBSETTED" for t in subset["resource"]["meta"]["tag"])


def test_nested_searchset_pages_with_absolute_links(client: Client) -> None:
    p = client.post("/fhir/Patient", patient(nhs(2))).json()
    for _ in range(12):
        client.post("/fhir/Observation", observation(f"Patient/{p['id']}"))
    [entry] = send(client, gets("Observation?_count=5"))["entry"]
    page = entry["resource"]
    links = {link["relation"]: link["url"] for link in page["link"]}
    assert page["total"] == 12 and len(page["entry"]) == 5
    assert set(links) == {"self", "first", "next", "last"}
    assert all(url.startswith(f"{BASE}/Observation?") for url in links.values())
    second = client.get(links["next"].removeprefix("http://testserver")).json()
    assert len(second["entry"]) == 5 and "previous" in {link["relation"] for link in second["link"]}
    seen = {e["resource"]["id"] for e in page["entry"]} | {e["resource"]["id"] for e in second["entry"]}
    assert len(seen) == 10


def test_unknown_parameter_is_reported_and_strict_handling_refuses_it(client: Client) -> None:
    [lenient] = send(client, gets("Observation?nonsense=1"))["entry"]
    [outcome] = [e for e in lenient["resource"]["entry"] if e["search"]["mode"] == "outcome"]
    assert "nonsense" in outcome["resource"]["issue"][0]["diagnostics"]
    # Prefer: handling=strict on the Bundle request applies to its GET entries: a 400 entry in a
    # batch (the other entries still answered), a failed transaction
    ok, bad = send(client, gets("Observation", "Observation?nonsense=1"), prefer="handling=strict")["entry"]
    assert ok["response"]["status"] == "200 OK" and bad["response"]["status"] == "400 Bad Request"
    assert bad["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[1].request.url"]
    r = client.post("/fhir", gets("Observation?nonsense=1", kind="transaction"), headers={"prefer": "handling=strict"})
    assert r.status_code == 400 and "nonsense" in r.text


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_metadata_entry_is_the_capability_statement(client: Client, kind: str) -> None:
    [entry] = send(client, gets("metadata", kind=kind))["entry"]
    assert entry["response"]["status"] == "200 OK"
    assert entry["resource"] == client.get("/fhir/metadata").json()


def test_reads_vreads_and_their_statuses(client: Client, record: dict[str, str]) -> None:
    pat = record["patient"]
    gone = client.post("/fhir/Patient", patient(nhs(3))).json()["id"]
    client.delete(f"/fhir/Patient/{gone}")
    read, vread, absent, deleted, bad_version = send(client, gets(
        f"Patient/{pat}", f"Patient/{pat}/_history/1", "Patient/never-was", f"Patient/{gone}",
        f"{BASE}/Patient/{pat}/_history/9",
    ))["entry"]  # fmt: skip
    assert read["response"]["status"] == "200 OK" and read["response"]["etag"] == 'W/"2"'
    assert read["resource"] == client.get(f"/fhir/Patient/{pat}").json()
    assert read["fullUrl"] == f"{BASE}/Patient/{pat}" and read["response"]["lastModified"]
    assert vread["resource"]["meta"]["versionId"] == "1" and vread["response"]["etag"] == 'W/"1"'
    assert absent["response"]["status"] == "404 Not Found"
    assert deleted["response"]["status"] == "410 Gone"
    assert bad_version["response"]["status"] == "404 Not Found"
    [unchanged] = send(client, gets(f"Patient/{pat}", ifNoneMatch='W/"2"'))["entry"]
    assert unchanged["response"]["status"] == "304 Not Modified" and "resource" not in unchanged
    [subset] = send(client, gets(f"Patient/{pat}?_elements=gender"))["entry"]
    assert subset["resource"] == client.get(f"/fhir/Patient/{pat}?_elements=gender").json()


def test_failing_get_fails_the_transaction(client: Client) -> None:
    r = client.post("/fhir", gets("Patient/never-was", kind="transaction"))
    assert r.status_code == 404


def test_operation_entry_via_get(client: Client, record: dict[str, str]) -> None:
    pat = record["patient"]
    [entry] = send(client, gets(f"Patient/{pat}/$summary"))["entry"]
    assert entry["response"]["status"] == "200 OK"
    assert entry["resource"]["type"] == "document"
    [unknown] = send(client, gets(f"Patient/{pat}/$nonsense"))["entry"]
    assert unknown["response"]["status"].startswith("404")


def test_transaction_gets_see_the_bundles_own_writes(client: Client) -> None:
    put = {"resource": patient(nhs(4), id="tx-own"), "request": {"method": "PUT", "url": "Patient/tx-own"}}
    bundle = gets("Patient/tx-own/_history", "Patient?_id=tx-own", "Patient/tx-own/_history/1", kind="transaction")
    bundle["entry"].insert(0, put)
    _, history, search, vread = send(client, bundle)["entry"]
    assert history["resource"]["total"] == 1 and history["resource"]["entry"][0]["request"]["method"] == "PUT"
    assert search["resource"]["total"] == 1
    assert vread["resource"]["id"] == "tx-own"


def test_head_entry_has_status_and_no_resource(client: Client, record: dict[str, str]) -> None:
    bundle = gets(f"Patient/{record['patient']}")
    bundle["entry"][0]["request"]["method"] = "HEAD"
    [entry] = send(client, bundle)["entry"]
    assert entry["response"]["status"] == "200 OK" and "resource" not in entry
