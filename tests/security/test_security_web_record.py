"""The clinician view's record and summary pages with security on: a role without clinical access
(admin, R8008) gets a "not permitted" page with no clinical section, audited as a refusal; the
find page searches only the caller's permitted patients, as ``GET /fhir/Patient`` does."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_security_record_operations import clinical_entries
from test_security_web_pages import sign_in

from gpbridge.api.app import create_app
from gpbridge.identity.nhs_number import generate_test_nhs_number
from gpbridge.security.audit import MemoryAuditSink

pytest.importorskip("jinja2", reason="the web view needs jinja2")

PA, PC = "9990000018", "9990000069"  # conftest.NHS_NUMBERS: pa (registered at A), pc (cared for by A)
FINDABLE = generate_test_nhs_number(random.Random(2024))


@pytest.fixture
def site(secure_settings: Any, secure_store: Any) -> Iterator[tuple[TestClient, MemoryAuditSink]]:
    findable = {"resourceType": "Patient", "id": "pf", "birthDate": "1952-05-17",
                "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": FINDABLE}],
                "name": [{"family": "Findable", "given": ["Fay"]}],
                "generalPractitioner": [{"reference": "Organization/practice-a"}]}  # fmt: skip
    secure_store.bulk_load(iter([*clinical_entries(), findable]))
    sink = MemoryAuditSink()
    app = create_app(secure_settings.with_(builtin_idp=True, rate_limit_per_minute=0), secure_store, audit=sink)
    with TestClient(app, follow_redirects=False) as http:
        yield http, sink


@pytest.mark.parametrize("page", [f"/web/patients/{PA}", f"/web/patients/{PA}/summary"])
def test_admin_gets_a_not_permitted_page_without_clinical_sections(site: Any, page: str) -> None:
    http, sink = site
    sign_in(http, "admin-a")
    before = len(sink.records)
    answer = http.get(page)
    assert answer.status_code == 403
    assert "not permitted to see this patient&#39;s clinical record" in answer.text
    assert 'class="gpb-section"' not in answer.text
    for clinical in ("Amlodipine", "penicillin", "hypertension"):
        assert clinical not in answer.text
    refused = [r for r in sink.records[before:] if not r.allowed]
    assert [(r.interaction, r.patient) for r in refused] == [("read", "Patient/pa")]
    assert refused[0].resource_type == "AllergyIntolerance" and "R8008" in refused[0].reason


def test_the_registered_practice_sees_the_record(site: Any) -> None:
    http, sink = site
    sign_in(http, "clinician-a")
    before = len(sink.records)
    record = http.get(f"/web/patients/{PA}")
    assert record.status_code == 200
    assert "Amlodipine 5mg tablets" in record.text and "Allergy to penicillin" in record.text
    reads = [r for r in sink.records[before:] if r.patient == "Patient/pa"]
    assert [(r.interaction, r.allowed) for r in reads] == [("read", True)]  # one record of the access
    assert "Amlodipine 5mg tablets" in http.get(f"/web/patients/{PA}/summary").text


def test_a_care_relationship_does_not_see_confidential_items(site: Any) -> None:
    http, _ = site
    sign_in(http, "clinician-a")
    page = http.get(f"/web/patients/{PC}")
    assert page.status_code == 200
    assert "Asthma" in page.text and "Secret diagnosis" not in page.text


def test_the_find_page_searches_only_permitted_patients(site: Any) -> None:
    http, _ = site
    query = "/web/?family=Findable&birth_date=1952-05-17"
    sign_in(http, "clinician-a")
    assert "Fay Findable" in http.get(query).text
    sign_in(http, "clinician-b")  # another practice, no relationship with pf
    found = http.get(query)
    assert found.status_code == 200
    assert "Fay Findable" not in found.text and "No patient matches" in found.text


def test_the_joined_up_record_still_joins_a_hospital_copy(tmp_path: Any) -> None:
    """The demo patient's hospital record (no registered practice of its own) is part of the
    person's record for their practice; the other practice is refused the whole page."""
    from gpbridge.config import Settings
    from gpbridge.demo.loader import load_demo
    from gpbridge.records.demo_sources import add_second_source
    from gpbridge.store import open_store

    settings = Settings(database=f"sqlite:///{tmp_path}/joined.db", insecure_dev=False,
                        var_dir=str(tmp_path / "var"), builtin_idp=True, rate_limit_per_minute=0)
    store = open_store(settings.database, settings)
    try:
        load_demo(store, settings, patients=1)
        add_second_source(store, settings)
        with TestClient(create_app(settings, store), follow_redirects=False) as http:
            sign_in(http, "clinician-a")
            page = http.get(f"/web/patients/{PA}")
            assert page.status_code == 200
            assert "Recorded by 2 sources" in page.text and "Leeds PAS" in page.text
            sign_in(http, "admin-a")
            assert http.get(f"/web/patients/{PA}/summary").status_code == 403
    finally:
        store.close()
