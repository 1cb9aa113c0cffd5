"""Replay protection for client assertions: each ``jti`` is accepted once until it expires.

In memory, per process: assertions live at most five minutes, so the set stays small. With
several workers a replay could reach another process; the deployment guide (docs/security.md)
says to run the token endpoint on one worker or behind sticky routing until a shared store is needed.
"""

from __future__ import annotations

import threading
import time


class ReplayCache:
    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, key: str, expires_at: float, now: float | None = None) -> bool:
        """True the first time ``key`` is seen (and remembers it until ``expires_at``)."""
        now = time.time() if now is None else now
        with self._lock:
            if len(self._seen) > 1024:
                self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            if key in self._seen and self._seen[key] > now:
                return False
            self._seen[key] = max(expires_at, now) + 60  # clock-skew margin
            return True


REPLAY = ReplayCache()
