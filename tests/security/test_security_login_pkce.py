"""The built-in IdP's authorisation-code + PKCE login: code single use, bound to verifier,
client and redirect URI; CSRF-checked form; off unless enabled."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from gpbridge.api import oauth
from gpbridge.api.app import create_app
from gpbridge.security.authcode import s256

VERIFIER = "a-long-random-verifier-of-at-least-43-characters-0123456789"
REDIRECT = "http://localhost:3000/callback"


@pytest.fixture
def idp_http(secure_settings: Any, secure_store: Any) -> Iterator[TestClient]:
    settings = secure_settings.with_(builtin_idp=True)
    app = create_app(settings, secure_store)
    app.router.routes.extend(oauth.routes())
    with TestClient(app, follow_redirects=False) as client:
        yield client


def _login(http: TestClient, user: str = "clinician-a", redirect: str = REDIRECT) -> Any:
    params = {"response_type": "code", "client_id": "web", "redirect_uri": redirect, "state": "xyz",
              "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}  # fmt: skip
    page = http.get("/oauth2/authorize", params=params)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    form = {k: v for k, v in params.items() if k != "response_type"} | {"csrf": csrf.group(1), "user": user}
    return http.post("/oauth2/authorize", data=form)


def _exchange(http: TestClient, code: str, verifier: str = VERIFIER) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "client_id": "web", "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    return http.post("/oauth2/token", data=form)


def test_login_code_pkce_gives_a_user_token(idp_http: TestClient) -> None:
    redirect = _login(idp_http)
    assert redirect.status_code == 303
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["state"] == ["xyz"]
    token = _exchange(idp_http, query["code"][0])
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    assert idp_http.get("/fhir/Patient/pa", headers={"authorization": f"Bearer {access}"}).status_code == 200
    assert _exchange(idp_http, query["code"][0]).status_code == 401  # single use


def test_wrong_verifier_is_refused(idp_http: TestClient) -> None:
    code = parse_qs(urlsplit(_login(idp_http).headers["location"]).query)["code"][0]
    assert _exchange(idp_http, code, verifier="x" * 50).status_code == 401


def test_unregistered_redirect_is_refused(idp_http: TestClient) -> None:
    params = {"response_type": "code", "client_id": "web", "redirect_uri": "https://evil.example/cb",
              "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}  # fmt: skip
    assert idp_http.get("/oauth2/authorize", params=params).status_code == 400


def test_forged_form_is_refused(idp_http: TestClient) -> None:
    form = {"client_id": "web", "redirect_uri": REDIRECT, "code_challenge": s256(VERIFIER),
            "code_challenge_method": "S256", "csrf": "guess", "user": "clinician-a"}  # fmt: skip
    assert idp_http.post("/oauth2/authorize", data=form).status_code == 403


def test_builtin_idp_is_off_by_default(http: Any) -> None:
    params = {"response_type": "code", "client_id": "web", "redirect_uri": REDIRECT,
              "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}  # fmt: skip
    assert http.get("/oauth2/authorize", params=params).status_code == 404
    assert _exchange(http, "anything").status_code == 400


def test_login_page_lets_the_browser_follow_the_redirect_to_the_client(idp_http: TestClient) -> None:
    """Browsers apply CSP form-action to the redirect after a form post: the client's origin must be in it."""
    params = {"response_type": "code", "client_id": "web", "redirect_uri": REDIRECT,
              "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}  # fmt: skip
    policy = idp_http.get("/oauth2/authorize", params=params).headers["content-security-policy"]
    assert "form-action 'self' http://localhost:3000" in policy and "frame-ancestors 'none'" in policy
