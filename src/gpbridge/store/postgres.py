"""The production store: PostgreSQL through psycopg 3 and a psycopg_pool connection pool.

Same tables and query shapes as SQLite (see ``store.sqlstore`` and ``search.sql``); what differs:
resource JSON is TEXT (as written: see migrations.v8_text_content), rids come from a sequence, rows read for update are locked
(``FOR UPDATE``) so If-Match checks are race-free across connections, and flushes use COPY.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.store.dialect import POSTGRESQL
from gpbridge.store.pg_statistics import StatisticsRefresher
from gpbridge.store.sqlstore import SqlStore

# Rows from which inserts use COPY. Measured (bench/ingest.py raw mode, 40-entry Bundles, ~10
# index rows per resource, most tables getting fewer than 64 rows per flush): COPY for every table
# cost 85 us of client CPU per resource against 135 with pipelined executemany below 64 rows, and
# a single-resource create is no slower; executemany re-dumps and binds every row in Python.
COPY_THRESHOLD = 1
MIGRATION_LOCK = 7_411_322  # advisory lock id: one process migrates at a time
KEY_LOCK_CLASS = 7_411_323  # first int of the advisory locks ``lock_keys`` takes


class PostgresStore(SqlStore):
    dialect = "postgresql"
    dialect_obj = POSTGRESQL
    lock_clause = " FOR UPDATE OF r"
    # Request handlers call the store on the event loop, as for SQLite. Through the thread pool a
    # request's thread and the event loop traded the GIL at every round trip: measured with
    # bench/ingest.py (300 patients, HTTP, 2 workers, runs alternating), 209-224 us of server CPU a
    # resource against 174-187 inline, and 3,900-4,300 resources/s against 4,600-5,300. A blocked
    # worker does not accept connections meanwhile, so the other worker takes them.
    # GPBRIDGE_STORE_CALLS=threads restores the thread pool (a distant database).
    blocking_ok = True

    def __init__(self, dsn: str, settings: Settings | None = None) -> None:
        super().__init__(settings or Settings())
        self.dsn = dsn
        self._copy_types: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self.pool = ConnectionPool(dsn, min_size=1, max_size=max(2, self.settings.pool_size), open=True,
                                   kwargs={"autocommit": False})
        self.migrate()
        self.statistics = StatisticsRefresher(self.pool)

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None) -> PostgresStore:
        return cls(url, settings)

    @contextmanager
    def _read_cursor(self) -> Iterator[Any]:
        with self.pool.connection() as conn:  # commits (or rolls back) when the block ends
            with conn.cursor() as cur:
                yield cur

    @contextmanager
    def _write_cursor(self) -> Iterator[Any]:
        try:
            with self.pool.connection() as conn:
                with conn.cursor() as cur:
                    yield cur
        except psycopg.errors.UniqueViolation as exc:
            raise FhirError.of(409, "conflict", f"a concurrent write created the same resource: {exc.diag.message_detail}") from None
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
            raise FhirError.of(409, "transient", "the write conflicted with a concurrent one; retry it") from None

    def migrate(self) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                conn.commit()
                super().migrate()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
                conn.commit()

    def lock_keys(self, cur: Any, keys: list[str]) -> None:
        # Transaction-scoped advisory locks, two-int form (a key space apart from MIGRATION_LOCK's
        # bigint one): (KEY_LOCK_CLASS, 32-bit hash of the key). Taken in sorted order so two
        # sessions locking overlapping sets cannot deadlock on them; a hash collision only makes
        # two unrelated sessions wait for each other.
        hashes = sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=4).digest(), "big", signed=True)
                         for k in keys})
        cur.execute("SELECT count(pg_advisory_xact_lock(%s, h)) FROM unnest(%s::int4[]) AS t(h)",
                    (KEY_LOCK_CLASS, hashes))
        cur.fetchall()

    def allocate_rids(self, cur: Any, n: int, floor: int) -> list[int]:
        cur.execute("SELECT nextval('resource_rid_seq') FROM generate_series(1, %s)", (n,))
        return [row[0] for row in cur.fetchall()]

    def content_bytes(self, content: Any) -> bytes | None:
        if content is None or isinstance(content, bytes):
            return content
        return content.encode()

    def insert_rows(self, cur: Any, table: str, cols: tuple[str, ...], rows: list[tuple]) -> None:
        if len(rows) < COPY_THRESHOLD:
            super().insert_rows(cur, table, cols, rows)
            return
        types = self._column_types(cur, table, cols)
        # Binary COPY: psycopg packs each value in C and the server reads it without parsing text.
        # Measured (300 patients' rows, runs alternating with text COPY): ~10% less client CPU.
        with cur.copy(f"COPY {table} ({','.join(cols)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _column_types(self, cur: Any, table: str, cols: tuple[str, ...]) -> list[str]:
        """The columns' type names, read from the catalog once per process (binary COPY needs them)."""
        key = (table, cols)
        types = self._copy_types.get(key)
        if types is None:
            cur.execute("SELECT column_name, udt_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = %s", (table,))
            found = dict(cur.fetchall())
            missing = [c for c in cols if c not in found]
            if missing:
                raise ValueError(f"table {table} has no column(s) {', '.join(missing)}")
            types = self._copy_types[key] = [found[c] for c in cols]
        return types

    def insert_history(self, cur: Any, rows: list[tuple]) -> None:
        # a TEXT column takes str (bytes would be sent as bytea)
        self.statistics.wrote(len(rows))
        self.insert_rows(cur, "history", ("rid", "version", "lu", "last_updated", "method", "content"),
                         [(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else r[5].decode()) for r in rows])

    def drop_all(self) -> None:
        """Remove every gpbridge table (tests use a fresh schema per run)."""
        with self.pool.connection() as conn:
            for table in ("ix_token", "ix_string", "ix_date", "ix_number", "ix_quantity", "ix_reference",
                          "ix_uri", "ix_composite", "search_param", "history", "resource", "schema_version",
                          "tx_system", "tx_concept", "tx_description", "tx_edge", "tx_closure", "tx_property",
                          "tx_map", "tx_resource", "tx_state", "auth_state", "compartment"):
                conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
            conn.execute("DROP SEQUENCE IF EXISTS resource_rid_seq")

    def close(self) -> None:
        self.statistics.close()
        self.pool.close()
