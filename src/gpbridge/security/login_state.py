"""Logins in flight at the external provider: what ``state`` stands for until the browser returns.

Single use and short-lived (10 minutes: the user may take a while to sign in at the provider),
in memory like ``authcode.CODES``: the redirect out and the callback reach the same server.
The state is also bound to the browser that started the login (a cookie the callback checks),
so a callback URL carried to another browser signs nobody in (login CSRF).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

LOGIN_LIFETIME = 600
LOGIN_COOKIE = "gpb_login"


@dataclass(frozen=True)
class PendingLogin:
    nonce: str
    verifier: str
    redirect_uri: str  # our callback, sent again at the code exchange
    purpose: str  # "web": a web-view session | "client": a code for an OAuth client of ours
    next_url: str = ""  # web: where to go once signed in
    client: dict[str, str] = field(default_factory=dict)  # client: its authorize parameters
    expires: float = 0.0


class PendingLogins:
    def __init__(self) -> None:
        self._logins: dict[str, PendingLogin] = {}
        self._lock = threading.Lock()

    def add(self, state: str, login: PendingLogin) -> None:
        now = time.time()
        with self._lock:
            if len(self._logins) > 1024:
                self._logins = {k: v for k, v in self._logins.items() if v.expires > now}
            self._logins[state] = PendingLogin(**{**login.__dict__, "expires": now + LOGIN_LIFETIME})

    def take(self, state: str) -> PendingLogin | None:
        """The login ``state`` stands for, once; None when unknown, used or expired."""
        with self._lock:
            login = self._logins.pop(state, None)
        if login is None or login.expires < time.time():
            return None
        return login


LOGINS = PendingLogins()
