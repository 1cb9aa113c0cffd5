"""Schema v9: short-lived sign-in state that every worker process sees (``security.shared_state``).

A login that starts on one worker must be able to finish on another: the pending login behind an
OAuth ``state``, an authorisation code waiting for its exchange, and the nonces and client
assertion ids already used (replay) live in ``auth_state`` when the server runs several workers or
on PostgreSQL. Signed-out web sessions live here always, until their tokens would have expired.
Each write sweeps the expired rows.
"""

from __future__ import annotations

from gpbridge.store.dialect import Dialect
from gpbridge.store.migrations import Migration


def ddl(d: Dialect) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS auth_state (
            key {d.key_text} PRIMARY KEY,
            value {d.text} NOT NULL,
            expires {d.real} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS auth_state_expires ON auth_state (expires)",
    ]


MIGRATION = Migration(9, "sign-in state shared by every worker", ddl)
