"""POST /oauth2/token with a private_key_jwt client assertion: the happy path and every refusal."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import orjson
import pytest
from joserfc import jwk, jwt

from gpbridge.fhir.outcome import FhirError
from gpbridge.security.clients import register_client
from gpbridge.security.tokens import ASSERTION_TYPE

TOKEN_URL = "http://testserver/oauth2/token"


@pytest.fixture
def client_key(secure_settings: Any) -> jwk.RSAKey:
    key = jwk.RSAKey.generate_key(2048, private=True, parameters={"kid": "test-1"})
    register_client(secure_settings, "app-1", {"keys": [key.as_dict(private=False)]}, ("system/*.read",))
    return key


def assertion(key: jwk.RSAKey, **override: Any) -> str:
    now = int(time.time())
    claims = {"iss": "app-1", "sub": "app-1", "aud": TOKEN_URL, "jti": str(uuid.uuid4()), "exp": now + 240}
    claims.update(override.pop("claims", {}))
    header = {"alg": "RS512", "kid": "test-1", "typ": "JWT"} | override.pop("header", {})
    return jwt.encode(header, claims, key, algorithms=["RS512", "RS256"])


def ask(http: Any, token: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": token,
    }
    return http.post("/oauth2/token", data=form)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def test_valid_assertion_gets_a_working_access_token(http: Any, client_key: jwk.RSAKey) -> None:
    response = ask(http, assertion(client_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 300
    read = http.get("/fhir/Observation/obs-pa", headers={"authorization": f"Bearer {body['access_token']}"})
    assert read.status_code == 200


def test_replayed_jti_is_refused(http: Any, client_key: jwk.RSAKey) -> None:
    token = assertion(client_key)
    assert ask(http, token).status_code == 200
    again = ask(http, token)
    assert again.status_code == 401
    assert "replay" in again.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "override, says",
    [
        ({"claims": {"exp": int(time.time()) - 600}}, "expired"),
        ({"claims": {"exp": int(time.time()) + 3600}}, "ahead"),
        ({"claims": {"aud": "http://evil/oauth2/token"}}, "aud"),
        ({"header": {"kid": "no-such-kid"}}, "kid"),
        ({"claims": {"sub": "someone-else"}}, "sub"),
        ({"claims": {"iss": "unknown-client", "sub": "unknown-client"}}, "Unknown client"),
    ],
)
def test_bad_assertions_are_401_outcomes(
    http: Any, client_key: jwk.RSAKey, override: dict[str, Any], says: str
) -> None:
    response = ask(http, assertion(client_key, **override))
    assert response.status_code == 401
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert says in outcome["issue"][0]["diagnostics"]


def test_bad_signature_is_refused(http: Any, client_key: jwk.RSAKey) -> None:
    other = jwk.RSAKey.generate_key(2048, private=True)
    response = ask(http, assertion(other))
    assert response.status_code == 401
    assert "signature" in response.json()["issue"][0]["diagnostics"]


def test_tampered_payload_is_refused(http: Any, client_key: jwk.RSAKey) -> None:
    head, _, sig = assertion(client_key).split(".")
    forged = _b64(
        {"iss": "app-1", "sub": "app-1", "aud": TOKEN_URL, "jti": "x", "exp": int(time.time()) + 60}
    )
    assert ask(http, f"{head}.{forged}.{sig}").status_code == 401


def test_alg_none_is_refused(http: Any, client_key: jwk.RSAKey) -> None:
    claims = {"iss": "app-1", "sub": "app-1", "aud": TOKEN_URL, "jti": "n1", "exp": int(time.time()) + 60}
    token = f"{_b64({'alg': 'none', 'kid': 'test-1'})}.{_b64(claims)}."
    assert ask(http, token).status_code == 401


def test_rs256_assertion_is_refused(http: Any, client_key: jwk.RSAKey) -> None:
    assert ask(http, assertion(client_key, header={"alg": "RS256"})).status_code == 401


def test_token_issue_is_audited(http: Any, client_key: jwk.RSAKey, audit_sink: Any) -> None:
    ask(http, assertion(client_key))
    ask(http, assertion(client_key, claims={"aud": "x"}))
    issued = [r for r in audit_sink.records if r.interaction == "token"]
    assert [r.allowed for r in issued] == [True, False]


def test_jwks_is_published(http: Any) -> None:
    keys = http.get("/oauth2/jwks").json()["keys"]
    assert keys and keys[0]["kty"] == "RSA" and keys[0]["kid"] and "d" not in keys[0]
    assert http.get("/.well-known/jwks.json").json() == {"keys": keys}


# -------------------------------------------------------------------------- access tokens


def test_tampered_access_token_is_401(http: Any, bearer: Any) -> None:
    token = bearer(user="clinician-b")["authorization"].split()[1]
    head, payload, sig = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["nhsid_nrbac_roles"][0]["org_code"] = "Y12345"  # pretend to work at practice A
    forged = f"{head}.{_b64(claims)}.{sig}"
    assert http.get("/fhir/Patient/pa", headers={"authorization": f"Bearer {forged}"}).status_code == 401


def test_access_token_signed_by_another_key_is_401(http: Any) -> None:
    key = jwk.RSAKey.generate_key(2048, private=True, parameters={"kid": "rogue"})
    token = jwt.encode({"alg": "RS512", "kid": "rogue"}, {"iss": "urn:gpbridge", "sub": "x", "scope": "system/*.read",
                                                          "exp": int(time.time()) + 60}, key, algorithms=["RS512"])  # fmt: skip
    assert http.get("/fhir/Patient/pa", headers={"authorization": f"Bearer {token}"}).status_code == 401


def test_expired_access_token_is_401(http: Any, secure_settings: Any) -> None:
    from gpbridge.security.tokens import issue_access_token

    token, _ = issue_access_token(
        secure_settings, {"sub": "x", "gpbridge_kind": "system"}, ("system/*.read",), ttl=-120
    )
    assert http.get("/fhir/Patient/pa", headers={"authorization": f"Bearer {token}"}).status_code == 401


def test_external_oidc_token_is_verified_by_its_jwks(secure_settings: Any) -> None:
    from gpbridge.security.tokens import principal_from_claims, unauthorized, verify_access_token

    idp = jwk.RSAKey.generate_key(2048, private=True, parameters={"kid": "cis2-1"})
    settings = secure_settings.with_(
        oidc_issuer="https://cis2.example/openam", oidc_audience="gpbridge-client",
        oidc_jwks=orjson.dumps({"keys": [idp.as_dict(private=False)]}).decode(),
    )  # fmt: skip
    claims = {"iss": "https://cis2.example/openam", "aud": "gpbridge-client", "sub": "5550001",
              "exp": int(time.time()) + 60, "scope": "user/*.read", "selected_roleid": "r1",
              "nhsid_nrbac_roles": [{"person_roleid": "r1", "org_code": "Y12345", "role_code": "S0010:G0020:R8001"}]}  # fmt: skip
    token = jwt.encode({"alg": "RS256", "kid": "cis2-1"}, claims, idp, algorithms=["RS256"])
    who = principal_from_claims(verify_access_token(settings, token))
    assert who.roles == ("R8001",) and who.organisation == "Y12345"
    wrong_aud = jwt.encode(
        {"alg": "RS256", "kid": "cis2-1"}, claims | {"aud": "other"}, idp, algorithms=["RS256"]
    )
    with pytest.raises(type(unauthorized("x"))):
        verify_access_token(settings, wrong_aud)
    no_audience_configured = settings.with_(oidc_audience="")
    with pytest.raises(type(unauthorized("x")), match="set oidc_audience"):
        verify_access_token(no_audience_configured, token)


def test_external_token_never_becomes_a_system_principal(secure_settings: Any) -> None:
    from gpbridge.security.tokens import principal_from_claims, verify_access_token

    idp = jwk.RSAKey.generate_key(2048, private=True, parameters={"kid": "ext-1"})
    settings = secure_settings.with_(
        oidc_issuer="https://idp.example", oidc_audience="gpbridge-client",
        oidc_jwks=orjson.dumps({"keys": [idp.as_dict(private=False)]}).decode(),
    )
    base = {"iss": "https://idp.example", "aud": "gpbridge-client", "sub": "s", "exp": int(time.time()) + 60}
    sneaky = jwt.encode({"alg": "RS256", "kid": "ext-1"}, base | {"gpbridge_kind": "system", "scope": "system/*.write"},
                        idp, algorithms=["RS256"])  # fmt: skip
    with pytest.raises(FhirError):
        verify_access_token(settings, sneaky)
    cis2 = base | {
        "scope": "openid nationalrbacaccess",
        "nhsid_nrbac_roles": [{"org_code": "Y1", "role_code": "R8000"}],
    }
    who = principal_from_claims(
        verify_access_token(
            settings, jwt.encode({"alg": "RS256", "kid": "ext-1"}, cis2, idp, algorithms=["RS256"])
        )
    )
    assert who.kind == "user" and "user/*.read" in who.scopes


def test_bad_token_is_audited_as_a_denial(http: Any, audit_sink: Any) -> None:
    assert http.get("/fhir/Patient/pa", headers={"authorization": "Bearer not-a-jwt"}).status_code == 401
    assert [(r.interaction, r.allowed) for r in audit_sink.records] == [("login", False)]
