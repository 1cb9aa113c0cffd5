"""Authorisation codes with PKCE for our OAuth clients: issued after a login at the built-in
identity provider or at the external one (``api.login``), redeemed at ``/oauth2/token``.

A code is random, single use, bound to the client, the redirect URI and the S256 code challenge,
and lives 60 seconds where ``security.shared_state`` says (memory, or the database the workers
share), so the exchange may reach another worker than the login.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from gpbridge.security.shared_state import UsesSignInState

CODE_LIFETIME = 60


@dataclass(frozen=True)
class PendingCode:
    claims: dict[str, Any]  # who signed in, as our access tokens carry it
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str | None
    expires: float


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def redirect_allowed(redirect_uri: str, registered: tuple[str, ...]) -> bool:
    """Exact match with a registered URI; unregistered dev clients may only redirect to loopback."""
    if registered:
        return redirect_uri in registered
    parts = urlsplit(redirect_uri)
    return parts.scheme in ("http", "https") and parts.hostname in ("localhost", "127.0.0.1", "::1")


class CodeStore(UsesSignInState):
    def issue(
        self, claims: dict[str, Any], client_id: str, redirect_uri: str, challenge: str, scope: str | None
    ) -> str:
        code = secrets.token_urlsafe(32)
        expires = time.time() + CODE_LIFETIME
        pending = PendingCode(claims, client_id, redirect_uri, challenge, scope, expires)
        self.state.put(f"code:{code}", orjson.dumps(asdict(pending)).decode(), expires)
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str, verifier: str) -> PendingCode | None:
        """The pending login when everything matches; the code is spent either way."""
        value = self.state.take(f"code:{code}")  # None once expired
        if value is None:
            return None
        pending = PendingCode(**orjson.loads(value))
        if pending.client_id != client_id or pending.redirect_uri != redirect_uri:
            return None
        if not secrets.compare_digest(s256(verifier), pending.challenge):
            return None
        return pending


CODES = CodeStore()
