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
    # Search indexes lead with the patient compartment (schema v10, store.compartment). SQLite:
    # a Bundle's rows are neighbours, so a commit writes far fewer pages. PostgreSQL keeps them
    # global: its cost is per row, not per page dirtied, and the compartment-led indexes measured
    # no better there (docs/postgresql.md), so its plans stay as they were.
    compartment_indexes: bool

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
    compartment_indexes=True,
)

POSTGRESQL = Dialect(
    name="postgresql",
    integer="BIGINT",
    real="DOUBLE PRECISION",
    text="TEXT",
    key_text='TEXT COLLATE "C"',
    blob_json="JSONB",
    without_rowid="",
    compartment_indexes=False,
)
