"""Signing in to the web view, and out.

    GET  /login          the sign-in page: the external provider (CIS2-style), and in demos the
                         built-in provider's users (no passwords: ``builtin_idp`` only)
    POST /login          sign in as a demo user (CSRF-checked)
    GET  /login/oidc     off to the external provider (``api.login``; back at /oauth2/callback)
    POST /logout         end the session (CSRF-checked)
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gpbridge.api import body
from gpbridge.api.context import api_of, request_context
from gpbridge.api.login import audit_login, landing_page, start_external_login
from gpbridge.demo.practices import DEMO_USERS
from gpbridge.security import oidc
from gpbridge.security.csrf import CSRF_FIELD, csrf_ok, new_csrf_token, set_csrf_cookie
from gpbridge.security.idp import STAFF, user_claims
from gpbridge.security.principal import ROLE_NAMES
from gpbridge.security.session import (
    SESSION_COOKIE,
    clear_session_cookie,
    is_secure,
    revoke_session,
    session_token,
    set_session_cookie,
)
from gpbridge.security.tokens import principal_from_claims
from gpbridge.web.templating import render_page

WEB_CSRF_COOKIE = "gpb_csrf_web"


def safe_next(value: str | None) -> str:
    """Only our own pages: an open redirect after sign-in would be a phishing tool."""
    if not value or not value.startswith("/web") or "//" in value or "\\" in value:
        return ""
    return value if value == "/web" or value.startswith(("/web/", "/web?")) else ""


def with_csrf(request: Request, template: str, status: int = 200, **values: object) -> Response:
    """Render a page that has a form posting back to us, with a fresh CSRF token."""
    token = new_csrf_token()
    response = render_page(template, status=status, csrf=token, **values)
    settings = api_of(request).settings
    set_csrf_cookie(response, WEB_CSRF_COOKIE, token, "/web", secure=is_secure(request, settings))
    return response


def _demo_users() -> list[dict[str, str]]:
    users = [{"id": uid, "label": f"{s.display_name or uid} – {ROLE_NAMES.get(s.role, s.role)}, {s.ods_code}"}
             for uid, s in sorted(STAFF.items())]  # fmt: skip
    for uid in ("patient-1", "proxy-1"):
        demo = DEMO_USERS[uid]
        users.append({"id": uid, "label": f"{demo.display_name} – {demo.kind} (NHS login, P9)"})
    return users


async def login_page(request: Request) -> Response:
    settings = api_of(request).settings
    next_url = safe_next(request.query_params.get("next"))
    return with_csrf(request, "login.jinja", next=next_url, external=oidc.login_configured(settings),
                     demo_users=_demo_users() if settings.builtin_idp else [])  # fmt: skip


async def login_demo(request: Request) -> Response:
    settings = api_of(request).settings
    form = dict(await body.read_form(request, settings))
    if not csrf_ok(request.cookies.get(WEB_CSRF_COOKIE), form.get(CSRF_FIELD)):
        return render_page("login_error.jinja", status=403, message="The sign-in form expired or was forged: try again")
    if not settings.builtin_idp:
        return render_page("login_error.jinja", status=404, message="The built-in identity provider is not enabled")
    try:
        claims = user_claims(form.get("user", ""))
    except KeyError:
        return render_page("login_error.jinja", status=400, message="Choose one of the demo users")
    who = principal_from_claims(claims)
    audit_login(request, who, True, "built-in IdP (demo), web view")
    response = RedirectResponse(safe_next(form.get("next")) or landing_page(who, settings), status_code=303)
    set_session_cookie(response, request, settings, session_token(settings, claims))
    return response


async def login_external(request: Request) -> Response:
    settings = api_of(request).settings
    if not oidc.login_configured(settings):
        return render_page("login_error.jinja", status=404, message="No external identity provider is configured")
    return await start_external_login(request, "web", next_url=safe_next(request.query_params.get("next")))


async def logout(request: Request) -> Response:
    settings = api_of(request).settings
    form = dict(await body.read_form(request, settings))
    if not csrf_ok(request.cookies.get(WEB_CSRF_COOKIE), form.get(CSRF_FIELD)):
        return render_page("login_error.jinja", status=403, message="The sign-out form expired or was forged")
    who = request_context(request, api_of(request)).principal
    revoke_session(request.cookies.get(SESSION_COOKIE), settings)
    audit_login(request, who, True, "signed out of the web view", interaction="logout")
    response = RedirectResponse("/web/login", status_code=303)
    clear_session_cookie(response, request, settings)
    return response
