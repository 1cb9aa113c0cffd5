"""Conditional create, update, delete and patch (0 / 1 / many matches), and JSON Patch."""

from __future__ import annotations

from api_helpers import NHS, Client, assert_outcome, patient

CRIT = f"identifier={NHS}|9000000009"


def test_conditional_create(client: Client) -> None:
    first = client.post("/fhir/Patient", patient(), headers={"If-None-Exist": CRIT})
    assert first.status_code == 201
    again = client.post("/fhir/Patient", patient(), headers={"If-None-Exist": CRIT})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["etag"] == 'W/"1"'
    client.post("/fhir/Patient", patient())
    assert_outcome(client.post("/fhir/Patient", patient(), headers={"If-None-Exist": CRIT}), 412)
    assert_outcome(client.post("/fhir/Patient", patient(), headers={"If-None-Exist": "nonsense=1"}), 400)


def test_conditional_update(client: Client) -> None:
    made = client.put(f"/fhir/Patient?{CRIT}", patient())
    assert made.status_code == 201
    pid = made.json()["id"]
    updated = client.put(f"/fhir/Patient?{CRIT}", patient(gender="male"))
    assert updated.status_code == 200 and updated.json()["id"] == pid and updated.headers["etag"] == 'W/"2"'
    assert_outcome(client.put(f"/fhir/Patient?{CRIT}", patient(id="wrong")), 400)
    client.post("/fhir/Patient", patient())
    assert_outcome(client.put(f"/fhir/Patient?{CRIT}", patient()), 412)
    assert_outcome(client.put("/fhir/Patient", patient()), 400)  # no criteria


def test_conditional_delete(client: Client) -> None:
    assert client.delete(f"/fhir/Patient?{CRIT}").status_code == 204  # nothing matches
    client.put("/fhir/Patient/a", patient(id="a"))
    client.put("/fhir/Patient/b", patient(id="b"))
    assert_outcome(client.delete(f"/fhir/Patient?{CRIT}"), 412)
    client.delete("/fhir/Patient/a")
    r = client.delete(f"/fhir/Patient?{CRIT}")
    assert r.status_code == 204 and r.headers["etag"] == 'W/"2"'
    assert_outcome(client.get("/fhir/Patient/b"), 410)
    assert_outcome(client.delete("/fhir/Patient"), 400)  # would delete everything


def test_patch(client: Client) -> None:
    client.put("/fhir/Patient/p", patient(id="p"))
    ops = [
        {"op": "add", "path": "/gender", "value": "female"},
        {"op": "replace", "path": "/name/0/family", "value": "Jones"},
    ]
    r = client.patch("/fhir/Patient/p", ops, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.headers["etag"] == 'W/"2"'
    assert r.json()["gender"] == "female" and r.json()["name"][0]["family"] == "Jones"
    assert_outcome(client.patch("/fhir/Patient/p", ops, headers={"If-Match": 'W/"1"'}), 412)
    assert_outcome(client.patch("/fhir/Patient/none", ops), 404)
    assert_outcome(client.patch("/fhir/Patient/p", [{"op": "replace", "path": "/id", "value": "q"}]), 422)
    assert_outcome(client.patch("/fhir/Patient/p", {"op": "add"}), 400)
    assert_outcome(client.patch("/fhir/Patient/p", raw=b"[{"), 400)
    bad_structure = [{"op": "add", "path": "/bogus", "value": 1}]
    assert_outcome(client.patch("/fhir/Patient/p", bad_structure), 400)


def test_patch_errors_never_quote_the_record(client: Client) -> None:
    # jsonpatch's messages carried the whole resource ("member 'x' not found in {...}") or its values
    client.put("/fhir/Patient/p", patient(id="p", gender="female", birthDate="1961-04-12"))
    failing = [
        [{"op": "test", "path": "/maritalStatus", "value": "M"}],
        [{"op": "test", "path": "/gender", "value": "male"}],
        [{"op": "remove", "path": "/name/0/prefix"}],
        [{"op": "add", "path": "/contact/0/name", "value": {}}],
        [{"op": "copy", "from": "/photo", "path": "/note"}],
    ]
    for ops in failing:
        body = assert_outcome(client.patch("/fhir/Patient/p", ops), 422)
        text = str(body)
        assert not [s for s in ("Smith", "Jo'", "female", "1961", "9000000009", "resourceType': 'Patient") if s in text]
        assert f"'{ops[0]['path']}'" in body["issue"][0]["diagnostics"], body
    assert client.get("/fhir/Patient/p").json()["meta"]["versionId"] == "1"


def test_conditional_patch(client: Client) -> None:
    ops = [{"op": "add", "path": "/gender", "value": "male"}]
    assert_outcome(client.patch(f"/fhir/Patient?{CRIT}", ops), 404)
    client.put("/fhir/Patient/a", patient(id="a"))
    assert client.patch(f"/fhir/Patient?{CRIT}", ops).json()["gender"] == "male"
    client.put("/fhir/Patient/b", patient(id="b"))
    assert_outcome(client.patch(f"/fhir/Patient?{CRIT}", ops), 412)
