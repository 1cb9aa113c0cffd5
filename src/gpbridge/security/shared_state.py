"""Where short-lived sign-in state lives: this process's memory, or the database every worker shares.

Three things must outlive the request that made them and be seen by the request that ends them:
the pending login behind an OAuth ``state`` (``login_state``), an authorisation code until its
exchange (``authcode``), and the nonces and client-assertion ids already used (``replay``). One
process keeps them in memory. With several worker processes, or several servers on one
PostgreSQL database, the callback or the token request may reach another process than the one
that started the login: then they live in the store's ``auth_state`` table (schema v9), so any
worker can finish what another started, and a replay sent to another worker is still refused.

``share_sign_in_state(store)`` switches all three to the store (``api.app`` does it when
``Settings.workers > 1`` or the database is PostgreSQL) and returns the undo. Signed-out web
sessions (``session_revocation``) are kept in the store whenever there is one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class SignInState(Protocol):
    def put(self, key: str, value: str, expires: float) -> None: ...

    def take(self, key: str) -> str | None:
        """The value under ``key``, once: removed whether or not it has expired."""

    def first_use(self, key: str, expires: float, now: float | None = None) -> bool:
        """True the first time ``key`` is claimed; remembered until ``expires``."""

    def holds(self, key: str) -> bool:
        """Whether ``key`` is held and not expired (nothing is claimed or removed)."""


class MemoryState:
    """One process's memory (the default): bounded, swept of expired entries as it grows."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: str, expires: float) -> None:
        with self._lock:
            self._sweep(time.time())
            self._values[key] = (value, expires)

    def take(self, key: str) -> str | None:
        with self._lock:
            found = self._values.pop(key, None)
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def first_use(self, key: str, expires: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            self._sweep(now)
            found = self._values.get(key)
            if found is not None and found[1] > now:
                return False
            self._values[key] = ("", expires)
            return True

    def holds(self, key: str) -> bool:
        found = self._values.get(key)
        return found is not None and found[1] > time.time()

    def _sweep(self, now: float) -> None:
        if len(self._values) > 1024:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}


class StoreState:
    """The store's ``auth_state`` table: seen by every worker process on the same database."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def put(self, key: str, value: str, expires: float) -> None:
        self.store.state_put(key, value, expires, time.time())

    def take(self, key: str) -> str | None:
        return self.store.state_take(key, time.time())

    def first_use(self, key: str, expires: float, now: float | None = None) -> bool:
        return self.store.state_first_use(key, expires, time.time() if now is None else now)

    def holds(self, key: str) -> bool:
        return self.store.state_holds(key, time.time())


class UsesSignInState:
    """Base of the holders (pending logins, codes, replay, revoked sessions): their ``state`` can be switched."""

    def __init__(self) -> None:
        self.state: SignInState = MemoryState()


def can_share(store: Any) -> bool:
    return hasattr(store, "state_put")


def share_sign_in_state(store: Any, *, everything: bool = True) -> Callable[[], None]:
    """Keep sign-in state in ``store``; returns the undo.

    Revoked web sessions always go to the store (a restart must not bring a signed-out session
    back); pending logins, authorisation codes and replay marks only with ``everything`` (several
    workers or servers: one process keeps them in memory, faster).
    """
    from gpbridge.security.authcode import CODES
    from gpbridge.security.login_state import LOGINS
    from gpbridge.security.replay import REPLAY
    from gpbridge.security.session_revocation import REVOKED

    holders: list[UsesSignInState] = [REVOKED, LOGINS, CODES, REPLAY] if everything else [REVOKED]
    shared = StoreState(store)
    for holder in holders:
        holder.state = shared

    def undo() -> None:
        for holder in holders:
            if holder.state is shared:  # not if another app has switched it since
                holder.state = MemoryState()

    return undo
