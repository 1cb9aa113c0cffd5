"""Signing in with a real browser, security on: through an external OIDC provider (the fake one
from tests/security, on loopback) and as a demo user; then the privacy officer's audit page with
its break-glass report, and a patient's "who accessed my record"."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import screenshot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from fake_idp import CLIENT_ID, running_idp, serving  # noqa: E402


@pytest.fixture(scope="module")
def secure_site(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[str]:
    from gpbridge.api.app import create_app
    from gpbridge.config import Settings
    from gpbridge.demo.loader import load_demo
    from gpbridge.security.oidc import PROVIDERS
    from gpbridge.store import open_store

    directory = tmp_path_factory.mktemp("login")
    with running_idp() as idp:
        PROVIDERS.clear()
        settings = Settings(database=f"sqlite:///{directory}/web.db", insecure_dev=False, builtin_idp=True,
                            var_dir=str(directory / "var"), oidc_issuer=idp.url, oidc_client_id=CLIENT_ID,
                            rate_limit_per_minute=0)  # fmt: skip
        store = open_store(settings.database, settings)
        load_demo(store, settings, patients=1)
        app = create_app(settings, store)
        with serving(app) as root:
            _break_glass(root, settings)
            app.state.api.audit.flush()
            yield root
        store.close()


def _break_glass(root: str, settings: Any) -> None:
    """Practice B's clinician reads practice A's demo patient in an emergency."""
    from gpbridge.security.idp import mint_user_token

    found = httpx.get(f"{root}/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018",
                      headers={"authorization": f"Bearer {mint_user_token(settings, 'clinician-a')}"}).json()  # fmt: skip
    patient_id = found["entry"][0]["resource"]["id"]
    glass = {"authorization": f"Bearer {mint_user_token(settings, 'clinician-b')}",
             "x-break-glass-reason": "Unconscious in A&E, no other record available"}  # fmt: skip
    assert httpx.get(f"{root}/fhir/Patient/{patient_id}", headers=glass).status_code == 200


def test_sign_in_through_the_external_provider(secure_site: str, page: Any) -> None:
    page.goto(f"{secure_site}/web/patients/9990000018")
    assert "/web/login" in page.url  # sent to sign in first
    page.click("#sign-in-external")  # off to the provider and back through /oauth2/callback
    page.wait_for_url(f"{secure_site}/web/patients/9990000018")
    assert page.locator("h1").first.is_visible()
    assert "Cannot show this page" not in page.content()
    screenshot(page, "signed-in-external")


def test_privacy_officer_sees_the_break_glass_report(secure_site: str, page: Any) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
    page.goto(f"{secure_site}/web/audit")
    page.check("#user-admin-a")
    page.click("#sign-in-demo")
    page.wait_for_url(f"{secure_site}/web/audit")
    report = page.locator("#break-glass-report")
    assert "Unconscious in A&E" in report.inner_text()
    page.check("#break_glass")
    page.click("#apply-filters")
    assert "1 event " in page.locator("#audit-events caption").inner_text()
    screenshot(page, "privacy-officer-audit")
    assert not [m for m in console if "Content Security Policy" in m], console  # no inline script blocked


def test_patient_sees_who_accessed_their_record(secure_site: str, page: Any) -> None:
    page.goto(f"{secure_site}/web/login")
    page.check("#user-patient-1")
    page.click("#sign-in-demo")
    page.wait_for_url(f"{secure_site}/web/my-record-access")
    table = page.locator("#my-access").inner_text()
    assert "emergency access" in table and "Unconscious" not in table
    page.click("text=Sign out")
    page.wait_for_url(f"{secure_site}/web/login")
    page.goto(f"{secure_site}/web/my-record-access")
    assert "/web/login" in page.url
