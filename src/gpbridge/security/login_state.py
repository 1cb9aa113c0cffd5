"""Logins in flight at the external provider: what ``state`` stands for until the browser returns.

Single use and short-lived (10 minutes: the user may take a while to sign in at the provider),
kept where ``security.shared_state`` says, so the callback may reach another worker than the
redirect out.
The state is also bound to the browser that started the login (a cookie the callback checks),
so a callback URL carried to another browser signs nobody in (login CSRF).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import orjson

from gpbridge.security.shared_state import UsesSignInState

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


class PendingLogins(UsesSignInState):
    def add(self, state: str, login: PendingLogin) -> None:
        expires = time.time() + LOGIN_LIFETIME
        value = {**asdict(login), "expires": expires}
        self.state.put(f"login:{state}", orjson.dumps(value).decode(), expires)

    def take(self, state: str) -> PendingLogin | None:
        """The login ``state`` stands for, once; None when unknown, used or expired."""
        value = self.state.take(f"login:{state}")  # None once expired
        return None if value is None else PendingLogin(**orjson.loads(value))


LOGINS = PendingLogins()
