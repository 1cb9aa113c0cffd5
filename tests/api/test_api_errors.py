"""Every error status comes back as an OperationOutcome."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from api_helpers import Client, assert_outcome, nhs, patient


def test_400_malformed_json_names_the_position(client: Client) -> None:
    body = assert_outcome(client.post("/fhir/Patient", raw=b'{"resourceType": "Patient",, }'), 400)
    assert "line 1 column" in body["issue"][0]["diagnostics"]


def test_400_body_shapes(client: Client) -> None:
    assert_outcome(client.post("/fhir/Patient", raw=b"[1, 2]"), 400)
    assert_outcome(client.post("/fhir/Patient", raw=b""), 400)
    assert_outcome(client.post("/fhir/Patient", {"resourceType": "Observation", "status": "final"}), 400)
    assert_outcome(client.post("/fhir/Patient", {"name": []}), 400)
    assert_outcome(client.put("/fhir/Patient/a", patient()), 400)  # missing id
    assert_outcome(client.put("/fhir/Patient/a", patient(id="b")), 400)  # id mismatch
    assert_outcome(client.put("/fhir/Patient/a!", patient(id="a!")), 400)  # invalid id


def test_400_structure_errors_carry_expressions(client: Client) -> None:
    body = assert_outcome(client.post("/fhir/Patient", patient(bogus=1, gender=5)), 400)
    expressions = [e for issue in body["issue"] for e in issue.get("expression", [])]
    assert len(body["issue"]) >= 2 and any("bogus" in e for e in expressions)


def test_400_nesting_too_deep(make_client: Callable[..., Client]) -> None:
    client = make_client(max_json_depth=10)
    deep: dict = {"url": "http://x", "valueString": "v"}
    for _ in range(12):
        deep = {"url": "http://x", "extension": [deep]}
    body = assert_outcome(client.post("/fhir/Patient", patient(extension=[deep])), 400)
    assert "nested" in body["issue"][0]["diagnostics"]


def test_404s(client: Client) -> None:
    assert_outcome(client.get("/fhir/Patient/nobody"), 404)
    assert_outcome(client.get("/fhir/NotAType/1"), 404)
    assert_outcome(client.get("/fhir/NotAType"), 404)
    assert_outcome(client.get("/nowhere"), 404)
    assert_outcome(client.get("/fhir/Patient/1/_history/1/extra"), 404)


def test_405_wrong_method(client: Client) -> None:
    r = client.delete("/fhir")
    body = assert_outcome(r, 405)
    assert body["issue"][0]["code"] == "not-supported" and "GET" in r.headers["allow"]
    assert_outcome(client.post("/fhir/Patient/p", {"resourceType": "Patient"}), 405)
    assert_outcome(client.put("/fhir/Patient/p/_history/1", {"resourceType": "Patient"}), 405)


def test_409_conditional_update_with_clashing_id(client: Client) -> None:
    client.put("/fhir/Patient/taken", patient(nhs(1), id="taken"))
    url = "/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|" + nhs(2)
    assert_outcome(client.put(url, patient(nhs(2), id="taken")), 409)


def test_410_after_delete(client: Client) -> None:
    client.put("/fhir/Patient/d", patient(id="d"))
    client.delete("/fhir/Patient/d")
    assert_outcome(client.get("/fhir/Patient/d"), 410)


def test_412_version_mismatch(client: Client) -> None:
    client.put("/fhir/Patient/v", patient(id="v"))
    assert_outcome(client.put("/fhir/Patient/v", patient(id="v"), headers={"If-Match": 'W/"5"'}), 412)


def test_413_body_too_large(make_client: Callable[..., Client]) -> None:
    client = make_client(max_body_bytes=200)
    big = patient(name=[{"family": "x" * 500}])
    assert_outcome(client.post("/fhir/Patient", big), 413)
    # without a Content-Length the limit is enforced while streaming
    chunks = iter([orjson.dumps(big)[:150], orjson.dumps(big)[150:]])
    r = client.http.post("/fhir/Patient", content=chunks, headers={"content-type": "application/fhir+json"})
    assert_outcome(r, 413)


def test_415_unsupported_content_type(client: Client) -> None:
    assert_outcome(client.post("/fhir/Patient", patient(), content_type="text/plain"), 415)
    assert_outcome(client.post("/fhir/Patient", patient(), content_type="application/fhir+xml"), 415)
    client.put("/fhir/Patient/p", patient(id="p"))
    ops = [{"op": "add", "path": "/gender", "value": "male"}]
    assert_outcome(client.patch("/fhir/Patient/p", ops, content_type="application/json"), 415)


def test_422_unprocessable_patch(client: Client) -> None:
    client.put("/fhir/Patient/p", patient(id="p"))
    assert_outcome(client.patch("/fhir/Patient/p", [{"op": "test", "path": "/gender", "value": "x"}]), 422)
    assert_outcome(client.patch("/fhir/Patient/p", [{"op": "remove", "path": "/resourceType"}]), 422)


def test_500_hides_internals(client: Client) -> None:
    api = client.http.app.state.api

    def boom(*args: object) -> None:
        raise RuntimeError("secret database password in this message")

    api.store.read = boom  # type: ignore[method-assign]
    body = assert_outcome(client.get("/fhir/Patient/x"), 500)
    assert "secret" not in orjson.dumps(body).decode()
