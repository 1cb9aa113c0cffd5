"""Signed-out web sessions: a session cookie stops working at sign-out, not only at ``session_ttl``.

A session is one of our signed tokens with a ``sid`` claim (``security.session``). Signing out
records the sid until the token would have expired anyway; ``api.auth`` refuses a session token
whose sid is recorded, so a copied cookie is worthless once its owner signs out. Kept in the
database (``security.shared_state``), so every worker and a restarted server know it.
"""

from __future__ import annotations

from gpbridge.security.shared_state import UsesSignInState


class RevokedSessions(UsesSignInState):
    def revoke(self, sid: str, expires: float) -> None:
        self.state.put(f"revoked:{sid}", "", expires)

    def is_revoked(self, sid: str) -> bool:
        return self.state.holds(f"revoked:{sid}")


REVOKED = RevokedSessions()
