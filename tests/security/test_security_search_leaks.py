"""Search never reveals what a read would refuse: _include, _revinclude, _has, chaining,
history, _summary=count and totals; and injection attempts in parameters change nothing."""

from __future__ import annotations

from typing import Any

import pytest


def _ids(bundle: dict[str, Any]) -> set[str]:
    return {
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] != "OperationOutcome"
    }


def test_search_returns_only_related_patients(http: Any, bearer: Any) -> None:
    b = bearer(user="clinician-b")
    found = http.get("/fhir/Observation", headers=b).json()
    # B is registered practice for pb, ps, pd, pc: never pa's items; pc's confidential item is B's own.
    assert "obs-pa" not in _ids(found) and "obs-pa-nopat" not in _ids(found)
    assert found["total"] == len(found["entry"])


def test_summary_count_counts_only_permitted(http: Any, bearer: Any) -> None:
    b = http.get("/fhir/Observation?_summary=count", headers=bearer(user="clinician-b")).json()
    assert b["total"] == 5  # obs-pb, obs-ps, obs-pd, obs-pc, obs-pc-secret
    me = http.get("/fhir/Observation?_summary=count", headers=bearer(user="patient-1")).json()
    assert me["total"] == 1  # obs-pa only: NOPAT and third-party items are not counted


def test_revinclude_does_not_leak_other_patients(http: Any, bearer: Any) -> None:
    found = http.get("/fhir/Patient?_revinclude=Observation:subject", headers=bearer(user="patient-1")).json()
    assert _ids(found) == {"pa", "obs-pa"}


def test_include_does_not_leak_hidden_items(http: Any, bearer: Any) -> None:
    found = http.get(
        "/fhir/Observation?_include=Observation:subject", headers=bearer(user="clinician-a")
    ).json()
    ids = _ids(found)
    assert "obs-pc-secret" not in ids and "obs-pd" not in ids and "pd" not in ids and "obs-pb" not in ids


def test_has_cannot_probe_unrelated_patients(http: Any, bearer: Any) -> None:
    found = http.get(
        "/fhir/Patient?_has:Observation:subject:code=271649006", headers=bearer(user="clinician-a")
    ).json()
    assert "pb" not in _ids(found) and "pd" not in _ids(found)
    assert found.get("total", len(found.get("entry", []))) == len(found.get("entry", []))


def test_chaining_cannot_select_unrelated_patients(http: Any, bearer: Any) -> None:
    url = "/fhir/Observation?subject:Patient.identifier=https://fhir.nhs.uk/Id/nhs-number|9990000034"
    found = http.get(url, headers=bearer(user="clinician-a")).json()
    assert found["total"] == 0 and not found.get("entry")


def test_type_and_system_history_need_a_system_token(http: Any, bearer: Any) -> None:
    a = bearer(user="clinician-a")
    assert http.get("/fhir/Observation/_history", headers=a).status_code == 403
    assert http.get("/fhir/_history", headers=a).status_code == 403
    assert http.get("/fhir/Observation/obs-pb/_history", headers=a).status_code == 403
    assert http.get("/fhir/Observation/obs-pa/_history", headers=a).status_code == 200
    assert http.get("/fhir/Observation/_history", headers=bearer(client="sys")).status_code == 200


def test_system_search_needs_a_type_for_users(http: Any, bearer: Any) -> None:
    assert http.get("/fhir?_type=Observation", headers=bearer(user="clinician-a")).status_code == 403


@pytest.mark.parametrize(
    "param",
    [
        "_id=obs-pb' OR '1'='1",
        "_id=obs-pa%27%20OR%201=1--",
        "code=271649006') OR 1=1 --",
        "subject=Patient/pb); DROP TABLE resource; --",
        "_filter=subject eq 'Patient/pb'",
        "patient=Patient/pa,Patient/pb",
        "_security:not=x|y",
        "subject:Patient.name=Family-pb",
        "_has:Observation:subject:code=271649006&_id=pb",
        "_sort=(select 1)",
    ],
)
def test_injection_attempts_reveal_nothing(http: Any, bearer: Any, param: str) -> None:
    response = http.get(f"/fhir/Observation?{param}", headers=bearer(user="patient-1"))
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert _ids(response.json()) <= {"obs-pa"}
    # and the store is intact
    assert http.get("/fhir/Observation/obs-pa", headers=bearer(user="patient-1")).status_code == 200


def test_named_patient_search_is_checked_not_enumerated(http: Any, bearer: Any) -> None:
    b = bearer(user="clinician-b")
    assert http.get("/fhir/Observation?patient=Patient/pa", headers=b).json()["total"] == 0
    assert http.get("/fhir/Observation?subject=Patient/pa,Patient/pb", headers=b).json()["total"] == 1
    assert http.get("/fhir/Patient?_id=pa,pb", headers=b).json()["total"] == 1


def test_break_glass_search_must_name_the_patient(http: Any, bearer: Any) -> None:
    headers = bearer(user="clinician-b") | {"x-break-glass-reason": "A&E"}
    assert http.get("/fhir/Observation", headers=headers).status_code == 403
    found = http.get("/fhir/Observation?patient=Patient/pa", headers=headers).json()
    # NOPAT / third-party flags keep items from patients, not from clinicians
    assert _ids(found) == {"obs-pa", "obs-pa-nopat", "obs-pa-third"}


def test_has_cannot_probe_confidential_items(http: Any, bearer: Any) -> None:
    # The only R-labelled Observation is pc's (a care-relationship patient of A): _has must not find it.
    url = "/fhir/Patient?_has:Observation:subject:_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"
    assert _ids(http.get(url, headers=bearer(user="clinician-a")).json()) == set()
    url = "/fhir/Patient?_has:Observation:subject:_security=http://terminology.hl7.org/CodeSystem/v3-ActCode|NOPAT"
    assert _ids(http.get(url, headers=bearer(user="patient-1")).json()) == set()
    assert _ids(http.get(url, headers=bearer(user="clinician-a")).json()) == {"pa"}


def _walk(http: Any, url: str, headers: Any) -> list[str]:
    seen: list[str] = []
    while url:
        page = http.get(url.removeprefix("http://testserver"), headers=headers).json()
        seen += [e["resource"]["id"] for e in page.get("entry", []) if e["search"]["mode"] == "match"]
        url = next((x["url"] for x in page["link"] if x["relation"] == "next"), "")
    return seen


def test_page_cursors_only_position_within_what_the_caller_may_see(http: Any, bearer: Any) -> None:
    b = bearer(user="clinician-b")
    allowed = _ids(http.get("/fhir/Observation?_sort=_id", headers=b).json())
    walked = _walk(http, "/fhir/Observation?_sort=_id&_count=1", b)
    assert len(walked) == len(set(walked)) and set(walked) == allowed
    # a cursor from a caller who sees everything adds a position, never a wider scope
    system = bearer(client="sys")
    page = http.get("/fhir/Observation?_sort=_id&_count=1", headers=system).json()
    nxt = next(x["url"] for x in page["link"] if x["relation"] == "next")
    assert set(_walk(http, nxt, b)) <= allowed
