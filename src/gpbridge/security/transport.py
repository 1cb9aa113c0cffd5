"""Transport hardening as plain ASGI middleware: security headers and a per-client rate limit.

Both sit outside routing so 404s and errors get them too. ``app.create_app`` wraps the app:
``SecurityHeaders(RateLimit(app, per_minute=...))``. TLS itself is uvicorn's job
(``ssl_certfile`` / ``ssl_keyfile`` from settings ``tls_cert`` / ``tls_key``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import orjson

Scope = dict[str, Any]
ASGI = Any

CONTENT_SECURITY_POLICY = b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"
HEADERS = [
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"cache-control", b"no-store"),
]

_NO_CSP = [h for h in HEADERS if h[0] != b"content-security-policy"]


class SecurityHeaders:
    """``policies``: a Content-Security-Policy per path prefix (the web view allows the NHS.UK
    template's one inline script); everything else gets ``CONTENT_SECURITY_POLICY``."""

    def __init__(self, app: ASGI, policies: dict[str, bytes] | None = None) -> None:
        self.app = app
        self.policies = policies or {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = scope.get("path", "")
        policy = next((p for prefix, p in self.policies.items() if path.startswith(prefix)), None)
        defaults = HEADERS if policy is None else [*_NO_CSP, (b"content-security-policy", policy)]

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in defaults if h[0] not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TokenBucket:
    """``rate`` requests per minute per key, with bursts up to ``burst``."""

    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst or max(per_minute // 6, 10))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed, else seconds until the next request would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


_TOO_MANY = orjson.dumps(
    {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "throttled",
                "details": {
                    "coding": [
                        {
                            "system": "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode",
                            "code": "TOO_MANY_REQUESTS",
                            "display": "Too many requests",
                        }
                    ]
                },
                "diagnostics": "Rate limit exceeded for this client; retry after the Retry-After delay",
            }
        ],
    }
)


def client_key(scope: Scope) -> str:
    """Who to count: the bearer token (one per client session) else the source address."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return "t:" + hashlib.blake2b(value, digest_size=12).hexdigest()
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


class RateLimit:
    def __init__(self, app: ASGI, per_minute: int) -> None:
        self.app = app
        self.bucket = TokenBucket(per_minute) if per_minute > 0 else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.bucket is None:
            await self.app(scope, receive, send)
            return
        wait = self.bucket.take(client_key(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/fhir+json"), (b"retry-after", str(int(wait) + 1).encode())]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": _TOO_MANY})
