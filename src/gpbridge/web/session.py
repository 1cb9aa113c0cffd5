"""``WebSession``: the web view's sign-in gate, as ASGI middleware around its router.

A valid session cookie (``security.session``) is handed to ``api.auth`` through the ASGI scope,
so pages authenticate exactly like API calls and still ask ``security.policy`` for every access.
Without one, every page but the sign-in pages and assets redirects to ``/web/login?next=...``
(not in ``insecure_dev``, where the policy allows everything anyway).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse

from gpbridge.api.auth import SESSION_SCOPE_KEY, principal_from_token
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.session import SESSION_COOKIE

PUBLIC_PREFIXES = ("/login", "/assets/")


class WebSession:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = scope["app"].state.api.settings
        request = Request(scope)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            try:
                principal_from_token(token, settings)
                scope[SESSION_SCOPE_KEY] = token
            except FhirError:  # expired or signed by a key we no longer trust: sign in again
                token = None
        root = scope.get("root_path", "")
        path = scope["path"][len(root) :] if scope["path"].startswith(root) else scope["path"]
        if token or settings.insecure_dev or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        here = path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
        response = RedirectResponse(f"{root}/login?next={quote(root + here, safe='')}", status_code=303)
        await response(scope, receive, send)
