"""CSRF protection for our HTML forms: a random token in an HttpOnly, SameSite=Strict cookie and
the same token in a hidden field (double submit); a forged cross-site post cannot read the cookie
to copy it into the form. One helper for every form: the demo login, the web login and logout."""

from __future__ import annotations

import secrets

from starlette.responses import Response

CSRF_FIELD = "csrf"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def set_csrf_cookie(response: Response, cookie: str, token: str, path: str, *, secure: bool) -> None:
    response.set_cookie(cookie, token, httponly=True, samesite="strict", path=path, secure=secure)


def csrf_ok(cookie_value: str | None, form_value: str | None) -> bool:
    return bool(cookie_value) and bool(form_value) and secrets.compare_digest(cookie_value or "", form_value or "")
