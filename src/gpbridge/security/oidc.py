"""gpbridge as an OpenID Connect relying party of an external identity provider (CIS2-style).

The authorisation-code flow with PKCE (RFC 7636, S256), state and nonce:

1. ``authorization_url``: the provider's ``authorization_endpoint`` (from its discovery document,
   ``<issuer>/.well-known/openid-configuration``) with a fresh state, nonce and code challenge.
2. ``redeem``: the code is exchanged at the ``token_endpoint`` with the verifier; the ID token is
   checked against the provider's JWKS — signature, ``iss``, ``aud``/``azp``, ``exp``/``nbf``,
   the nonce of *this* login, and that the nonce was never seen before.
3. ``identity_claims``: CIS2 role profile (``selected_roleid`` among ``nhsid_nrbac_roles``, from the
   ID token or the UserInfo endpoint) or an NHS login identity (``nhs_number``, P9), normalised to
   the claims our own tokens carry, so one verification path serves every login.

Blocking HTTP (httpx, with timeouts): routes call these through the thread pool. Every failure is
a ``LoginError`` that says what was wrong, for the login page and the audit.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from joserfc import jwk

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.security import principal as p
from gpbridge.security.authcode import s256
from gpbridge.security.replay import REPLAY, ReplayCache
from gpbridge.security.tokens import (
    ACCESS_ALGS,
    audience_ok,
    check_times,
    configured_jwks,
    decode_signed,
    external_claims,
    jwt_header,
    principal_from_claims,
)

HTTP_TIMEOUT = 10.0
DISCOVERY_TTL = 3600.0
JWKS_REFRESH_AFTER = 60.0  # an unknown kid refetches the JWKS (key rotation), at most this often
# (known keys are refetched hourly, like the discovery document)


class LoginError(Exception):
    """A login that cannot complete; ``status`` is what the browser gets, ``message`` says why."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def login_configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and client_id(settings))


def client_id(settings: Settings) -> str:
    return settings.oidc_client_id or settings.oidc_audience


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


class _ProviderCache:
    """Discovery documents and JWKS per issuer, shared by every request of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._providers: dict[str, tuple[float, Provider]] = {}
        self._jwks: dict[str, tuple[float, jwk.KeySet]] = {}

    def provider(self, issuer: str) -> Provider:
        now = time.monotonic()
        with self._lock:
            cached = self._providers.get(issuer)
        if cached and cached[0] > now:
            return cached[1]
        doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if doc.get("issuer") != issuer:  # OIDC Discovery 4.3: must be identical
            raise LoginError(f"Provider discovery names issuer {doc.get('issuer')!r}, not {issuer!r}", 502)
        try:
            found = Provider(issuer, doc["authorization_endpoint"], doc["token_endpoint"], doc["jwks_uri"],
                             doc.get("userinfo_endpoint"))  # fmt: skip
        except KeyError as missing:
            raise LoginError(f"Provider discovery document has no {missing}", 502) from None
        with self._lock:
            self._providers[issuer] = (now + DISCOVERY_TTL, found)
        return found

    def keys(self, settings: Settings, kid: str | None) -> jwk.KeySet:
        """The provider's keys: the configured JWKS, else its ``jwks_uri`` (refetched for a new kid)."""
        if settings.oidc_jwks:
            return configured_jwks(settings)
        issuer = settings.oidc_issuer
        now = time.monotonic()
        with self._lock:
            cached = self._jwks.get(issuer)
        known = cached is not None and any(k.kid == kid for k in cached[1].keys)
        if cached and (now - cached[0] < (DISCOVERY_TTL if known else JWKS_REFRESH_AFTER)):
            return cached[1]  # a withdrawn key stops working within the hour; a new one within a minute
        try:
            keyset = jwk.KeySet.import_key_set(_get_json(self.provider(issuer).jwks_uri))  # type: ignore[arg-type]
        except LoginError:
            if cached and known:
                return cached[1]  # the provider is briefly unreachable: keep trusting the keys we had
            raise
        with self._lock:
            self._jwks[issuer] = (now, keyset)
        return keyset

    def clear(self) -> None:
        with self._lock:
            self._providers.clear()
            self._jwks.clear()


PROVIDERS = _ProviderCache()


def prefetch(settings: Settings) -> str | None:
    """Load the provider's discovery document and keys at start-up, so the first external bearer
    token is not verified behind a network fetch; the problem as text when the provider is down."""
    try:
        PROVIDERS.provider(settings.oidc_issuer)
        PROVIDERS.keys(settings, None)
    except LoginError as exc:
        return exc.message
    return None


def _get_json(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        response = httpx.get(url, headers=headers, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise LoginError(f"The identity provider could not be reached ({url}): {exc}", 502) from None
    if response.status_code != 200:
        raise LoginError(f"The identity provider answered {response.status_code} at {url}", 502)
    return _json(response, url)


def _json(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise LoginError(f"The identity provider sent something other than JSON at {url}", 502) from None
    if not isinstance(doc, dict):
        raise LoginError(f"The identity provider sent a JSON {type(doc).__name__}, not an object, at {url}", 502)
    return doc


# ----------------------------------------------------------------------------- 1. the redirect


@dataclass(frozen=True)
class Challenge:
    state: str
    nonce: str
    verifier: str
    url: str


def authorization_url(settings: Settings, redirect_uri: str) -> Challenge:
    provider = PROVIDERS.provider(settings.oidc_issuer)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: within RFC 7636's 43..128
    query = urlencode({
        "response_type": "code", "client_id": client_id(settings), "redirect_uri": redirect_uri,
        "scope": settings.oidc_scopes, "state": state, "nonce": nonce,
        "code_challenge": s256(verifier), "code_challenge_method": "S256",
    })  # fmt: skip
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    return Challenge(state, nonce, verifier, f"{provider.authorization_endpoint}{separator}{query}")


# ------------------------------------------------------------------------- 2. code -> ID token


def redeem(
    settings: Settings,
    code: str,
    redirect_uri: str,
    verifier: str,
    nonce: str,
    *,
    replay: ReplayCache = REPLAY,
) -> dict[str, Any]:
    """The verified identity claims (ID token, plus UserInfo when the roles are there)."""
    provider = PROVIDERS.provider(settings.oidc_issuer)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": client_id(settings), "code_verifier": verifier}  # fmt: skip
    if settings.oidc_client_secret:
        form["client_secret"] = settings.oidc_client_secret
    try:
        response = httpx.post(provider.token_endpoint, data=form, timeout=HTTP_TIMEOUT,
                              headers={"accept": "application/json"})  # fmt: skip
    except httpx.HTTPError as exc:
        raise LoginError(f"The identity provider's token endpoint could not be reached: {exc}", 502) from None
    answer = _json(response, provider.token_endpoint)
    if response.status_code != 200:
        why = answer.get("error_description") or answer.get("error") or f"HTTP {response.status_code}"
        raise LoginError(f"The identity provider refused the code: {why}")
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise LoginError("The identity provider returned no ID token (is 'openid' in oidc_scopes?)", 502)
    claims = verify_id_token(settings, id_token, nonce, replay=replay)
    if not _has_identity(claims) and provider.userinfo_endpoint and answer.get("access_token"):
        claims = claims | _userinfo(provider.userinfo_endpoint, str(answer["access_token"]), claims["sub"])
    return claims


def verify_id_token(
    settings: Settings, id_token: str, nonce: str, *, now: float | None = None, replay: ReplayCache = REPLAY
) -> dict[str, Any]:
    now = time.time() if now is None else now
    try:
        header = jwt_header(id_token)
        if header.get("alg") not in ACCESS_ALGS:
            raise LoginError(f"ID token algorithm {header.get('alg')!r} is not accepted")
        keyset = PROVIDERS.keys(settings, header.get("kid"))
        if not any(k.kid == header.get("kid") for k in keyset.keys):
            raise LoginError(f"ID token signed with an unknown key (kid {header.get('kid')!r})")
        claims = decode_signed(id_token, keyset, ACCESS_ALGS)
        check_times(claims, now, None)
    except FhirError as exc:
        raise LoginError(f"ID token rejected: {exc.message}") from None
    if claims.get("iss") != settings.oidc_issuer:
        raise LoginError(f"ID token issuer {claims.get('iss')!r} is not the configured provider")
    ours = client_id(settings)
    aud = claims.get("aud")
    if not audience_ok(aud, ours):
        raise LoginError(f"ID token audience {aud!r} is not this service ({ours})")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != ours:
        raise LoginError("ID token has several audiences and azp is not this service")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise LoginError("ID token has no sub")
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
        raise LoginError("ID token nonce does not match this login (a replayed or substituted token)")
    if not replay.first_use(f"nonce:{nonce}", float(claims["exp"]), now):
        raise LoginError("ID token nonce has been used before (replay)")
    return claims


def _has_identity(claims: dict[str, Any]) -> bool:
    return bool(claims.get("nhsid_nrbac_roles") or claims.get("nhs_number"))


def _userinfo(url: str, access_token: str, subject: str) -> dict[str, Any]:
    """CIS2 returns the role profiles (``nationalrbacaccess``) from UserInfo, not the ID token."""
    info = _get_json(url, {"authorization": f"Bearer {access_token}", "accept": "application/json"})
    if info.get("sub") != subject:  # OIDC Core 5.3.2: else the answer is about someone else
        raise LoginError("UserInfo is about a different subject than the ID token")
    return {k: v for k, v in info.items() if k not in ("iss", "aud", "exp", "iat", "nonce")}


# ---------------------------------------------------------------------- 3. claims -> our claims


def identity_claims(
    settings: Settings, claims: dict[str, Any], privacy_roles: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The provider's claims as our tokens carry them (``gpbridge_kind``, the one selected role
    profile, ``scope``); a clear ``LoginError`` when they cannot make a gpbridge user."""
    try:
        ours = external_claims(settings, dict(claims))
    except FhirError:
        raise LoginError("Your login carries neither a role profile nor a verified NHS number", 403) from None
    if ours["gpbridge_kind"] == "user":
        ours["nhsid_nrbac_roles"] = [_selected_role(ours)]
        ours["selected_roleid"] = ours["nhsid_nrbac_roles"][0].get("person_roleid")
    try:
        who = principal_from_claims(ours)
    except FhirError as exc:
        raise LoginError(exc.message, 403) from None
    if who.kind == "user":
        known = set(p.NATIONAL_ROLES) | privacy_roles
        if not known.intersection(who.roles):
            codes = ", ".join(who.roles) or "none"
            raise LoginError(f"Your selected role ({codes}) gives no access to gpbridge", 403)
        if not who.organisation:
            raise LoginError("Your selected role profile names no organisation (org_code)", 403)
    ours["idp"] = settings.oidc_issuer
    return ours


def _selected_role(claims: dict[str, Any]) -> dict[str, Any]:
    roles = [r for r in claims.get("nhsid_nrbac_roles") or () if isinstance(r, dict)]
    selected = claims.get("selected_roleid")
    if selected:
        chosen = [r for r in roles if r.get("person_roleid") == selected]
        if not chosen:
            raise LoginError(f"The selected role {selected!r} is not among your role profiles", 403)
        return chosen[0]
    if len(roles) == 1:
        return roles[0]
    raise LoginError("No role selected: choose a role profile when you sign in", 403)
