"""AuditEvent is the server's hash-chained audit trail, not a store resource: a client may read and
search it, and every write (REST, conditional, inside a Bundle) is a 405 that changes nothing."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from api_helpers import Client, assert_outcome, patient

from gpbridge.security.audit_chain import verify_audit_chain

EVENT = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2026-01-01T00:00:00Z",
         "agent": [{"requestor": True}], "source": {"observer": {"display": "forged"}}}  # fmt: skip


def _an_event(client: Client) -> dict[str, Any]:
    client.put("/fhir/Patient/a1", patient(id="a1"))
    client.http.app.state.api.audit.flush()
    bundle = client.get("/fhir/AuditEvent?_count=1").json()
    return bundle["entry"][0]["resource"]


def _refused(response: Any) -> None:
    body = assert_outcome(response, 405)
    assert "written by the server only" in body["issue"][0]["diagnostics"]


def test_writes_are_refused_and_change_nothing(client: Client) -> None:
    event = _an_event(client)
    url = f"/fhir/AuditEvent/{event['id']}"
    forged = {**EVENT, "id": event["id"]}
    _refused(client.put(url, forged))
    _refused(client.delete(url))
    _refused(client.patch(url, [{"op": "replace", "path": "/outcome", "value": "4"}]))
    _refused(client.post("/fhir/AuditEvent", EVENT))
    _refused(client.put("/fhir/AuditEvent?outcome=0", EVENT))
    _refused(client.patch("/fhir/AuditEvent?outcome=0", [{"op": "remove", "path": "/agent"}]))
    _refused(client.delete("/fhir/AuditEvent?outcome=0"))
    assert client.put(url, forged).headers["allow"] == "GET"
    assert client.get(url).json() == event  # as it was
    api = client.http.app.state.api
    assert api.store.count("AuditEvent") == 0  # nothing landed in the resource tables
    api.audit.flush()
    assert verify_audit_chain(api.store).ok
    attempts = client.get("/fhir/AuditEvent?outcome=4&_count=50").json()["entry"]
    assert {e["resource"]["subtype"][0]["code"] for e in attempts} >= {"create", "update", "patch", "delete"}


def test_bundle_entries_on_audit_events_are_refused(client: Client) -> None:
    event = _an_event(client)
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": EVENT, "request": {"method": "POST", "url": "AuditEvent"}},
    ]}  # fmt: skip
    body = assert_outcome(client.post("/fhir", transaction), 405)
    assert body["issue"][0]["expression"] == ["Bundle.entry[1].request"]
    patch = base64.b64encode(orjson.dumps([{"op": "remove", "path": "/agent"}])).decode()
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {**EVENT, "id": event["id"]}, "request": {"method": "PUT", "url": f"AuditEvent/{event['id']}"}},
        {"request": {"method": "DELETE", "url": f"AuditEvent/{event['id']}"}},
        {"request": {"method": "DELETE", "url": "AuditEvent?outcome=0"}},
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch},
         "request": {"method": "PATCH", "url": f"AuditEvent/{event['id']}"}},
        {"request": {"method": "GET", "url": f"AuditEvent/{event['id']}"}},
    ]}  # fmt: skip
    answer = client.post("/fhir", batch)
    assert answer.status_code == 200, answer.text
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    assert statuses == ["405 Method Not Allowed"] * 4 + ["400 Bad Request"]
    assert client.get(f"/fhir/AuditEvent/{event['id']}").json() == event
    assert client.http.app.state.api.store.count("AuditEvent") == 0


def test_history_is_refused_and_post_search_works(client: Client) -> None:
    event = _an_event(client)
    for url in ("/fhir/AuditEvent/_history", f"/fhir/AuditEvent/{event['id']}/_history",
                f"/fhir/AuditEvent/{event['id']}/_history/1"):  # fmt: skip
        assert_outcome(client.get(url), 405)
    form = client.http.post("/fhir/AuditEvent/_search", data={"_count": "1"})
    assert form.status_code == 200, form.text
    assert [e["resource"]["id"] for e in form.json()["entry"]] == [event["id"]]


def test_capability_lists_only_what_audit_events_support(client: Client) -> None:
    rest = client.get("/fhir/metadata").json()["rest"][0]
    audit = next(r for r in rest["resource"] if r["type"] == "AuditEvent")
    assert [i["code"] for i in audit["interaction"]] == ["read", "search-type"]
    assert audit["readHistory"] is False and audit["updateCreate"] is False
    assert audit["conditionalCreate"] is False and audit["conditionalDelete"] == "not-supported"
    assert "searchInclude" not in audit
    params = {p["name"]: p for p in audit["searchParam"]}
    assert set(params) == {"_id", "_tag", "agent", "altid", "date", "entity", "flag", "outcome", "patient",
                           "subtype", "type", "who"}  # fmt: skip
    assert params["_id"]["definition"].endswith("Resource-id") and "definition" not in params["who"]
    assert not [r for res in rest["resource"] for r in res.get("searchRevInclude", []) if r.startswith("AuditEvent:")]
