"""Web-view login sessions: after a login, the browser holds one of our own signed tokens in an
HttpOnly cookie, so a session is verified exactly like a bearer token (``api.auth``) and any
worker can check it; the only shared state is the list of signed-out sessions. It carries the normalised identity claims (the one
selected CIS2 role profile, or the patient's NHS number) and lives ``session_ttl`` seconds, or
until sign-out revokes its ``sid`` (``security.session_revocation``).

The cookie is read only under ``/web`` (``web.session.WebSession``): the FHIR API never takes
credentials from a cookie, so it cannot be driven cross-site.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.idp import default_scopes
from gpbridge.security.session_revocation import REVOKED
from gpbridge.security.tokens import issue_access_token, verify_access_token

SESSION_COOKIE = "gpb_session"
WEB_PATH = "/web"


def session_token(settings: Settings, claims: dict[str, Any]) -> str:
    """Sign a session for ``claims`` (as ``oidc.identity_claims`` or the demo IdP make them)."""
    claims = dict(claims)
    scopes = tuple(str(claims.pop("scope", "")).split()) or default_scopes(claims)
    claims["sid"] = secrets.token_urlsafe(16)  # what sign-out revokes (security.session_revocation)
    return issue_access_token(settings, claims, scopes, ttl=settings.session_ttl)[0]


def is_secure(request: Request, settings: Settings) -> bool:
    """Cookies are Secure whenever the service is reached over TLS (directly or per base_url)."""
    return request.url.scheme == "https" or settings.base_url.startswith("https://")


def set_session_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    # Lax, not Strict: the first request after the provider redirects back is a cross-site navigation
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_ttl, path=WEB_PATH, httponly=True,
                        samesite="lax", secure=is_secure(request, settings))  # fmt: skip


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path=WEB_PATH, httponly=True, samesite="lax",
                           secure=is_secure(request, settings))  # fmt: skip


def revoke_session(token: str | None, settings: Settings) -> None:
    """Sign-out: the session's ``sid`` is refused from now until the token expires."""
    if not token:
        return
    try:
        claims = verify_access_token(settings, token)
    except FhirError:  # expired or not ours: nothing to revoke
        return
    if isinstance(claims.get("sid"), str):
        REVOKED.revoke(claims["sid"], float(claims["exp"]))
