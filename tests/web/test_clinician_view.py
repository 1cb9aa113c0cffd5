"""The clinician view in a real browser: find the demo patient, read each section of their
joined-up record, see the conflicts with both versions, and the summary — with and without JS."""

from __future__ import annotations

from typing import Any

import pytest
from web_helpers import screenshot

DEMO_NHS = "9990000018"
SECTIONS = ["Allergies and adverse reactions", "Medications", "Problems", "Consultations", "Immunisations",
            "Investigations and results", "Uncategorised data", "Referrals", "Diary entries"]


def test_find_the_demo_patient_by_nhs_number(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/")
    assert page.locator("h1").inner_text() == "Find a patient"
    page.get_by_label("NHS number").fill("999 000 0018")
    page.get_by_role("button", name="Find by NHS number").click()
    page.wait_for_url(f"**/patients/{DEMO_NHS}")
    assert "Whitaker" in page.locator("h1").inner_text()


def test_find_by_name_and_date_of_birth(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/")
    page.get_by_label("Family name").fill("Whitaker")
    page.get_by_label("Date of birth").fill("1952-05-17")
    page.get_by_role("button", name="Find by name and date of birth").click()
    screenshot(page, "find", docs=True)
    page.get_by_role("link", name="Margaret Ann Whitaker").first.click()
    page.wait_for_url(f"**/patients/{DEMO_NHS}")


def test_an_invalid_nhs_number_is_explained_next_to_the_field(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/?nhs_number=9990000019")
    assert page.locator(".nhsuk-error-summary").is_visible()
    assert "Modulus 11" in page.locator("#nhs_number-error").inner_text()
    screenshot(page, "find-error")


def test_the_record_by_section_with_sources_and_conflicts(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/patients/{DEMO_NHS}")
    headings = page.locator("section.gpb-section h2").all_inner_texts()
    assert headings == SECTIONS
    allergies = page.locator("#section-allergies")
    rows = allergies.locator("tbody tr")
    assert rows.count() == 1  # penicillin from the practice and the hospital: shown once
    assert "Allergy to penicillin" in rows.first.inner_text()
    assert "Recorded by 2 sources" in rows.first.inner_text()
    assert "Leeds PAS (RR8)" in rows.first.inner_text()
    problems = page.locator("#section-problems").inner_text()
    assert "Diabetes mellitus type 2" in problems and "Hypertensive disorder" in problems
    for key in ("medications", "consultations", "immunisations", "investigations"):
        assert page.locator(f"#section-{key} tbody tr").count() > 0, key
    banner = page.locator("#conflicts")
    assert banner.is_visible()
    assert "2 conflicts between sources" in banner.locator("h2").inner_text()
    hypertension = banner.locator(".gpb-conflict", has_text="problem is active")
    versions = hypertension.locator("tbody tr").all_inner_texts()
    assert len(versions) == 2 and any("Resolved" in v for v in versions) and any("Active" in v for v in versions)
    assert page.locator("#section-problems .gpb-row--conflict").count() == 2  # both versions marked
    screenshot(page, "record", docs=True)


def test_a_conflict_tag_links_to_both_versions(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/patients/{DEMO_NHS}")
    page.locator("#section-investigations a.gpb-tag").first.click()
    target = page.evaluate("location.hash")
    assert page.locator(f"{target} tbody tr").count() == 2


def test_the_summary_page(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/patients/{DEMO_NHS}/summary")
    headings = page.locator("section.gpb-section h2").all_inner_texts()
    assert headings == ["Medication", "Allergies and adverse reactions", "Problems", "Immunisations", "Recent results"]
    assert page.locator("#conflicts").is_visible()
    screenshot(page, "summary", docs=True)


@pytest.mark.parametrize("path", ["/", f"/patients/{DEMO_NHS}", f"/patients/{DEMO_NHS}/summary"])
def test_pages_work_without_javascript_and_load_nothing_from_elsewhere(browser: Any, base_url: str, path: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(f"{base_url}{path}")
    assert response is not None and response.status == 200
    assert page.locator("h1").count() == 1  # one main heading per page
    assert page.evaluate("getComputedStyle(document.body).fontFamily")  # the local stylesheet applied
    assert all(url.startswith(base_url.rsplit("/web", 1)[0]) for url in requested), requested
    context.close()


def test_every_form_field_has_a_label(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/")
    for field in page.locator("input:not([type=hidden])").all():
        field_id = field.get_attribute("id")
        assert page.locator(f"label[for='{field_id}']").count() == 1, field_id


def test_unknown_patient_page_is_a_404(page: Any, base_url: str) -> None:
    response = page.goto(f"{base_url}/patients/9990000026")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Patient not found"
