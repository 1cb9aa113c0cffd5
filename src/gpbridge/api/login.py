"""Signing in at the external OIDC provider: the redirect out and ``GET /oauth2/callback``.

Two things start a login there, and one callback finishes both (one redirect URI to register):

- the web view (``/web/login/oidc``): the callback starts a web session (``security.session``);
- an OAuth client of ours (``/oauth2/authorize`` when the external provider is the login): the
  callback issues that client a single-use code, bound to *its* PKCE challenge and redirect URI,
  which it exchanges at ``/oauth2/token`` as with the built-in provider.

Every login, successful or not, is audited (type 110114 User Authentication) with the reason.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gpbridge.api.context import FHIR_PREFIX, api_of
from gpbridge.config import Settings
from gpbridge.security import oidc
from gpbridge.security.audit import AuditRecord
from gpbridge.security.authcode import CODES
from gpbridge.security.login_state import LOGIN_COOKIE, LOGINS, PendingLogin
from gpbridge.security.oidc import LoginError
from gpbridge.security.policy import privacy_roles
from gpbridge.security.principal import Principal
from gpbridge.security.session import is_secure, session_token, set_session_cookie
from gpbridge.security.tokens import principal_from_claims

CALLBACK_PATH = "/oauth2/callback"


def callback_url(request: Request, settings: Settings) -> str:
    """The redirect URI registered at the provider: configured, else from base_url or the request."""
    if settings.oidc_redirect_uri:
        return settings.oidc_redirect_uri
    if settings.base_url:
        root = settings.base_url.rstrip("/")
        return (root[: -len(FHIR_PREFIX)] if root.endswith(FHIR_PREFIX) else root) + CALLBACK_PATH
    host = request.headers.get("host") or "localhost"
    return f"{request.url.scheme}://{host}{CALLBACK_PATH}"


async def start_external_login(
    request: Request, purpose: str, *, next_url: str = "", client: dict[str, str] | None = None
) -> Response:
    """Redirect the browser to the provider, remembering the login under a fresh state."""
    settings = api_of(request).settings
    redirect_uri = callback_url(request, settings)
    try:
        challenge = await run_in_threadpool(oidc.authorization_url, settings, redirect_uri)
    except LoginError as exc:
        return login_error_page(exc)
    LOGINS.add(challenge.state, PendingLogin(challenge.nonce, challenge.verifier, redirect_uri, purpose,
                                             next_url, dict(client or {})))  # fmt: skip
    response = RedirectResponse(challenge.url, status_code=303)
    response.set_cookie(LOGIN_COOKIE, challenge.state, max_age=600, path=CALLBACK_PATH, httponly=True,
                        samesite="lax", secure=is_secure(request, settings))  # fmt: skip
    return response


async def callback(request: Request) -> Response:
    """``GET /oauth2/callback?code=&state=`` (or ``error=``): finish the login started above."""
    api = api_of(request)
    settings = api.settings
    params = request.query_params
    state = params.get("state", "")
    try:
        if not oidc.login_configured(settings):
            raise LoginError("No external identity provider is configured", 404)
        bound = request.cookies.get(LOGIN_COOKIE, "")
        if not state or not bound or not secrets.compare_digest(bound, state):
            raise LoginError("The login state does not match this browser (state mismatch): sign in again", 400)
        pending = LOGINS.take(state)
        if pending is None:
            raise LoginError("This login is unknown, already used or expired: sign in again", 400)
        if params.get("error"):
            why = params.get("error_description") or params["error"]
            raise LoginError(f"The identity provider did not sign you in: {why}", 401)
        code = params.get("code")
        if not code:
            raise LoginError("The identity provider sent no authorisation code", 400)
        provider_claims = await run_in_threadpool(
            oidc.redeem, settings, code, pending.redirect_uri, pending.verifier, pending.nonce
        )
        claims = oidc.identity_claims(settings, provider_claims, privacy_roles(settings))
    except LoginError as exc:
        audit_login(request, None, False, exc.message)
        response = login_error_page(exc)
        response.delete_cookie(LOGIN_COOKIE, path=CALLBACK_PATH)
        return response
    who = principal_from_claims(claims)
    audit_login(request, who, True, f"signed in at {settings.oidc_issuer}")
    if pending.purpose == "client":
        response = _code_for_client(pending, claims)
    else:
        response = RedirectResponse(pending.next_url or landing_page(who, settings), status_code=303)
        set_session_cookie(response, request, settings, session_token(settings, claims))
    response.delete_cookie(LOGIN_COOKIE, path=CALLBACK_PATH)
    return response


def _code_for_client(pending: PendingLogin, claims: dict[str, object]) -> Response:
    client = pending.client
    code = CODES.issue(dict(claims), client["client_id"], client["redirect_uri"], client["code_challenge"],
                       client.get("scope") or None)  # fmt: skip
    return redirect_with_code(client["redirect_uri"], code, client.get("state", ""))


def redirect_with_code(redirect_uri: str, code: str, state: str) -> Response:
    """Back to an OAuth client with its code (and its state, unchanged)."""
    query = urlencode({"code": code, **({"state": state} if state else {})})
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=303)


def landing_page(who: Principal, settings: Settings) -> str:
    """Where a fresh session starts: patients at their access log, privacy officers at the audit."""
    if who.kind in ("patient", "proxy"):
        return "/web/my-record-access"
    if who.kind == "user" and set(who.roles) <= privacy_roles(settings):
        return "/web/audit"
    return "/web/"


def login_error_page(error: LoginError) -> Response:
    from gpbridge.web.templating import render_page  # the web package mounts this module's callers

    return render_page("login_error.jinja", status=error.status, message=error.message)


def audit_login(
    request: Request,
    who: Principal | None,
    allowed: bool,
    reason: str,
    client_id: str | None = None,
    interaction: str = "login",
) -> None:
    api = api_of(request)
    if not api.audit.enabled:
        return
    api.audit.record(
        AuditRecord(
            interaction=interaction, resource_type=None, resource_id=None, allowed=allowed, reason=reason,
            principal=who.subject if who else None, principal_name=who.name if who else None,
            kind=who.kind if who else None, roles=who.roles if who else (),
            organisation=who.organisation if who else None, client_id=client_id,
            source_ip=request.client.host if request.client else None,
            request_id=request.headers.get("x-request-id"),
        )
    )  # fmt: skip


def routes() -> list[Route]:
    return [Route(CALLBACK_PATH, callback, methods=["GET"])]
