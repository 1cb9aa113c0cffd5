"""OAuth2 tokens: client assertions in, short-lived signed access tokens out, and verification.

- ``verify_client_assertion``: the NHS API platform's ``private_key_jwt`` (RS512, ``kid`` header,
  iss = sub = client id, aud = the token URL, unique ``jti``, exp at most 5 minutes ahead).
- ``issue_access_token``: an RS512 JWT signed by ``security.keys`` carrying SMART scopes and the
  caller's identity claims (CIS2-style role profile, NHS number, proxy grant).
- ``verify_access_token``: ours (by our JWKS) or an external OIDC provider's (configured issuer +
  JWKS, audience), then ``principal_from_claims`` turns claims into a ``Principal``.

Every failure is a ``FhirError`` 401 with an OperationOutcome that says what was wrong.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from joserfc import errors as jose_errors
from joserfc import jwk, jws, jwt

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.security import keys
from gpbridge.security.clients import Client, find_client
from gpbridge.security.principal import Principal
from gpbridge.security.replay import REPLAY, ReplayCache

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ["RS512"]
ACCESS_ALGS = ["RS512", "RS256"]
MAX_ASSERTION_LIFETIME = 300  # seconds: "exp at most 5 minutes ahead"
CLOCK_SKEW = 30

# Settings the lead adds to config.py; until then they may come from Settings.extra.
DEFAULTS: dict[str, Any] = {
    "token_issuer": "urn:gpbridge",
    "token_audience": "urn:gpbridge:fhir",
    "token_ttl": 300,
    "oidc_issuer": "",
    "oidc_jwks": "",  # path to a JWKS file (or JSON text); fetched from URL by the caller
    "oidc_audience": "",
    # SMART scopes for external staff tokens that carry none (RBAC and relationships still apply)
    "oidc_default_scopes": "user/*.read user/*.write",
    # the built-in IdP's login page (anyone may log in as a demo user): demos only, never production
    "builtin_idp": False,
}


def setting(settings: Settings, name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


def unauthorized(message: str, code: str = "login") -> FhirError:
    error = FhirError.of(401, code, message)
    error.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return error


def jwt_header(token: str) -> dict[str, Any]:
    try:
        return jws.extract_compact(token.encode()).protected
    except (jose_errors.JoseError, ValueError) as exc:
        raise unauthorized(f"Malformed JWT: {exc}") from None


def decode_signed(token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
    try:
        return dict(jwt.decode(token, key, algorithms=algorithms).claims)
    except jose_errors.BadSignatureError:
        raise unauthorized("JWT signature is invalid") from None
    except (jose_errors.JoseError, ValueError) as exc:
        raise unauthorized(f"JWT rejected: {exc}") from None


def check_times(claims: dict[str, Any], now: float, max_lifetime: float | None) -> None:
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise unauthorized("JWT has no exp claim")
    if exp < now - CLOCK_SKEW:
        raise unauthorized("JWT has expired")
    if max_lifetime is not None and exp > now + max_lifetime + CLOCK_SKEW:
        raise unauthorized(f"JWT exp is more than {int(max_lifetime)} seconds ahead")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now + CLOCK_SKEW:
        raise unauthorized("JWT is not yet valid")


def audience_ok(aud: Any, expected: str) -> bool:
    return aud == expected or (isinstance(aud, list) and expected in aud)


# --------------------------------------------------------------------------- client assertions


def verify_client_assertion(
    settings: Settings,
    assertion: str,
    token_url: str,
    *,
    replay: ReplayCache = REPLAY,
    now: float | None = None,
) -> Client:
    """Check a ``private_key_jwt`` client assertion and return the registered client."""
    now = time.time() if now is None else now
    header = jwt_header(assertion)
    if header.get("alg") not in ASSERTION_ALGS:
        raise unauthorized(f"Client assertion must be signed with RS512, not {header.get('alg')!r}")
    # Trust nothing in the payload before the signature verifies, except to find the key.
    unverified = orjson.loads(jws.extract_compact(assertion.encode()).payload or b"{}")
    client_id = unverified.get("iss")
    client = find_client(settings, client_id) if isinstance(client_id, str) else None
    if client is None:
        raise unauthorized(f"Unknown client {client_id!r}", "security")
    key = client.key(header.get("kid"))
    if key is None:
        raise unauthorized(f"Unknown kid {header.get('kid')!r} for client {client_id}", "security")
    claims = decode_signed(assertion, key, ASSERTION_ALGS)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise unauthorized("Client assertion iss and sub must both be the client id")
    if not audience_ok(claims.get("aud"), token_url):
        raise unauthorized(f"Client assertion aud must be {token_url}")
    check_times(claims, now, MAX_ASSERTION_LIFETIME)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise unauthorized("Client assertion has no jti")
    if not replay.first_use(f"{client_id}:{jti}", float(claims["exp"]), now):
        raise unauthorized("Client assertion jti has already been used (replay)", "security")
    return client


def granted_scopes(requested: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The requested scopes the client is registered for (all of them when none requested)."""
    if not requested:
        return allowed
    wanted = tuple(s for s in requested.split() if s)
    refused = [s for s in wanted if s not in allowed]
    if refused:
        raise unauthorized(f"Scope not registered for this client: {' '.join(refused)}", "security")
    return wanted


# ------------------------------------------------------------------------------- access tokens


def issue_access_token(
    settings: Settings, claims: dict[str, Any], scopes: tuple[str, ...], ttl: int | None = None
) -> tuple[str, int]:
    """Sign an access token; returns (token, expires_in)."""
    ttl = int(setting(settings, "token_ttl") if ttl is None else ttl)
    now = int(time.time())
    key = keys.signing_key(settings)
    payload = {
        **claims,
        "iss": setting(settings, "token_issuer"),
        "aud": setting(settings, "token_audience"),
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
        "scope": " ".join(scopes),
    }
    header = {"alg": "RS512", "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, payload, key, algorithms=["RS512"]), ttl


def verify_access_token(settings: Settings, token: str, *, now: float | None = None) -> dict[str, Any]:
    """Verified claims of a bearer token: ours, or the configured external OIDC provider's."""
    now = time.time() if now is None else now
    header = jwt_header(token)
    if header.get("alg") not in ACCESS_ALGS:
        raise unauthorized(f"Access token algorithm {header.get('alg')!r} is not accepted")
    issuer = orjson.loads(jws.extract_compact(token.encode()).payload or b"{}").get("iss")
    external = setting(settings, "oidc_issuer")
    if external and issuer == external:
        # the provider's tokens for its other clients must not work here: an audience is required
        audience = setting(settings, "oidc_audience") or getattr(settings, "oidc_client_id", "")
        if not audience:
            raise unauthorized("External tokens are refused: set oidc_audience (our client id at the provider)")
        keyset = _external_keys(settings, header.get("kid"))
    else:
        keyset, audience = keys.verification_keys(settings), setting(settings, "token_audience")
        external = setting(settings, "token_issuer")
    kid = header.get("kid")
    if not any(k.kid == kid for k in keyset.keys):
        raise unauthorized(f"Unknown kid {kid!r}")
    claims = decode_signed(token, keyset, ACCESS_ALGS)
    if claims.get("iss") != external:
        raise unauthorized("Access token issuer is not trusted")
    if not audience_ok(claims.get("aud"), audience):
        raise unauthorized("Access token audience is wrong")
    check_times(claims, now, None)
    if external == setting(settings, "oidc_issuer") and issuer == external:
        return external_claims(settings, claims)
    return claims


def external_claims(settings: Settings, claims: dict[str, Any]) -> dict[str, Any]:
    """An external provider says who someone is, never that they are *us*: no system access,
    and no ``gpbridge_kind`` taken on trust. Staff (CIS2) have role profiles; patients an NHS number."""
    claims = {k: v for k, v in claims.items() if k != "gpbridge_kind"}
    if claims.get("nhsid_nrbac_roles"):
        claims["gpbridge_kind"] = "user"
    elif claims.get("nhs_number"):
        claims["gpbridge_kind"] = "patient"
    else:
        raise unauthorized("External token carries neither a role profile nor an NHS number")
    scopes = str(claims.get("scope", "")).split()
    if not any("/" in s for s in scopes):  # e.g. CIS2's "openid profile nationalrbacaccess"
        default = (
            setting(settings, "oidc_default_scopes")
            if claims["gpbridge_kind"] == "user"
            else "patient/*.read"
        )
        claims["scope"] = " ".join([*scopes, *str(default).split()])
    return claims


def configured_jwks(settings: Settings) -> jwk.KeySet:
    """The provider's keys as configured: a JWKS file path or the JSON text itself."""
    source = str(setting(settings, "oidc_jwks"))
    raw = source if source.lstrip().startswith("{") else Path(source).read_text()
    return jwk.KeySet.import_key_set(orjson.loads(raw))


def _external_keys(settings: Settings, kid: str | None) -> jwk.KeySet:
    from gpbridge.security.oidc import PROVIDERS, LoginError

    try:
        return PROVIDERS.keys(settings, kid)  # configured, else fetched from the provider's jwks_uri
    except LoginError as exc:
        raise unauthorized(f"External provider keys unavailable: {exc.message}") from None


# ------------------------------------------------------------------------------ claims -> who


def _role_codes(claims: dict[str, Any]) -> tuple[str, ...]:
    """National RBAC codes from CIS2 ``nhsid_nrbac_roles`` (role_code ``S0010:G0020:R8000``)."""
    selected = claims.get("selected_roleid")
    found: list[str] = []
    for role in claims.get("nhsid_nrbac_roles") or ():
        if selected and role.get("person_roleid") != selected:
            continue
        found += [part for part in str(role.get("role_code", "")).split(":") if part.startswith("R")]
    # every R-code is kept: a deployment may name other codes (privacy_officer_roles)
    return tuple(dict.fromkeys(found))


def _organisation(claims: dict[str, Any]) -> str | None:
    selected = claims.get("selected_roleid")
    for role in claims.get("nhsid_nrbac_roles") or ():
        if not selected or role.get("person_roleid") == selected:
            return role.get("org_code")
    return None


def _name(claims: dict[str, Any]) -> str | None:
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if claims.get(k)
    )
    return str(name) if name else None


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    scopes = tuple(str(claims.get("scope", "")).split())
    kind = claims.get("gpbridge_kind") or ("user" if claims.get("nhsid_nrbac_roles") else "system")
    subject, client_id = str(claims.get("sub", "")), claims.get("client_id")
    if kind == "user":
        return Principal(
            subject,
            _role_codes(claims),
            _organisation(claims),
            "user",
            scopes,
            client_id,
            role_profile=claims.get("selected_roleid"),
            name=_name(claims),
        )
    if kind in ("patient", "proxy"):
        if claims.get("identity_proofing_level") != "P9":
            raise unauthorized("Patient access needs identity verified to P9")
        grant = claims.get("act_for") or {}
        return Principal(
            subject,
            kind=kind,
            scopes=scopes,
            client_id=client_id,
            nhs_number=claims.get("nhs_number"),
            acts_for=grant.get("nhs_number"),
            related_person=grant.get("related_person"),
            access_level=grant.get("access_level"),
            name=_name(claims),
        )
    return Principal(subject, kind="system", scopes=scopes, client_id=client_id)
