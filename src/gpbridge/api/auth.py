"""Who sent this request: the ``Authorization: Bearer`` token (or, under ``/web`` only, the
session cookie's token), verified, as a ``Principal``.

Verified tokens are cached by their exact text until they expire: RSA verification costs more
than the rest of a small read, and a client sends the same token for minutes.
"""

from __future__ import annotations

import threading
import time

from starlette.requests import Request

from gpbridge.config import Settings
from gpbridge.security.principal import Principal
from gpbridge.security.session_revocation import REVOKED
from gpbridge.security.tokens import principal_from_claims, unauthorized, verify_access_token

_CACHE_LIMIT = 4096
SESSION_SCOPE_KEY = "gpbridge.session"
# keyed by (key directory, token): a token trusted by one configuration says nothing to another
_cache: dict[tuple[str, str], tuple[float, Principal, str | None]] = {}  # (exp, who, session id)
_lock = threading.Lock()


def principal_from_request(request: Request, settings: Settings) -> Principal | None:
    """The verified caller, or None when no credentials were sent; 401 for bad credentials."""
    header = request.headers.get("authorization")
    if not header:
        # a web-view session, verified and placed here by ``web.session.WebSession`` only
        session = request.scope.get(SESSION_SCOPE_KEY)
        return principal_from_token(session, settings) if session else None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Authorization must be 'Bearer <access token>'")
    return principal_from_token(token.strip(), settings)


def principal_from_token(token: str, settings: Settings) -> Principal:
    now = time.time()
    key = (settings.var_dir, token)
    cached = _cache.get(key)
    if cached is not None and cached[0] > now:
        _refuse_signed_out(cached[2])
        return cached[1]
    claims = verify_access_token(settings, token, now=now)
    sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    _refuse_signed_out(sid)
    who = principal_from_claims(claims)
    with _lock:
        if len(_cache) >= _CACHE_LIMIT:
            for key in [k for k, (exp, _, _) in _cache.items() if exp <= now] or list(_cache)[
                : _CACHE_LIMIT // 2
            ]:
                _cache.pop(key, None)
        _cache[key] = (float(claims["exp"]), who, sid)
    return who


def _refuse_signed_out(sid: str | None) -> None:
    # only web sessions carry a sid: API tokens pay nothing for this
    if sid is not None and REVOKED.is_revoked(sid):
        raise unauthorized("This session has been signed out")


def principal_for_gpconnect(
    request: Request, settings: Settings, trusted_proxies: tuple[str, ...]
) -> Principal:
    """For the GP Connect operation only: the consumer JWT (unsigned by specification), accepted
    only from the trusted proxy, every claim checked; the claims go to the audit via the Principal."""
    from gpbridge.security.gpconnect import principal_from_gpconnect, verify_gpconnect_jwt

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("GP Connect requests need Authorization: Bearer <GP Connect JWT>")
    client = request.client
    claims = verify_gpconnect_jwt(
        token.strip(),
        source_ip=client.host if client else None,
        trusted_proxies=trusted_proxies,
        operation=True,
    )
    return principal_from_gpconnect(claims)
