"""Read, vread, create, update, delete and their headers."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from api_helpers import Client, assert_outcome, patient


def create(client: Client, body: dict | None = None) -> tuple[str, dict]:
    r = client.post("/fhir/Patient", body or patient())
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()


def test_create_returns_201_with_location_etag_and_body(client: Client) -> None:
    r = client.post("/fhir/Patient", patient(id="ignored"))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "ignored" and body["meta"]["versionId"] == "1" and body["meta"]["lastUpdated"]
    assert r.headers["location"] == f"http://testserver/fhir/Patient/{body['id']}/_history/1"
    assert r.headers["etag"] == 'W/"1"'
    assert parsedate_to_datetime(r.headers["last-modified"]).tzinfo is not None
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"


def test_read_and_vread(client: Client) -> None:
    pid, _ = create(client)
    r = client.get(f"/fhir/Patient/{pid}")
    assert r.status_code == 200 and r.json()["id"] == pid and r.headers["etag"] == 'W/"1"'
    client.put(f"/fhir/Patient/{pid}", patient(id=pid, gender="male"))
    assert client.get(f"/fhir/Patient/{pid}").json()["gender"] == "male"
    v1 = client.get(f"/fhir/Patient/{pid}/_history/1")
    assert v1.status_code == 200 and "gender" not in v1.json() and v1.headers["etag"] == 'W/"1"'
    assert_outcome(client.get(f"/fhir/Patient/{pid}/_history/9"), 404)
    assert_outcome(client.get(f"/fhir/Patient/{pid}/_history/x"), 400)


def test_update_versions_and_create_on_update(client: Client) -> None:
    r = client.put("/fhir/Patient/p1", patient(id="p1"))
    assert r.status_code == 201 and r.headers["location"].endswith("/Patient/p1/_history/1")
    r = client.put("/fhir/Patient/p1", patient(id="p1", gender="female"))
    assert r.status_code == 200 and r.headers["etag"] == 'W/"2"' and r.json()["meta"]["versionId"] == "2"
    assert r.headers["location"].endswith("/Patient/p1/_history/2")


def test_if_match(client: Client) -> None:
    client.put("/fhir/Patient/m", patient(id="m"))
    assert client.put("/fhir/Patient/m", patient(id="m"), headers={"If-Match": 'W/"1"'}).status_code == 200
    assert_outcome(client.put("/fhir/Patient/m", patient(id="m"), headers={"If-Match": 'W/"1"'}), 412)
    assert client.put("/fhir/Patient/m", patient(id="m"), headers={"If-Match": '"2"'}).status_code == 200
    assert_outcome(client.put("/fhir/Patient/m", patient(id="m"), headers={"If-Match": "banana"}), 400)
    assert_outcome(client.delete("/fhir/Patient/m", headers={"If-Match": 'W/"1"'}), 412)


def test_if_none_match_on_read_gives_304(client: Client) -> None:
    client.put("/fhir/Patient/c", patient(id="c"))
    r = client.get("/fhir/Patient/c", headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.headers["etag"] == 'W/"1"'
    assert client.get("/fhir/Patient/c", headers={"If-None-Match": 'W/"0"'}).status_code == 200


def test_delete_then_read_is_410(client: Client) -> None:
    pid, _ = create(client)
    r = client.delete(f"/fhir/Patient/{pid}")
    assert r.status_code == 204 and r.headers["etag"] == 'W/"2"'
    assert_outcome(client.get(f"/fhir/Patient/{pid}"), 410)
    assert client.get(f"/fhir/Patient/{pid}/_history/1").status_code == 200
    assert_outcome(client.get(f"/fhir/Patient/{pid}/_history/2"), 410)
    assert client.delete(f"/fhir/Patient/{pid}").status_code == 204  # idempotent
    assert client.delete("/fhir/Patient/never").status_code == 204
    r = client.put(f"/fhir/Patient/{pid}", patient(id=pid))  # revive
    assert r.status_code == 201 and r.headers["etag"] == 'W/"3"'


def test_prefer_return(client: Client) -> None:
    r = client.post("/fhir/Patient", patient(), headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b"" and r.headers["location"] and r.headers["etag"]
    r = client.post("/fhir/Patient", patient(), headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 201 and r.json()["resourceType"] == "OperationOutcome"
    r = client.post("/fhir/Patient", patient(), headers={"Prefer": "return=representation"})
    assert r.status_code == 201 and r.json()["resourceType"] == "Patient"
    pid = r.json()["id"]
    r = client.delete(f"/fhir/Patient/{pid}", headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 200 and r.json()["resourceType"] == "OperationOutcome"


def test_formats(client: Client) -> None:
    pid, _ = create(client)
    r = client.get(f"/fhir/Patient/{pid}", headers={"Accept": "application/json"})
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    r = client.get(f"/fhir/Patient/{pid}?_format=json")
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"
    r = client.get(f"/fhir/Patient/{pid}?_format=application/json")
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert_outcome(client.get(f"/fhir/Patient/{pid}?_format=xml"), 406)
    assert_outcome(client.get(f"/fhir/Patient/{pid}", headers={"Accept": "application/fhir+xml"}), 406)
    r = client.post("/fhir/Patient", patient(), content_type="application/json")
    assert r.status_code == 201


def test_read_with_elements_and_summary(client: Client) -> None:
    pid, _ = create(client, patient(gender="female", birthDate="1970-01-01"))
    r = client.get(f"/fhir/Patient/{pid}?_elements=gender")
    body = r.json()
    assert body["gender"] == "female" and "name" not in body and "birthDate" not in body
    assert any(t["code"] == "SUBSETTED" for t in body["meta"]["tag"])
    r = client.get(f"/fhir/Patient/{pid}?_summary=text")
    assert "name" not in r.json()


def test_request_id_reaches_the_audit_record(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from api_helpers import make_settings
    from starlette.testclient import TestClient

    from gpbridge.api.app import create_app
    from gpbridge.security.audit import MemoryAuditSink

    sink = MemoryAuditSink()
    with TestClient(create_app(make_settings(tmp_path), audit=sink)) as http:
        http.get("/fhir/Patient/x", headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"})
    [record] = sink.records
    assert (record.interaction, record.resource_type, record.resource_id) == ("read", "Patient", "x")
    assert record.request_id == "req-1" and record.correlation_id == "corr-1" and record.allowed


def test_head_read(client: Client) -> None:
    client.put("/fhir/Patient/hd", patient(id="hd"))
    r = client.http.head("/fhir/Patient/hd")
    assert r.status_code == 200 and r.headers["etag"] == 'W/"1"'
