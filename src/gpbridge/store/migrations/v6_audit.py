"""Schema v6: the audit trail, append-only and hash-chained.

``audit_log`` holds one row per AuditEvent: ``seq`` orders the chain, ``event`` is the AuditEvent
JSON, ``prev_hash`` is the hash of the row before and ``hash`` = SHA-256(prev_hash + event), so
altering, removing or reordering any row breaks every hash after it (``security.audit_chain``).
Indexed columns let the privacy officer and a patient find events without parsing JSON.

IF NOT EXISTS: the audit sink also applies this DDL on start, so the table exists even on a
database migrated before v6 was registered.
"""

from __future__ import annotations

from gpbridge.store.dialect import Dialect
from gpbridge.store.migrations import Migration


def ddl(d: Dialect) -> list[str]:
    i, t, k = d.integer, d.text, d.key_text
    return [
        f"""CREATE TABLE IF NOT EXISTS audit_log (
            seq {i} PRIMARY KEY,
            recorded {k} NOT NULL,
            principal {k},
            patient {k},
            interaction {k} NOT NULL,
            outcome {k} NOT NULL,
            flags {t},
            event {t} NOT NULL,
            prev_hash {k} NOT NULL,
            hash {k} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS audit_log_patient ON audit_log (patient, seq)",
        "CREATE INDEX IF NOT EXISTS audit_log_principal ON audit_log (principal, seq)",
        "CREATE INDEX IF NOT EXISTS audit_log_recorded ON audit_log (recorded)",
    ]


MIGRATION = Migration(6, "append-only hash-chained audit log", ddl)
