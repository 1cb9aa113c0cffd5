"""Replay protection: a client assertion's ``jti`` and an ID token's nonce are accepted once until they expire.

Kept where ``security.shared_state`` says: this process's memory, or the database every worker
shares (several workers, or PostgreSQL), so a replay sent to another worker is refused too.
"""

from __future__ import annotations

import time

from gpbridge.security.shared_state import UsesSignInState


class ReplayCache(UsesSignInState):
    def first_use(self, key: str, expires_at: float, now: float | None = None) -> bool:
        """True the first time ``key`` is seen (and remembers it until ``expires_at``)."""
        now = time.time() if now is None else now
        return self.state.first_use(f"seen:{key}", max(expires_at, now) + 60, now)  # clock-skew margin


REPLAY = ReplayCache()
