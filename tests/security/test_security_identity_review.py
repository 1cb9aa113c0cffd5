"""The identity review queue under the policy (docs/identity.md, "Who may review").

Two items: one wholly at practice A (Agnes, two records at A), and one where a sensitive record
registered at B (cared for by A) may be the same person as a patient of A (Margaret). A clinician of
B sees neither (each involves A's patients); A's reviewers see both, the sensitive records redacted.
"""

from __future__ import annotations

from typing import Any

import orjson

from gpbridge.search.parse import parse_search
from gpbridge.security.labels import CONFIDENTIALITY
from gpbridge.store import interactions as ops

REDACTED_CODE = "REDACTED"


def _ingest(store: Any, pid: str, given: str, birth: str, postcode: str, practice: str,
            *, sensitive: bool = False) -> None:
    patient: dict[str, Any] = {
        "resourceType": "Patient", "id": pid, "gender": "female", "birthDate": birth,
        "name": [{"use": "official", "family": "Smith" if given == "Margaret" else "Jones", "given": [given]}],
        "address": [{"use": "home", "line": [f"1 {pid} Lane"], "postalCode": postcode}],
        "generalPractitioner": [{"reference": f"Organization/{practice}"}],
    }  # fmt: skip
    if sensitive:
        patient["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}
    with store.session() as session:  # the write path links the Patient and opens review items
        ops.update(session, "Patient", pid, patient, settings=store.settings)


def _person_of(store: Any, pid: str) -> str:
    patient = orjson.loads(store.read("Patient", pid).content)
    return next(l["other"]["reference"] for l in patient["link"] if l["type"] == "seealso")  # noqa: E741


def _queue(store: Any) -> dict[str, str]:
    """Open review items' ids by the source record each is about (``for``)."""
    found = store.search(parse_search("Task", [("status", "requested")]))
    return {orjson.loads(s.content)["for"]["reference"]: s.id for s in found.matches}


def _world(store: Any) -> dict[str, str]:
    _ingest(store, "agnes-1", "Agnes", "1940-02-02", "LS6 3AB", "practice-a")
    _ingest(store, "agnes-2", "Agnes", "1940-02-03", "WF1 2AB", "practice-a")
    _ingest(store, "marg-a", "Margaret", "1950-03-04", "LS6 3AB", "practice-a")
    _ingest(store, "marg-s", "Margaret", "1950-03-05", "WF1 2AB", "practice-b", sensitive=True)
    # Practice A cares for the sensitive record (and the person it was put in): a relationship,
    # but not the registered practice, so its demographics are withheld from A.
    episodes = [{"resourceType": "EpisodeOfCare", "id": f"eoc-{i}", "status": "active",
                 "patient": {"reference": ref}, "managingOrganization": {"reference": "Organization/practice-a"}}
                for i, ref in enumerate(["Patient/marg-s", _person_of(store, "marg-s")])]  # fmt: skip
    store.bulk_load(iter(episodes))
    tasks = _queue(store)
    assert set(tasks) >= {"Patient/agnes-2", "Patient/marg-s"}, tasks
    return {"a": tasks["Patient/agnes-2"], "s": tasks["Patient/marg-s"]}


def _review(http: Any, headers: dict[str, str]) -> Any:
    return http.get("/identity/review", headers=headers)


def _included(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"Patient/{e['resource']['id']}": e["resource"] for e in bundle.get("entry") or ()
            if e["search"]["mode"] == "include"}  # fmt: skip


def _tasks(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry") or () if e["search"]["mode"] == "match"}


def _redacted(resource: dict[str, Any]) -> bool:
    codes = {s.get("code") for s in (resource.get("meta") or {}).get("security") or ()}
    return REDACTED_CODE in codes and "address" not in resource and "telecom" not in resource


def test_other_practice_clinician_sees_none_of_a_practices_items(
    http: Any, bearer: Any, secure_store: Any, audit_sink: Any
) -> None:
    tasks = _world(secure_store)
    response = _review(http, bearer(user="clinician-b"))
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["total"] == 0 and not bundle.get("entry")  # nothing of A's, no sensitive address
    # a decision on A's item is refused, audited naming the patient, and changes nothing
    refused = http.post(f"/identity/review/{tasks['a']}/accept", headers=bearer(user="clinician-b"))
    assert refused.status_code == 403, refused.text
    denial = [r for r in audit_sink.records if r.interaction == "operation:identity-accept" and not r.allowed]
    assert denial and denial[-1].patient == "Patient/agnes-2" and denial[-1].resource_id == tasks["a"]
    assert orjson.loads(secure_store.read("Task", tasks["a"]).content)["status"] == "requested"
    # break-glass opens neither the queue nor a decision
    glass = {**bearer(user="clinician-b"), "X-Break-Glass-Reason": "urgent"}
    assert _review(http, glass).status_code == 403
    assert http.post(f"/identity/review/{tasks['a']}/reject", headers=glass).status_code == 403


def test_sensitive_record_is_redacted_for_a_reviewer_outside_its_practice(
    http: Any, bearer: Any, secure_store: Any, audit_sink: Any
) -> None:
    tasks = _world(secure_store)
    response = _review(http, bearer(user="clinician-a"))
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert _tasks(bundle) == {tasks["a"], tasks["s"]} and bundle["total"] == 2
    included = _included(bundle)
    person_s = _person_of(secure_store, "marg-s")
    assert _redacted(included["Patient/marg-s"])  # registered at B, sensitive: no address for A
    assert _redacted(included[person_s])  # the person made from it is restricted too
    person_a = _person_of(secure_store, "marg-a")  # the candidate: A's patient's person, shown
    assert included[person_a]["address"] and not _redacted(included[person_a])
    assert not _redacted(included["Patient/agnes-2"])
    # audited as a search, once per patient shown, each naming the patient
    searched = {r.patient for r in audit_sink.records if r.interaction == "search" and r.resource_type == "Task"}
    assert {"Patient/marg-s", person_s, person_a, "Patient/agnes-2"} <= searched


def test_nurses_patients_and_read_only_tokens_do_not_work_the_queue(
    http: Any, bearer: Any, secure_store: Any, audit_sink: Any
) -> None:
    tasks = _world(secure_store)
    assert _review(http, bearer(user="nurse-a")).status_code == 403
    assert _review(http, bearer(user="patient-1")).status_code == 403
    assert http.post(f"/identity/review/{tasks['a']}/accept", headers=bearer(user="nurse-a")).status_code == 403
    read_only = bearer(user="clinician-a", scope="user/*.read")
    assert http.post(f"/identity/review/{tasks['a']}/accept", headers=read_only).status_code == 403
    assert _review(http, {}).status_code == 401
    refusals = [r for r in audit_sink.records if r.resource_type == "Task" and not r.allowed]
    assert len(refusals) == 5


def test_permitted_reviewers_decide_and_every_patient_is_audited(
    http: Any, bearer: Any, secure_store: Any, audit_sink: Any
) -> None:
    tasks = _world(secure_store)
    admin = bearer(user="admin-a")  # R8008 at A: registration / demographics staff
    assert _tasks(_review(http, admin).json()) == {tasks["a"], tasks["s"]}
    survivor, retired = _person_of(secure_store, "agnes-1"), _person_of(secure_store, "agnes-2")
    accepted = http.post(f"/identity/review/{tasks['a']}/accept", headers=admin)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "completed"
    records = [r for r in audit_sink.records if r.interaction == "operation:identity-accept"]
    assert all(r.allowed and r.resource_id == tasks["a"] for r in records)
    involved = {r.patient for r in records}
    assert involved == {"Patient/agnes-2", survivor, retired}  # the record and both people
    undone = http.post(f"/identity/review/{tasks['a']}/undo", headers=bearer(user="clinician-a"))
    assert undone.status_code == 200 and undone.json()["status"] == "cancelled"
    assert any(r.interaction == "operation:identity-unmerge" and r.patient == "Patient/agnes-2"
               for r in audit_sink.records)  # fmt: skip
    # A cares for the sensitive record: A's clinician may decide it (a write relationship)
    rejected = http.post(f"/identity/review/{tasks['s']}/reject", headers=bearer(user="clinician-a"))
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    # a decision that fails after the gate is audited as failed, once
    again = http.post(f"/identity/review/{tasks['s']}/reject", headers=bearer(user="clinician-a"))
    assert again.status_code == 409
    failed = [r for r in audit_sink.records if r.interaction == "operation:identity-reject" and "409" in r.reason]
    assert len(failed) == 1


def test_system_client_lists_everything_and_needs_write_scope_to_decide(
    http: Any, bearer: Any, secure_store: Any
) -> None:
    tasks = _world(secure_store)
    reader = bearer(client="mpi-dashboard", scope="system/*.read")
    assert _tasks(_review(http, reader).json()) == {tasks["a"], tasks["s"]}
    assert http.post(f"/identity/review/{tasks['a']}/reject", headers=reader).status_code == 403
    writer = bearer(client="mpi-service", scope="system/Task.* system/Patient.*")
    assert http.post(f"/identity/review/{tasks['a']}/reject", headers=writer).status_code == 200
