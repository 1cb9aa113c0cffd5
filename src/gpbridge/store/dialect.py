"""The small dialect layer: what differs between SQLite and PostgreSQL, and nothing else.

Queries are written once with ``?`` placeholders; the dialect turns them into the driver's style
and supplies the few type names and clauses that differ. Everything else — table layout, query
shapes, index rows — is shared (see ``store.sqlstore`` and ``search.sql``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    integer: str  # 64-bit integer column type
    real: str
    text: str  # ordinary text
    key_text: str  # text compared byte-wise (codes, normalised strings, ids): C collation in PostgreSQL
    blob_json: str  # JSON document column as version 1 created it (v8 makes PostgreSQL's TEXT)
    without_rowid: str  # suffix for clustered index tables

    def sql(self, query: str) -> str:
        """Rewrite ``?`` placeholders for the driver. Our SQL never contains a literal ``?``."""
        if self.name == "postgresql":
            return query.replace("%", "%%").replace("?", "%s")
        return query


SQLITE = Dialect(
    name="sqlite",
    integer="INTEGER",
    real="REAL",
    text="TEXT",
    key_text="TEXT",
    blob_json="BLOB",
    without_rowid=" WITHOUT ROWID",
)

POSTGRESQL = Dialect(
    name="postgresql",
    integer="BIGINT",
    real="DOUBLE PRECISION",
    text="TEXT",
    key_text='TEXT COLLATE "C"',
    blob_json="JSONB",
    without_rowid="",
)
