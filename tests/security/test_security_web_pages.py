"""The web view with security on: sign-in required, demo sign-in with CSRF, sessions, security
headers, the privacy officer's audit page (break-glass report, filters) and a patient's
"who accessed my record" page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.security.audit_chain import ChainedAuditSink, audit_events


@pytest.fixture
def site(secure_settings: Any, secure_store: Any, bearer: Any) -> Iterator[tuple[TestClient, Any]]:
    settings = secure_settings.with_(builtin_idp=True)
    sink = ChainedAuditSink(secure_store, background=False)
    app = create_app(settings, secure_store, audit=sink)
    with TestClient(app, follow_redirects=False) as http:
        http.get("/fhir/Patient/pa", headers=bearer(user="clinician-a"))
        glass = bearer(user="clinician-b") | {"x-break-glass-reason": "unconscious <b>in</b> A&E"}
        http.get("/fhir/Patient/pa", headers=glass)
        sink.flush()
        yield http, sink


def _csrf(page: Any) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(http: TestClient, user: str, next_url: str = "") -> Any:
    token = _csrf(http.get("/web/login"))
    return http.post("/web/login", data={"csrf": token, "user": user, "next": next_url})


def test_pages_need_a_sign_in(site: Any) -> None:
    http, _ = site
    answer = http.get("/web/patients/9990000018?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/web/login?next=%2Fweb%2Fpatients%2F9990000018%3Fx%3D1"
    assert http.get("/web/login").status_code == 200
    assert http.get("/web/assets/gpbridge.css").status_code == 200


def test_demo_sign_in_goes_back_where_the_user_was_going(site: Any) -> None:
    http, _ = site
    done = sign_in(http, "clinician-a", "/web/patients/9990000018")
    assert done.status_code == 303 and done.headers["location"] == "/web/patients/9990000018"
    assert "HttpOnly" in done.headers["set-cookie"]
    assert http.get("/web/patients/9990000018").status_code == 200


def test_sign_in_never_redirects_off_site(site: Any) -> None:
    http, _ = site
    for evil in ("https://evil.example/", "//evil.example/web", "/web/..//evil", "/fhir/Patient"):
        done = sign_in(http, "clinician-a", evil)
        assert done.headers["location"] == "/web/", evil


def test_forms_are_csrf_protected(site: Any) -> None:
    http, sink = site
    forged = http.post("/web/login", data={"csrf": "guess", "user": "admin-a"})
    assert forged.status_code == 403 and "gpb_session" not in forged.headers.get("set-cookie", "")
    sign_in(http, "patient-1")
    assert http.post("/web/logout", data={"csrf": "guess"}).status_code == 403
    assert http.get("/web/my-record-access").status_code == 200  # still signed in
    token = _csrf(http.get("/web/my-record-access"))
    out = http.post("/web/logout", data={"csrf": token})
    assert out.status_code == 303 and 'gpb_session=""' in out.headers["set-cookie"]
    sink.flush()
    assert [e["subtype"][0]["code"] for e in audit_events(sink.store, principal="patient-1")][0] == "logout"
    http.cookies.delete("gpb_session", path="/web")
    assert http.get("/web/my-record-access").status_code == 303


def test_a_tampered_session_cookie_signs_nobody_in(site: Any) -> None:
    http, _ = site
    sign_in(http, "clinician-a")
    token = http.cookies.get("gpb_session", path="/web")
    http.cookies.set("gpb_session", token[:-4] + "AAAA", path="/web")
    assert http.get("/web/patients/9990000018").status_code == 303


def test_web_pages_carry_the_security_headers(site: Any) -> None:
    http, _ = site
    sign_in(http, "admin-a")
    page = http.get("/web/audit")
    assert page.headers["strict-transport-security"].startswith("max-age=")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"


def test_privacy_officer_page_reports_break_glass_and_filters(site: Any) -> None:
    http, _ = site
    assert sign_in(http, "admin-a").headers["location"] == "/web/audit"
    page = http.get("/web/audit")
    assert page.status_code == 200
    report = page.text.split('id="break-glass-report"', 1)[1].split("</table>", 1)[0]
    assert "unconscious &lt;b&gt;in&lt;/b&gt; A&amp;E" in report  # the stated reason, escaped
    assert "Y23456" in report and "Test Family-pa, NHS number 999 000 0018" in report  # whose record
    refused = http.get("/web/audit?nhs_number=9990000018&outcome=4")
    assert "0 events (newest first)" in refused.text  # nobody was refused pa's record
    allowed = http.get("/web/audit?nhs_number=9990000018&outcome=0")
    assert "2 events (newest first)" in allowed.text
    by_a = http.get("/web/audit?nhs_number=9990000018&user=555000000101")
    assert "1 event " in by_a.text and "Dr Sarah Okafor" in by_a.text
    bad = http.get("/web/audit?nhs_number=123")
    assert bad.status_code == 400 and "nhsuk-error-summary" in bad.text


def test_only_privacy_officers_get_the_audit_page(site: Any) -> None:
    http, _ = site
    sign_in(http, "clinician-a")
    assert http.get("/web/audit").status_code == 403
    http.cookies.clear()
    sign_in(http, "patient-1")
    assert http.get("/web/audit").status_code == 403


def test_patient_page_shows_who_accessed_their_record(site: Any) -> None:
    http, _ = site
    assert sign_in(http, "patient-1").headers["location"] == "/web/my-record-access"
    page = http.get("/web/my-record-access")
    assert page.status_code == 200
    table = page.text.split('id="my-access"', 1)[1]
    assert "Dr Sarah Okafor" in table and "Clinical Practitioner (R8000)" in table
    assert "practice-a (Y12345)" in table and "practice-b (Y23456)" in table  # organisation names
    assert "emergency access" in table
    assert "unconscious" not in table and "testclient" not in table  # no reason text, no addresses


def test_a_staff_member_has_no_patient_access_page(site: Any) -> None:
    http, _ = site
    sign_in(http, "clinician-a")
    assert http.get("/web/my-record-access").status_code == 403


def test_a_copied_session_cookie_stops_working_at_sign_out(site: Any, secure_settings: Any) -> None:
    # the cookie alone is the session: sign-out must revoke it server-side, not just ask the
    # browser to forget it (a copy taken earlier would otherwise work until session_ttl)
    http, _ = site
    sign_in(http, "patient-1")
    copied = http.cookies.get("gpb_session", path="/web")
    assert copied and http.get("/web/my-record-access").status_code == 200
    http.post("/web/logout", data={"csrf": _csrf(http.get("/web/my-record-access"))})
    http.cookies.set("gpb_session", copied, path="/web")
    assert http.get("/web/my-record-access").status_code == 303  # back to sign-in
    # the revocation is in the database: a restarted server (fresh memory) still refuses it
    from gpbridge.security.session_revocation import REVOKED
    from gpbridge.security.shared_state import StoreState

    assert isinstance(REVOKED.state, StoreState)
    http.cookies.clear()
    sign_in(http, "patient-1")  # a new session works
    assert http.get("/web/my-record-access").status_code == 200
