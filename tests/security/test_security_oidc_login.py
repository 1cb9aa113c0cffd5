"""gpbridge as the relying party of an external OIDC provider, end to end against a fake provider
on 127.0.0.1 (its own RSA key and JWKS): the browser redirect with state, nonce and PKCE; the code
exchange; ID token checks; the CIS2 role profile; the web session; and the same login for API
clients through /oauth2/authorize. Every way a login can be wrong ends in a clear refusal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fake_idp import CIS2_USER, CLIENT_ID, FakeIdp, running_idp
from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.security.audit import MemoryAuditSink
from gpbridge.security.authcode import s256
from gpbridge.security.oidc import PROVIDERS

_without_roles = {k: v for k, v in CIS2_USER.items() if k != "nhsid_nrbac_roles"}


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeIdp]:
    with running_idp() as provider:
        yield provider


@pytest.fixture
def rp(idp: FakeIdp, secure_settings: Any, secure_store: Any) -> Iterator[tuple[TestClient, MemoryAuditSink]]:
    idp.misbehave.clear()
    idp.roles_in_id_token = False
    idp.user = dict(CIS2_USER)
    PROVIDERS.clear()
    settings = secure_settings.with_(oidc_issuer=idp.url, oidc_client_id=CLIENT_ID, oidc_audience=CLIENT_ID)
    sink = MemoryAuditSink()
    app = create_app(settings, secure_store, audit=sink)
    with TestClient(app, follow_redirects=False) as client:
        yield client, sink


def _to_provider(client: TestClient, start: str = "/web/login/oidc?next=/web/") -> str:
    """Start a login; the provider's authorisation URL the browser is sent to."""
    response = client.get(start)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _at_provider(authorize_url: str) -> str:
    """The provider signs the user in and sends the browser back: our callback path + query."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    return f"{back.path}?{back.query}"


def _login(client: TestClient, start: str = "/web/login/oidc?next=/web/") -> Any:
    return client.get(_at_provider(_to_provider(client, start)))


def test_redirect_carries_state_nonce_and_pkce_s256(rp: Any, idp: FakeIdp) -> None:
    client, _ = rp
    query = parse_qs(urlsplit(_to_provider(client)).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["redirect_uri"] == ["http://testserver/oauth2/callback"]
    assert "nationalrbacaccess" in query["scope"][0].split()


def test_successful_login_starts_a_web_session_with_the_selected_role(rp: Any, idp: FakeIdp) -> None:
    client, sink = rp
    done = _login(client)
    assert done.status_code == 303 and done.headers["location"] == "/web/"
    cookie = done.headers["set-cookie"]
    assert "gpb_session=" in cookie and "HttpOnly" in cookie and "Path=/web" in cookie
    assert "samesite=lax" in cookie.lower()
    # the session reaches the record pages: R8000 at Y12345, where patient pa is registered
    assert client.get("/web/patients/9990000018").status_code == 200
    # ... and not the privacy officer's page: the selected role is R8000, not the R8008 profile
    assert client.get("/web/audit").status_code == 403
    login = [r for r in sink.records if r.interaction == "login"][-1]
    assert login.allowed and login.principal == "910000000001" and login.roles == ("R8000",)
    assert login.organisation == "Y12345" and login.principal_name == "Dr Jo Bloggs"


def test_session_cookie_is_not_a_credential_for_the_fhir_api(rp: Any) -> None:
    client, _ = rp
    assert _login(client).status_code == 303
    assert client.get("/fhir/Patient/pa").status_code == 401  # no cross-site API calls riding the cookie


def test_roles_may_come_in_the_id_token_instead_of_userinfo(rp: Any, idp: FakeIdp) -> None:
    client, _ = rp
    idp.roles_in_id_token = True
    idp.user["selected_roleid"] = "900000000102"  # the R8008 profile at Y23456
    done = _login(client, "/web/login/oidc")
    assert done.status_code == 303 and done.headers["location"] == "/web/audit"
    assert client.get("/web/audit").status_code == 200


def test_state_mismatch_is_refused(rp: Any) -> None:
    client, sink = rp
    back = _at_provider(_to_provider(client))
    forged = back.replace("state=", "state=x")
    refused = client.get(forged)
    assert refused.status_code == 400 and "state mismatch" in refused.text
    assert "gpb_session" not in refused.headers.get("set-cookie", "")
    assert not sink.records[-1].allowed and "state" in sink.records[-1].reason


def test_callback_without_the_starting_browser_is_refused(rp: Any, idp: FakeIdp) -> None:
    client, _ = rp
    back = _at_provider(_to_provider(client))
    client.cookies.clear()  # another browser: the login was not started here (login CSRF)
    assert client.get(back).status_code == 400


def test_a_callback_is_single_use(rp: Any) -> None:
    client, _ = rp
    url = _to_provider(client)
    state = parse_qs(urlsplit(url).query)["state"][0]
    back = _at_provider(url)
    assert client.get(back).status_code == 303
    client.cookies.set("gpb_login", state, path="/oauth2/callback")
    again = client.get(back)
    assert again.status_code == 400 and "already used" in again.text


def test_an_id_token_with_another_logins_nonce_is_refused(rp: Any, idp: FakeIdp) -> None:
    client, _ = rp
    assert _login(client).status_code == 303
    idp.misbehave["nonce"] = idp.issued_nonces[-1]  # replay: the previous login's ID token nonce
    refused = _login(client)
    assert refused.status_code == 401 and "nonce does not match" in refused.text


def test_a_nonce_is_accepted_once_only(idp: FakeIdp, secure_settings: Any) -> None:
    from gpbridge.security.oidc import LoginError, verify_id_token
    from gpbridge.security.replay import ReplayCache

    PROVIDERS.clear()
    settings = secure_settings.with_(oidc_issuer=idp.url, oidc_client_id=CLIENT_ID)
    idp.misbehave.clear()
    token, cache = idp.id_token("nonce-123"), ReplayCache()
    assert verify_id_token(settings, token, "nonce-123", replay=cache)["sub"] == "910000000001"
    with pytest.raises(LoginError, match="used before"):
        verify_id_token(settings, token, "nonce-123", replay=cache)


@pytest.mark.parametrize(
    ("misbehaviour", "says"),
    [
        ({"sign_with": "rogue"}, "signature is invalid"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "someone-else"}, "audience"),
        ({"aud": [CLIENT_ID, "other"], "azp": "other"}, "azp"),
        ({"exp": lambda c: int(time.time()) - 3600}, "expired"),
        ({"nonce": "not-the-one-we-sent"}, "nonce does not match"),
    ],
)
def test_a_bad_id_token_is_refused(rp: Any, idp: FakeIdp, misbehaviour: dict[str, Any], says: str) -> None:
    client, sink = rp
    idp.misbehave.update(misbehaviour)
    refused = _login(client)
    assert refused.status_code == 401, refused.text
    assert says in refused.text
    assert "gpb_session" not in refused.headers.get("set-cookie", "")
    assert not sink.records[-1].allowed and says in sink.records[-1].reason


@pytest.mark.parametrize(
    ("user", "says"),
    [
        ({"sub": "910000000009", "name": "No Roles"}, "neither a role profile"),
        ({**_without_roles, "nhsid_nrbac_roles": [{"person_roleid": "900000000101", "org_code": "Y12345",
                                                     "role_code": "S0:G0:R9999"}]}, "gives no access"),
        ({**CIS2_USER, "selected_roleid": "nope"}, "not among your role profiles"),
    ],
)  # fmt: skip
def test_missing_or_unknown_role_is_refused(rp: Any, idp: FakeIdp, user: dict[str, Any], says: str) -> None:
    client, _ = rp
    idp.user = dict(user)
    refused = _login(client)
    assert refused.status_code == 403 and says in refused.text


def test_provider_error_is_shown_not_swallowed(rp: Any) -> None:
    client, _ = rp
    state = parse_qs(urlsplit(_to_provider(client)).query)["state"][0]
    refused = client.get(f"/oauth2/callback?state={state}&error=access_denied&error_description=User+cancelled")
    assert refused.status_code == 401 and "User cancelled" in refused.text


def test_unreachable_provider_is_a_clear_error(secure_settings: Any, secure_store: Any) -> None:
    PROVIDERS.clear()
    settings = secure_settings.with_(oidc_issuer="http://127.0.0.1:9", oidc_client_id=CLIENT_ID)
    with TestClient(create_app(settings, secure_store), follow_redirects=False) as client:
        answer = client.get("/web/login/oidc")
    assert answer.status_code == 502 and "could not be reached" in answer.text


def test_api_client_login_through_the_external_provider(rp: Any) -> None:
    """authorization_code + PKCE at /oauth2/authorize and /oauth2/token, the user signing in at
    the external provider: the client gets a gpbridge access token for that user's role."""
    client, _ = rp
    verifier = "client-verifier-" + "x" * 40
    redirect = "http://localhost:3000/cb"
    params = {"response_type": "code", "client_id": "my-app", "redirect_uri": redirect, "state": "client-state",
              "code_challenge": s256(verifier), "code_challenge_method": "S256"}  # fmt: skip
    start = client.get("/oauth2/authorize", params=params)
    assert start.status_code == 303 and start.headers["location"].startswith(client.app.state.api.settings.oidc_issuer)
    back = client.get(_at_provider(start.headers["location"]))
    assert back.status_code == 303 and back.headers["location"].startswith(redirect)
    answer = parse_qs(urlsplit(back.headers["location"]).query)
    assert answer["state"] == ["client-state"]
    form = {"grant_type": "authorization_code", "code": answer["code"][0], "client_id": "my-app",
            "redirect_uri": redirect, "code_verifier": verifier}  # fmt: skip
    assert client.post("/oauth2/token", data=form | {"code_verifier": "wrong" * 10}).status_code == 401
    back = client.get(_at_provider(client.get("/oauth2/authorize", params=params).headers["location"]))
    form["code"] = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    token = client.post("/oauth2/token", data=form)
    assert token.status_code == 200, token.text
    bearer = {"authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/fhir/Patient/pa", headers=bearer).status_code == 200  # R8000 at pa's practice
    assert client.get("/fhir/Patient/pb", headers=bearer).status_code == 403  # another practice's patient


def test_provider_access_tokens_verify_against_its_published_jwks(rp: Any, idp: FakeIdp) -> None:
    """With no JWKS file configured, the keys come from the provider's jwks_uri."""
    client, _ = rp
    now = int(time.time())
    token = idp.sign({"iss": idp.url, "aud": CLIENT_ID, "sub": "910000000001", "exp": now + 300, "iat": now,
                      **{k: v for k, v in idp.user.items() if k != "sub"}})  # fmt: skip
    assert client.get("/fhir/Patient/pa", headers={"authorization": f"Bearer {token}"}).status_code == 200
    forged = idp.sign({"iss": idp.url, "aud": CLIENT_ID, "sub": "x", "exp": now + 300}, rogue=True)
    assert client.get("/fhir/Patient/pa", headers={"authorization": f"Bearer {forged}"}).status_code == 401


def test_a_rotated_provider_key_is_fetched_when_first_seen(rp: Any, idp: FakeIdp, monkeypatch: Any) -> None:
    from joserfc import jwk

    from gpbridge.security import oidc

    client, _ = rp
    assert _login(client).status_code == 303  # keys cached
    old = idp.key
    idp.key = jwk.RSAKey.generate_key(2048, parameters={"kid": "fake-2"})
    try:
        assert _login(client).status_code == 401  # within a minute of the last fetch: not refetched
        monkeypatch.setattr(oidc, "JWKS_REFRESH_AFTER", 0.0)
        assert _login(client).status_code == 303  # the new kid brings the new JWKS
    finally:
        idp.key = old


def test_an_nhs_login_style_patient_lands_on_their_access_log(rp: Any, idp: FakeIdp) -> None:
    client, _ = rp
    idp.user = {"sub": "nhs-login-1", "name": "Test Family-pa", "nhs_number": "9990000018",
                "identity_proofing_level": "P9"}  # fmt: skip
    done = _login(client, "/web/login/oidc")
    assert done.status_code == 303 and done.headers["location"] == "/web/my-record-access"
    assert client.get("/web/my-record-access").status_code == 200
    assert client.get("/web/patients/9990000034").status_code == 403  # another patient's record
    client.cookies.clear()
    idp.user["identity_proofing_level"] = "P5"
    refused = _login(client, "/web/login/oidc")
    assert refused.status_code == 403 and "P9" in refused.text


def test_a_login_started_on_one_worker_finishes_on_another(idp: FakeIdp, secure_settings: Any, secure_store: Any) -> None:
    # Several workers: the pending login and the replay marks live in the database, so a
    # callback reaching another process (modelled by a fresh state over its own connection to
    # the same database, with nothing in memory) still signs the user in, once.
    from gpbridge.security.login_state import LOGINS
    from gpbridge.security.replay import REPLAY
    from gpbridge.security.shared_state import MemoryState, StoreState
    from gpbridge.store import open_store

    idp.misbehave.clear()
    idp.user = dict(CIS2_USER)
    PROVIDERS.clear()
    settings = secure_settings.with_(oidc_issuer=idp.url, oidc_client_id=CLIENT_ID, oidc_audience=CLIENT_ID,
                                     workers=2)
    other = open_store(settings.database, settings)
    try:
        with TestClient(create_app(settings, secure_store, audit=MemoryAuditSink()), follow_redirects=False) as client:
            assert isinstance(LOGINS.state, StoreState)
            callback = _at_provider(_to_provider(client))
            assert other.state_take("login:not-a-state", time.time()) is None
            this_worker = LOGINS.state
            LOGINS.state = REPLAY.state = StoreState(other)  # "the other worker"
            done = client.get(callback)
            assert done.status_code == 303 and done.headers["location"] == "/web/", done.text
            assert client.get(callback).status_code != 303  # single use across workers too
            LOGINS.state = REPLAY.state = this_worker
        assert isinstance(LOGINS.state, MemoryState)  # one worker again after the app stops
    finally:
        other.close()
