"""Version 8: on PostgreSQL, resource versions are kept as the JSON text written, not JSONB.

No query looks inside a stored resource (search reads the index tables), so JSONB only cost: the
server parsed every version on write and re-serialised it on every read (``content::text``), and
what came back had JSONB's key order rather than what was stored. TEXT keeps the exact bytes the
store wrote, as SQLite does. Measured with 11,475 synthetic GP resources (COPY, one transaction
per Bundle): writes 10-15% faster, reading them all back 3-6x faster (docs/postgresql.md).

The ALTER rewrites ``history`` once; a big database takes as long as a copy of that table.
SQLite keeps its BLOB column: nothing to do there.
"""

from __future__ import annotations

from gpbridge.store.dialect import Dialect
from gpbridge.store.migrations import Migration


def ddl(d: Dialect) -> list[str]:
    if d.name != "postgresql":
        return []
    return ["ALTER TABLE history ALTER COLUMN content TYPE TEXT USING content::text"]


MIGRATION = Migration(8, "PostgreSQL keeps resource JSON as written (TEXT, not JSONB)", ddl)
