"""OAuth2 endpoints: ``POST /oauth2/token`` (client_credentials + private_key_jwt, and
authorization_code + PKCE), ``/oauth2/authorize`` (the built-in demo login, or the external
provider's through ``api.login``), the JWKS and SMART discovery. The audit is at
``/fhir/AuditEvent`` (``api.audit``).

``routes()`` returns the Starlette routes; ``app.create_app`` adds them beside the FHIR routes.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gpbridge.api import body
from gpbridge.api.context import FHIR_PREFIX, api_of
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.login import audit_login, redirect_with_code, start_external_login
from gpbridge.api.login import routes as login_routes
from gpbridge.api.responses import outcome_response
from gpbridge.fhir.outcome import FhirError, bad_request
from gpbridge.security import keys, oidc
from gpbridge.security.audit import AuditRecord
from gpbridge.security.authcode import CODES, redirect_allowed
from gpbridge.security.clients import find_client
from gpbridge.security.csrf import CSRF_FIELD, csrf_ok, new_csrf_token, set_csrf_cookie
from gpbridge.security.idp import STAFF, default_scopes, user_claims
from gpbridge.security.session import is_secure
from gpbridge.security.tokens import (
    ASSERTION_TYPE,
    granted_scopes,
    issue_access_token,
    principal_from_claims,
    setting,
    unauthorized,
    verify_client_assertion,
)

TOKEN_PATH = "/oauth2/token"


def token_url(request: Request) -> str:
    """The audience a client assertion must name: our public token URL."""
    settings = api_of(request).settings
    if settings.base_url:
        root = settings.base_url.rstrip("/")
        root = root[: -len(FHIR_PREFIX)] if root.endswith(FHIR_PREFIX) else root
        return root + TOKEN_PATH
    host = request.headers.get("host") or "localhost"
    return f"{request.url.scheme}://{host}{TOKEN_PATH}"


async def token(request: Request) -> Response:
    api = api_of(request)
    client_id: str | None = None
    try:
        # The same stdlib form parser as POST _search: no multipart dependency for a urlencoded body.
        form = dict(await body.read_form(request, api.settings))
        grant = form.get("grant_type")
        if grant == "client_credentials":
            client_id, claims, scopes = _client_credentials(request, form)
        elif grant == "authorization_code" and authorization_code_enabled(api.settings):
            client_id, claims, scopes = _authorization_code(form)
        else:
            raise bad_request(f"grant_type {grant!r} is not supported", "grant_type", code="not-supported")
        access, expires_in = issue_access_token(api.settings, claims, scopes)
    except FhirError as exc:
        _audit_token(request, client_id, False, exc.outcome()["issue"][0].get("diagnostics", "refused"))
        return outcome_response(None, exc)
    _audit_token(request, client_id, True, f"access token issued to {claims['sub']}")
    answer = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": " ".join(scopes),
    }
    return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


Grant = tuple[str, dict[str, Any], tuple[str, ...]]


def _client_credentials(request: Request, form: dict[str, str]) -> Grant:
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise unauthorized(f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion")
    if not assertion:
        raise unauthorized("client_assertion is missing")
    client = verify_client_assertion(api_of(request).settings, assertion, token_url(request))
    scopes = granted_scopes(form.get("scope"), client.scopes)
    claims = {"sub": client.client_id, "client_id": client.client_id, "gpbridge_kind": "system"}
    return client.client_id, claims, scopes


def _authorization_code(form: dict[str, str]) -> Grant:
    """The built-in IdP's code exchange: a public client proves possession with the PKCE verifier."""
    client_id = form.get("client_id", "")
    pending = CODES.redeem(
        form.get("code", ""), client_id, form.get("redirect_uri", ""), form.get("code_verifier", "")
    )
    if pending is None:
        raise unauthorized(
            "Invalid, expired or already used code, or wrong client, redirect_uri or code_verifier"
        )
    claims = pending.claims | {"client_id": client_id}
    scopes = tuple(pending.scope.split()) if pending.scope else default_scopes(claims)
    return client_id, claims, scopes


def _audit_token(request: Request, client_id: str | None, allowed: bool, reason: str) -> None:
    api = api_of(request)
    if api.audit.enabled:
        api.audit.record(
            AuditRecord(
                interaction="token", resource_type=None, resource_id=None, allowed=allowed, reason=reason,
                principal=client_id, client_id=client_id, kind="system",
                source_ip=request.client.host if request.client else None,
                request_id=request.headers.get("x-request-id"),
            )
        )  # fmt: skip


async def jwks(request: Request) -> Response:
    return JSONResponse(keys.public_jwks(api_of(request).settings), headers={"Cache-Control": "max-age=300"})


async def smart_configuration(request: Request) -> Response:
    root = token_url(request)[: -len(TOKEN_PATH)]
    return JSONResponse(
        {
            "token_endpoint": root + TOKEN_PATH,
            "jwks_uri": root + "/oauth2/jwks",
            "grant_types_supported": ["client_credentials", "authorization_code"],
            "authorization_endpoint": root + "/oauth2/authorize",
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS512"],
            "scopes_supported": [
                "system/*.read",
                "system/*.write",
                "user/*.read",
                "user/*.write",
                "patient/*.read",
            ],
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        }
    )


# ------------------------------------------------------------------ authorisation-code login

_CSRF_COOKIE = "gpb_csrf"
_AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state", "scope")


def authorization_code_enabled(settings: Any) -> bool:
    """Users sign in through the built-in provider (demos) or the external one (production)."""
    return bool(setting(settings, "builtin_idp")) or oidc.login_configured(settings)


def _check_authorize(settings: Any, params: dict[str, str]) -> None:
    if not authorization_code_enabled(settings):
        raise FhirError.of(404, "not-found", "No identity provider is enabled for user login")
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        raise bad_request("PKCE is required: code_challenge with code_challenge_method=S256")
    client = find_client(settings, params.get("client_id", ""))
    if not redirect_allowed(params.get("redirect_uri", ""), client.redirect_uris if client else ()):
        # never redirect to an unvetted URI: that would hand the code to whoever names one
        raise bad_request("redirect_uri is not registered for this client")


@fhir_endpoint
async def authorize_page(request: Request) -> Response:
    """``GET /oauth2/authorize``: the external provider's login when configured (``idp=external``
    or no built-in provider), else the built-in page — pick a demo user (no passwords: demo only)."""
    settings = api_of(request).settings
    params = {k: v for k, v in request.query_params.items() if k in _AUTHORIZE_PARAMS}
    if request.query_params.get("response_type") != "code":
        raise bad_request("response_type must be code")
    _check_authorize(settings, params)
    external = oidc.login_configured(settings)
    if external and (request.query_params.get("idp") == "external" or not setting(settings, "builtin_idp")):
        return await start_external_login(request, "client", client=params)
    csrf = new_csrf_token()
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v, quote=True)}">' for k, v in params.items()
    )
    options = "".join(f'<option value="{u}">{u}</option>' for u in sorted([*STAFF, "patient-1", "proxy-1"]))
    elsewhere = (
        f'<p><a href="/oauth2/authorize?{html.escape(urlencode({**params, "response_type": "code", "idp": "external"}))}">'
        "Sign in with your organisation's identity provider</a></p>" if external else ""
    )  # fmt: skip
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>gpbridge demo login</title>"
        "<h1>Sign in (demo identity provider)</h1>"
        f'<form method=post action="/oauth2/authorize">{hidden}'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        f'<label>User <select name="user">{options}</select></label> <button>Sign in</button></form>{elsewhere}'
    )
    # the form's answer redirects to the client: CSP form-action must allow that origin (browsers
    # apply it to redirects after a form submission)
    target = urlsplit(params["redirect_uri"])
    csp = f"default-src 'self'; frame-ancestors 'none'; form-action 'self' {target.scheme}://{target.netloc}"
    response = HTMLResponse(page, headers={"content-security-policy": csp})
    set_csrf_cookie(response, _CSRF_COOKIE, csrf, "/oauth2/authorize", secure=is_secure(request, settings))
    return response


@fhir_endpoint
async def authorize_submit(request: Request) -> Response:
    """``POST /oauth2/authorize``: the built-in login form; redirects back with a single-use code."""
    api = api_of(request)
    form = dict(await body.read_form(request, api.settings))
    if not csrf_ok(request.cookies.get(_CSRF_COOKIE), form.get(CSRF_FIELD)):
        raise FhirError.of(403, "forbidden", "Login form expired or forged (CSRF check failed)")
    if not setting(api.settings, "builtin_idp"):
        raise FhirError.of(404, "not-found", "The built-in identity provider is not enabled")
    params = {k: form.get(k, "") for k in _AUTHORIZE_PARAMS}
    _check_authorize(api.settings, params)
    user = form.get("user", "")
    try:
        claims = user_claims(user)
    except KeyError:
        raise bad_request(f"Unknown user {user!r}") from None
    code = CODES.issue(claims, params["client_id"], params["redirect_uri"], params["code_challenge"],
                       params["scope"] or None)  # fmt: skip
    audit_login(request, principal_from_claims(claims), True, "built-in IdP (demo)", params["client_id"])
    return redirect_with_code(params["redirect_uri"], code, params["state"])


def routes() -> list[Route]:
    return [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route("/oauth2/authorize", authorize_page, methods=["GET"]),
        Route("/oauth2/authorize", authorize_submit, methods=["POST"]),
        *login_routes(),
        Route("/oauth2/jwks", jwks, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/.well-known/smart-configuration", smart_configuration, methods=["GET"]),
    ]
