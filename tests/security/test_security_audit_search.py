"""``GET /fhir/AuditEvent``: the privacy officer's search (patient, agent, date, type, subtype,
outcome, _tag, paging), who may search it, what a patient sees, and that searching is audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.config import Settings
from gpbridge.security.audit_chain import ChainedAuditSink, verify_audit_chain
from gpbridge.security.policy import RequestContext, authorize
from gpbridge.security.principal import Principal


@pytest.fixture
def world(secure_settings: Any, secure_store: Any, bearer: Any) -> Iterator[tuple[TestClient, Any]]:
    """Some history: reads by two practices, a denial, a break-glass read, a patient's look-up."""
    sink = ChainedAuditSink(secure_store, background=False)
    app = create_app(secure_settings, secure_store, audit=sink)
    with TestClient(app) as http:
        a, b = bearer(user="clinician-a"), bearer(user="clinician-b")
        assert http.get("/fhir/Observation/obs-pa", headers=a).status_code == 200
        assert http.get("/fhir/Patient/pa", headers=a).status_code == 200
        assert http.get("/fhir/Observation/obs-pa", headers=b).status_code == 403
        glass = b | {"x-break-glass-reason": "collapsed in A&E"}
        assert http.get("/fhir/Patient/pa", headers=glass).status_code == 200
        assert http.get("/fhir/Patient/pb", headers=b).status_code == 200
        assert http.get("/fhir/Patient/pa", headers=bearer(user="patient-1")).status_code == 200
        sink.flush()
        yield http, sink
    assert verify_audit_chain(secure_store).ok


def _events(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [e["resource"] for e in bundle["entry"]]


def test_privacy_officer_searches_by_patient_and_outcome(world: Any, bearer: Any) -> None:
    http, _ = world
    officer = bearer(user="admin-a")
    about_pa = _events(http.get("/fhir/AuditEvent?patient=Patient/pa", headers=officer))
    assert len(about_pa) == 5  # 2 reads by A, the denial, break-glass, the patient's own read
    assert all(any(e["what"].get("reference") == "Patient/pa" for e in ev["entity"]) for ev in about_pa)
    refused = _events(http.get("/fhir/AuditEvent?patient=Patient/pa&outcome=4", headers=officer))
    assert [e["outcome"] for e in refused] == ["4"] and "relationship" in refused[0]["outcomeDesc"]


def test_break_glass_events_are_reported_with_the_reason(world: Any, bearer: Any) -> None:
    http, _ = world
    glass = _events(http.get("/fhir/AuditEvent?_tag=break-glass", headers=bearer(user="admin-a")))
    assert len(glass) == 1
    reason = [x["valueString"] for x in glass[0]["extension"] if x["url"].endswith("break-glass-reason")]
    assert reason == ["collapsed in A&E"]
    assert glass[0]["agent"][0]["location"]["identifier"]["value"] == "Y23456"


def test_search_by_agent_subtype_type_and_date(world: Any, bearer: Any) -> None:
    http, _ = world
    officer = bearer(user="admin-a")
    by_b = _events(http.get("/fhir/AuditEvent?agent=555000000105&subtype=read", headers=officer))
    assert by_b and all(e["agent"][0]["who"]["identifier"]["value"] == "555000000105" for e in by_b)
    assert {e["subtype"][0]["code"] for e in by_b} == {"read"}
    everything = _events(http.get("/fhir/AuditEvent?_count=500", headers=officer))
    day = everything[0]["recorded"][:10]
    assert len(_events(http.get(f"/fhir/AuditEvent?date={day}&_count=500", headers=officer))) == len(everything)
    assert _events(http.get(f"/fhir/AuditEvent?date=lt{day}", headers=officer)) == []
    assert _events(http.get("/fhir/AuditEvent?date=ge2999-01-01", headers=officer)) == []
    logins = _events(http.get("/fhir/AuditEvent?type=110114", headers=officer))
    assert all(e["type"]["code"] == "110114" for e in logins)


def test_pages_follow_next_links_without_gaps(world: Any, bearer: Any) -> None:
    http, _ = world
    officer = bearer(user="admin-a")
    url, seen = "/fhir/AuditEvent?_count=2", []
    while url:
        bundle = http.get(url, headers=officer).json()
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("testserver", 1)[1] if nxt else ""
    ids = [int(i) for i in seen]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids)) >= 6


def test_bad_parameters_are_400_with_an_outcome(world: Any, bearer: Any) -> None:
    http, _ = world
    officer = bearer(user="admin-a")
    for query in ("date=yesterday", "outcome=maybe", "date=ap2026-01-01", "_count=many"):
        answer = http.get(f"/fhir/AuditEvent?{query}", headers=officer)
        assert answer.status_code == 400 and answer.json()["resourceType"] == "OperationOutcome", query


def test_unknown_parameters_are_ignored_and_reported_unless_strict(world: Any, bearer: Any) -> None:
    # the server's rule for every search: ignored, named in an outcome entry; a 400 only when strict
    http, _ = world
    officer = bearer(user="admin-a")
    everything = _events(http.get("/fhir/AuditEvent?_count=500", headers=officer))
    bundle = http.get("/fhir/AuditEvent?_count=500&nonsense=1&patient:missing=true", headers=officer).json()
    matches = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert [m["id"] for m in matches] == [e["id"] for e in everything]  # not narrowed by what it ignored
    outcome = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert [i["expression"] for i in outcome[0]["issue"]] == [["nonsense"], ["patient:missing"]]
    strict = http.get("/fhir/AuditEvent?nonsense=1", headers=officer | {"prefer": "handling=strict"})
    assert strict.status_code == 400 and "nonsense" in strict.json()["issue"][0]["diagnostics"]


def test_search_by_id(world: Any, bearer: Any) -> None:
    http, _ = world
    officer = bearer(user="admin-a")
    ids = [e["id"] for e in _events(http.get("/fhir/AuditEvent?_count=3", headers=officer))]
    assert [e["id"] for e in _events(http.get(f"/fhir/AuditEvent?_id={ids[1]}", headers=officer))] == [ids[1]]
    both = _events(http.get(f"/fhir/AuditEvent?_id={ids[2]},{ids[0]}", headers=officer))
    assert [e["id"] for e in both] == [ids[0], ids[2]]
    assert _events(http.get("/fhir/AuditEvent?_id=not-a-number", headers=officer)) == []
    # a patient's _id search stays within their own record's accesses
    patient = bearer(user="patient-1")
    mine = _events(http.get("/fhir/AuditEvent", headers=patient))
    assert _events(http.get(f"/fhir/AuditEvent?_id={mine[1]['id']}", headers=patient)) == [mine[1]]
    about_pb = _events(http.get("/fhir/AuditEvent?patient=Patient/pb", headers=officer))
    assert _events(http.get(f"/fhir/AuditEvent?_id={about_pb[0]['id']}", headers=patient)) == []


def test_only_privacy_officers_and_audit_scoped_systems_may_search(world: Any, bearer: Any) -> None:
    http, _ = world
    assert http.get("/fhir/AuditEvent").status_code == 401
    for user in ("clinician-a", "nurse-a"):
        assert http.get("/fhir/AuditEvent", headers=bearer(user=user)).status_code == 403
    assert http.get("/fhir/AuditEvent", headers=bearer(client="siem", scope="system/*.read")).status_code == 403
    assert http.get("/fhir/AuditEvent", headers=bearer(client="siem", scope="system/AuditEvent.read")).status_code == 200
    assert http.post("/fhir/AuditEvent", json={"resourceType": "AuditEvent"},
                     headers=bearer(user="admin-a")).status_code == 405  # the trail is the server's alone  # fmt: skip


def test_the_privacy_officer_role_is_a_setting() -> None:
    officer = Principal("po", roles=("R9001",), organisation="Y12345", scopes=("user/*.read",))
    default = RequestContext(Settings(insecure_dev=False), principal=officer)
    configured = RequestContext(Settings(insecure_dev=False, privacy_officer_roles="R8008,R9001"), principal=officer)
    assert not authorize(default, "search", "AuditEvent").allowed
    assert authorize(configured, "search", "AuditEvent").allowed


def test_reading_the_audit_is_itself_audited(world: Any, bearer: Any) -> None:
    http, sink = world
    http.get("/fhir/AuditEvent?patient=Patient/pa", headers=bearer(user="admin-a"))
    http.get("/fhir/AuditEvent", headers=bearer(user="clinician-a"))
    sink.flush()
    searches = _events(http.get("/fhir/AuditEvent?subtype=search", headers=bearer(user="admin-a")))
    about_audit = [e for e in searches if e["entity"][0]["what"].get("display") == "AuditEvent"]
    assert {e["outcome"] for e in about_audit} == {"0", "4"}
    officer_search = next(e for e in about_audit if e["outcome"] == "0" and len(e["entity"]) == 2)
    assert officer_search["entity"][1]["what"]["reference"] == "Patient/pa"


def test_a_patient_sees_who_accessed_their_record_without_internal_details(world: Any, bearer: Any) -> None:
    http, _ = world
    mine = _events(http.get("/fhir/AuditEvent", headers=bearer(user="patient-1")))
    who = {e["agent"][0]["who"]["display"] for e in mine}
    assert "Dr Sarah Okafor" in who and len(mine) == 3  # A's two reads and B's break-glass read
    assert all(e["outcome"] == "0" for e in mine)  # not the refused attempt, not their own look-up
    text = str(mine)
    for internal in ("network", "altId", "outcomeDesc", "collapsed in A&E", "extension", "X-Request-ID"):
        assert internal not in text
    assert all(set(e["agent"][0]["who"]) == {"display"} for e in mine)  # a name, not an internal id
    assert any(e.get("meta", {}).get("tag") for e in mine)  # the emergency access is flagged to them
    orgs = {e["agent"][0]["location"]["identifier"]["value"] for e in mine}
    assert orgs == {"Y12345", "Y23456"}


def test_a_proxy_sees_the_patients_accesses_and_nobody_sees_anothers(world: Any, bearer: Any) -> None:
    http, _ = world
    proxy = _events(http.get("/fhir/AuditEvent", headers=bearer(user="proxy-1")))
    assert len(proxy) == 4  # as the patient's page, plus the patient's own read (the proxy is not them)
    assert http.get("/fhir/AuditEvent?patient=Patient/pb", headers=bearer(user="patient-1")).status_code == 403


def test_read_one_event(world: Any, bearer: Any) -> None:
    http, _ = world
    officer = bearer(user="admin-a")
    about_pb = _events(http.get("/fhir/AuditEvent?patient=Patient/pb", headers=officer))
    one = http.get(f"/fhir/AuditEvent/{about_pb[0]['id']}", headers=officer)
    assert one.status_code == 200 and one.json()["id"] == about_pb[0]["id"]
    assert http.get(f"/fhir/AuditEvent/{about_pb[0]['id']}", headers=bearer(user="patient-1")).status_code == 404
    assert http.get("/fhir/AuditEvent/999999", headers=officer).status_code == 404
