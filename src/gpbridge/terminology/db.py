"""``TerminologyStore``: the terminology tables of one store's database, through its cursors.

The tables live beside the resources (schema v3) so search SQL can join the closure; this class
is the only code that writes them. Loaders run inside one write transaction each, so a load that
fails part-way leaves the previous content in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from gpbridge.fhir.outcome import FhirError
from gpbridge.store.dialect import Dialect

BATCH = 20_000  # rows per executemany / COPY call: bounded memory, few round trips
CONTENT_RANK = {"not-present": 0, "example": 1, "fragment": 2, "complete": 3}


class TerminologyStore:
    """Reads and writes the ``tx_*`` tables of ``store`` (a SQLiteStore or PostgresStore)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.dialect: Dialect = store.dialect_obj
        self._sids: dict[str, int] = {}
        self._checked = False

    # -- cursors -------------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[Any]:
        self.check_schema()
        with self.store._read_cursor() as cur:
            yield cur

    @contextmanager
    def write(self) -> Iterator[Any]:
        self.check_schema()
        with self.store._write_cursor() as cur:
            yield cur

    def check_schema(self) -> None:
        """Fail clearly (not with a driver error deep in a query) when schema v3 is missing."""
        if self._checked:
            return
        with self.store._read_cursor() as cur:
            cur.execute("SELECT MAX(version) FROM schema_version")
            version = cur.fetchone()[0] or 0
            present = version >= 3 or _has_table(cur, self.dialect, "tx_concept")
        if not present:
            raise FhirError.of(500, "exception", "the database has no terminology tables: its schema is older "
                               "than version 3 (terminology); upgrade gpbridge and restart to migrate it")
        self._checked = True

    def sql(self, query: str) -> str:
        return self.dialect.sql(query)

    # -- code systems ----------------------------------------------------------------------------
    def sid(self, cur: Any, url: str) -> int | None:
        """The integer id of a code system URL, or None when the server has never heard of it."""
        sid = self._sids.get(url)
        if sid is None:
            cur.execute(self.sql("SELECT sid FROM tx_system WHERE url = ?"), (url,))
            row = cur.fetchone()
            if row is None:
                return None
            sid = self._sids[url] = int(row[0])
        return sid

    def ensure_system(self, cur: Any, url: str, *, name: str | None = None, version: str | None = None,
                      content: str = "complete") -> int:
        """Register (or refresh) a code system and return its sid.

        ``content`` follows CodeSystem.content; a system only named by a map is ``not-present``
        and never downgrades one whose concepts are loaded.
        """
        loaded = datetime.now(UTC).isoformat(timespec="seconds")
        sid = self.sid(cur, url)
        if sid is None:
            cur.execute("SELECT COALESCE(MAX(sid), 0) + 1 FROM tx_system")
            sid = int(cur.fetchone()[0])
            cur.execute(self.sql("INSERT INTO tx_system (sid, url, name, version, content, loaded) "
                                 "VALUES (?, ?, ?, ?, ?, ?)"), (sid, url, name, version, content, loaded))
            self._sids[url] = sid
        elif content != "not-present":
            cur.execute(self.sql("SELECT content FROM tx_system WHERE sid = ?"), (sid,))
            current = cur.fetchone()[0]
            # dm+d adds a fragment of SNOMED CT: that must not demote a complete RF2 load
            if CONTENT_RANK.get(current, 0) > CONTENT_RANK.get(content, 0):
                content = current
            cur.execute(self.sql("UPDATE tx_system SET name = COALESCE(?, name), version = COALESCE(?, version), "
                                 "content = ?, loaded = ? WHERE sid = ?"), (name, version, content, loaded, sid))
        return sid

    def systems(self) -> list[dict[str, Any]]:
        with self.read() as cur:
            cur.execute("SELECT url, name, version, content, loaded FROM tx_system ORDER BY url")
            rows = cur.fetchall()
        return [{"url": u, "name": n, "version": v, "content": c, "loaded": ld} for u, n, v, c, ld in rows]

    # -- bulk writes -----------------------------------------------------------------------------
    def insert(self, cur: Any, table: str, cols: tuple[str, ...], rows: Iterable[tuple]) -> int:
        """Stream ``rows`` into ``table`` in batches (COPY on PostgreSQL). Returns the row count."""
        n = 0
        for batch in batched(rows, BATCH):
            self.store.insert_rows(cur, table, cols, batch)
            n += len(batch)
        return n

    def upsert(self, cur: Any, table: str, cols: tuple[str, ...], key: tuple[str, ...],
               update: tuple[str, ...], rows: Iterable[tuple]) -> int:
        """Insert rows, or update ``update`` columns where ``key`` exists. Keys must be unique."""
        names = ",".join(cols)
        conflict = ",".join(key)
        assign = ",".join(f"{c} = excluded.{c}" for c in update) if update else ""
        action = f"DO UPDATE SET {assign}" if assign else "DO NOTHING"
        n = 0
        if self.dialect.name == "postgresql":
            # COPY into a staging table, then one INSERT ... SELECT: far faster than row upserts.
            stage = f"tx_stage_{table}"
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DROP")
            for batch in batched(rows, BATCH):
                cur.execute(f"TRUNCATE {stage}")
                with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
                cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "
                            f"ON CONFLICT ({conflict}) {action}")
                n += len(batch)
            return n
        marks = ",".join("?" * len(cols))
        statement = f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({conflict}) {action}"
        for batch in batched(rows, BATCH):
            cur.executemany(statement, batch)
            n += len(batch)
        return n

    def delete_source(self, cur: Any, sid: int, source: str, tables: Iterable[str]) -> None:
        """Remove what one loader wrote for a system, before it writes the new release."""
        for table in tables:
            cur.execute(self.sql(f"DELETE FROM {table} WHERE sid = ? AND source = ?"), (sid, source))

    @contextmanager
    def sorts_on_disk(self, cur: Any) -> Iterator[None]:
        """Let a big CREATE INDEX sort through temporary files, not RAM (SQLite's store keeps
        ``temp_store = MEMORY`` for fast queries; a 10M-row index sort would hold ~0.5 GB)."""
        if self.dialect.name != "sqlite":
            yield
            return
        cur.execute("PRAGMA temp_store")
        previous = int(cur.fetchone()[0])
        cur.execute("PRAGMA temp_store = FILE")
        try:
            yield
        finally:
            cur.execute(f"PRAGMA temp_store = {previous}")

    # -- generation (cache invalidation across processes) -----------------------------------------
    def bump_generation(self, cur: Any) -> None:
        cur.execute("SELECT value FROM tx_state WHERE name = 'generation'")
        row = cur.fetchone()
        if row is None:
            cur.execute("INSERT INTO tx_state (name, value) VALUES ('generation', 1)")
        else:
            cur.execute("UPDATE tx_state SET value = value + 1 WHERE name = 'generation'")

    def generation(self) -> int:
        with self.read() as cur:
            cur.execute("SELECT value FROM tx_state WHERE name = 'generation'")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def forget(self) -> None:
        """Drop cached sids (after a load in this process)."""
        self._sids.clear()


def batched(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _has_table(cur: Any, dialect: Dialect, name: str) -> bool:
    if dialect.name == "postgresql":
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    else:
        cur.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return bool(cur.fetchone()[0])
