"""Patient-facing summaries: a proxy gets the sections their access level permits, and every
section it leaves out is present and marked withheld (``emptyReason`` ``withheld``), never empty as
if nothing were recorded. A proxy whose level includes none of the summary's clinical types, and
staff roles without clinical access (admin, R8008), are refused with 403, as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_security_record_operations import GPC, JSON, _gpc_body, _ids, clinical_entries
from test_security_web_pages import sign_in

from gpbridge.api.app import create_app
from gpbridge.security import idp
from gpbridge.security.audit import MemoryAuditSink

LIST_EMPTY = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
PA = "9990000018"  # conftest.NHS_NUMBERS["pa"]: patient-1, for whom proxy-1 acts
CLINICAL = {"MedicationStatement/med-pa", "AllergyIntolerance/allergy-pa", "Condition/problem-pa"}


@pytest.fixture
def api(secure_settings: Any, secure_store: Any) -> Iterator[tuple[TestClient, MemoryAuditSink]]:
    secure_store.bulk_load(iter(clinical_entries()))
    sink = MemoryAuditSink()
    app = create_app(secure_settings.with_(builtin_idp=True, rate_limit_per_minute=0), secure_store, audit=sink)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client, sink


@pytest.fixture
def level(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_level(access_level: str) -> None:
        monkeypatch.setitem(idp.PROXY_ACCESS_LEVEL, "proxy-1", access_level)

    return set_level


def _sections(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    return {s["title"]: s for s in composition["section"]}


def _withheld(section: dict[str, Any]) -> bool:
    return any(c["system"] == LIST_EMPTY and c["code"] == "withheld" for c in (section.get("emptyReason") or {}).get("coding", ()))


def test_summary_level_proxy_gets_permitted_sections_and_withheld_ones(api: Any, bearer: Any, level: Any) -> None:
    client, sink = api
    level("summary")
    before = len(sink.records)
    response = client.get("/fhir/Patient/pa/$summary", headers=bearer(user="proxy-1"))
    assert response.status_code == 200, response.text
    bundle = response.json()
    ids = _ids(bundle)
    assert {"MedicationStatement/med-pa", "AllergyIntolerance/allergy-pa"} <= ids
    assert not any(i.startswith(("Condition/", "Observation/")) for i in ids)
    assert "hypertension" not in response.text
    sections = _sections(bundle)
    for title in ("Problems", "Recent results"):
        section = sections[title]
        assert _withheld(section) and "entry" not in section
        assert "access level does not include" in section["emptyReason"]["text"]
        assert "access level does not include" in section["text"]["div"]
    for title in ("Medication", "Allergies and adverse reactions", "Immunisations"):
        assert not _withheld(sections[title])
    assert sections["Medication"]["entry"] == [{"reference": "MedicationStatement/med-pa"}]
    assert sections["Immunisations"]["emptyReason"]["coding"][0]["code"] == "unavailable"  # none recorded
    # one record of the access, naming the types withheld
    (allowed,) = sink.records[before:]
    assert allowed.allowed and allowed.patient == "Patient/pa" and allowed.interaction == "operation:summary"
    assert allowed.detail is not None and "Condition" in allowed.detail and "Observation" in allowed.detail
    assert "'summary'" in allowed.detail


def test_appointments_level_proxy_is_refused_the_summary(api: Any, bearer: Any, level: Any) -> None:
    client, sink = api
    level("appointments")
    before = len(sink.records)
    response = client.get("/fhir/Patient/pa/$summary", headers=bearer(user="proxy-1"))
    assert response.status_code == 403, response.text
    assert "'appointments' includes none of" in response.text
    for clinical in ("Amlodipine", "penicillin", "hypertension"):
        assert clinical not in response.text
    (refusal,) = sink.records[before:]
    assert not refusal.allowed and refusal.patient == "Patient/pa" and refusal.interaction == "operation:summary"
    assert refusal.detail is not None and "AllergyIntolerance" in refusal.detail and "Condition" in refusal.detail


@pytest.mark.parametrize("user", ["patient-1", "proxy-1"])
def test_the_patient_and_a_full_level_proxy_get_every_section(api: Any, bearer: Any, level: Any, user: str) -> None:
    client, sink = api
    level("full")
    before = len(sink.records)
    response = client.get("/fhir/Patient/pa/$summary", headers=bearer(user=user))
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert CLINICAL <= _ids(bundle)
    assert not any(_withheld(s) for s in _sections(bundle).values())
    (allowed,) = sink.records[before:]
    assert allowed.allowed and allowed.detail is None
    # items hidden from patient-facing access stay hidden
    assert "obs-pa-nopat" not in response.text and "obs-pa-third" not in response.text


def test_another_patients_summary_is_refused_to_a_proxy(api: Any, bearer: Any, level: Any) -> None:
    client, _ = api
    level("summary")
    assert client.get("/fhir/Patient/pc/$summary", headers=bearer(user="proxy-1")).status_code == 403


@pytest.mark.parametrize("user", ["patient-1", "proxy-1"])
def test_patient_facing_callers_still_may_not_call_the_structured_record(api: Any, bearer: Any, user: str) -> None:
    client, _ = api
    response = client.post(GPC, json=_gpc_body("pa", "includeMedication"), headers=bearer(user=user) | JSON)
    assert response.status_code == 403 and "Amlodipine" not in response.text


def test_admin_is_still_refused_the_summary(api: Any, bearer: Any) -> None:
    client, _ = api
    response = client.get("/fhir/Patient/pa/$summary", headers=bearer(user="admin-a"))
    assert response.status_code == 403 and "R8008" in response.text


# ------------------------------------------------------------------------------ the web views


def test_summary_level_proxy_sees_withheld_sections_on_the_summary_page(api: Any, level: Any) -> None:
    client, sink = api
    level("summary")
    sign_in(client, "proxy-1")
    before = len(sink.records)
    page = client.get(f"/web/patients/{PA}/summary")
    assert page.status_code == 200, page.text
    assert "penicillin" in page.text.lower() and "Amlodipine" in page.text
    assert "hypertension" not in page.text
    assert page.text.count('class="nhsuk-inset-text gpb-withheld"') == 2  # problems, recent results
    assert "Problems: withheld. Your access level does not include this section" in page.text
    assert "Recent results: withheld." in page.text
    allowed = [r for r in sink.records[before:] if r.patient == "Patient/pa"]
    assert allowed and all(r.allowed for r in allowed)
    assert any(r.detail and "Condition" in r.detail for r in allowed)


def test_summary_level_proxy_sees_withheld_sections_on_the_record_page(api: Any, level: Any) -> None:
    client, _ = api
    level("summary")
    sign_in(client, "proxy-1")
    page = client.get(f"/web/patients/{PA}")
    assert page.status_code == 200, page.text
    assert "Amlodipine" in page.text and "hypertension" not in page.text
    for title in ("Problems", "Consultations", "Investigations and results", "Uncategorised data", "Referrals"):
        assert f"{title}: withheld." in page.text, title
        assert f"{title} (withheld)" in page.text, title
    assert "Allergies and adverse reactions: withheld" not in page.text


def test_appointments_level_proxy_gets_a_not_permitted_page(api: Any, level: Any) -> None:
    client, _ = api
    level("appointments")
    sign_in(client, "proxy-1")
    page = client.get(f"/web/patients/{PA}/summary")
    assert page.status_code == 403
    assert 'class="gpb-section"' not in page.text and "penicillin" not in page.text


def test_the_patient_sees_no_withheld_section(api: Any) -> None:
    client, _ = api
    sign_in(client, "patient-1")
    for url in (f"/web/patients/{PA}", f"/web/patients/{PA}/summary"):
        page = client.get(url)
        assert page.status_code == 200 and "hypertension" in page.text and "gpb-withheld" not in page.text
