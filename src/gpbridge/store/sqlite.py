"""The embedded default store: stdlib sqlite3 in WAL mode.

One connection per thread (SQLite connections are not shared across threads); a write session
takes the database's single write lock up front (BEGIN IMMEDIATE) so concurrent writers queue
instead of failing half-way, and version checks inside it are race-free.

Writers queue on a lock file beside the database (``<db>-writer``) before BEGIN IMMEDIATE: SQLite's
own busy handler sleeps 1, 2, 5, 10 ms... between retries, so with several server workers a writer
sat idle for milliseconds after the lock came free, about as long as a Bundle holds it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

from gpbridge.config import Settings

try:
    import fcntl
except ImportError:  # not POSIX: writers fall back to SQLite's own busy handler
    fcntl = None  # type: ignore[assignment]
from gpbridge.store.dialect import SQLITE
from gpbridge.store.sqlstore import SqlStore


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` -> filesystem path."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    return url[len("sqlite:///"):]


AUTOCHECKPOINT_PAGES = 50_000  # ~200 MB of WAL before a commit would checkpoint itself
CHECKPOINT_WAL_BYTES = 8 * 1024 * 1024  # the background checkpoint starts past this WAL size
WRITER_WAIT_SECONDS = 30.0  # as busy_timeout: then the write fails as "database is locked"
WRITER_POLL_SECONDS = 0.0002
# Rows per INSERT statement, largest first. One multi-row ``VALUES`` statement runs the VM once for
# many rows, where executemany resets, rebinds and steps it, releasing the GIL, for every row.
# Measured with callgrind, 40 patients' transaction Bundles (1,399 resources, ~11 index rows each)
# through process_bundle: 819,000 -> 772,000 instructions a resource (-5.8%). Few sizes, so each
# table has few statements to cache.
ROWS_PER_INSERT = (64, 16, 4, 1)
STATEMENT_CACHE = 512  # prepared statements kept per connection (sqlite3's default is 128)
_insert_sql: dict[tuple[str, tuple[str, ...], int], str] = {}


def insert_statement(table: str, cols: tuple[str, ...], rows: int) -> str:
    """``INSERT INTO table (cols) VALUES (?, ...), ...`` for ``rows`` rows, built once."""
    key = (table, cols, rows)
    sql = _insert_sql.get(key)
    if sql is None:
        one = "(" + ",".join("?" * len(cols)) + ")"
        sql = _insert_sql[key] = f"INSERT INTO {table} ({','.join(cols)}) VALUES {','.join([one] * rows)}"
    return sql


class _WriterQueue:
    """An exclusive ``flock`` on ``<db>-writer``, one open file per connection, so threads and
    processes exclude each other alike. Polled without blocking, so waiting stays bounded (a stuck
    writer fails the others after ``WRITER_WAIT_SECONDS``, as SQLite's own timeout did) while a
    waiter notices the lock come free within a fraction of a millisecond. The kernel drops the
    lock if the process dies; the database lock, not this file, is what keeps writes atomic."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path + "-writer", os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        deadline = 0.0
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                if not deadline:
                    deadline = now + WRITER_WAIT_SECONDS
                elif now > deadline:
                    raise sqlite3.OperationalError(
                        f"database is locked: no write turn within {WRITER_WAIT_SECONDS:.0f} s") from None
                time.sleep(WRITER_POLL_SECONDS)

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)


class _Checkpointer:
    """Copies the WAL back into the database from a background thread (PASSIVE: never blocks
    readers or writers). A checkpoint run inside a commit costs that request a random-write pass
    and an fsync; here it overlaps with request work instead (sqlite3 releases the GIL)."""

    def __init__(self, path: str, interval: float = 0.25) -> None:
        self.wal = path + "-wal"
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=1.0)
        try:
            while not self._stop.wait(self.interval):
                try:
                    if os.stat(self.wal).st_size > CHECKPOINT_WAL_BYTES:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except (FileNotFoundError, sqlite3.OperationalError):
                    continue
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _writer_queue(path: str) -> _WriterQueue | None:
    if path == ":memory:" or fcntl is None:
        return None
    try:
        return _WriterQueue(path)
    except OSError:  # e.g. a read-only directory: nothing will be written there anyway
        return None


class SQLiteStore(SqlStore):
    dialect = "sqlite"
    dialect_obj = SQLITE
    blocking_ok = True  # statements are sub-millisecond: call inline rather than hop threads

    def __init__(self, path: str, settings: Settings | None = None) -> None:
        super().__init__(settings or Settings())
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._queues: list[_WriterQueue] = []
        self._lock = threading.Lock()
        self.migrate()
        self._checkpointer = _Checkpointer(path) if path != ":memory:" else None

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None) -> SQLiteStore:
        return cls(sqlite_path(url), settings)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0,
                                   cached_statements=STATEMENT_CACHE)
            synchronous = self.settings.sqlite_synchronous.upper()
            if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
                raise ValueError(f"GPBRIDGE_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
            for pragma in (
                "journal_mode = WAL",
                f"synchronous = {synchronous}",
                "cache_size = -65536",  # 64 MB page cache per connection
                "temp_store = MEMORY",
                "mmap_size = 268435456",  # 256 MB: resident memory stays bounded at a million resources
                "busy_timeout = 30000",
                # Commits never wait for a checkpoint: _Checkpointer copies the WAL back in the
                # background; this is only the safety net if it falls behind.
                f"wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}",
                "journal_size_limit = 67108864",
            ):
                conn.execute(f"PRAGMA {pragma}")
            self._local.conn = conn
            self._local.queue = _writer_queue(self.path)
            with self._lock:
                self._all.append(conn)
                if self._local.queue is not None:
                    self._queues.append(self._local.queue)
        return conn

    @contextmanager
    def _read_cursor(self) -> Iterator[Any]:
        conn = self._conn()
        cur = conn.cursor()
        if conn.in_transaction:  # a read inside this thread's own write session
            yield cur
            return
        cur.execute("BEGIN")  # one snapshot for the count and the page
        try:
            yield cur
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def _write_cursor(self) -> Iterator[Any]:
        conn = self._conn()
        if conn.in_transaction:
            raise RuntimeError("nested write session on one thread")
        queue: _WriterQueue | None = self._local.queue
        if queue is not None:
            queue.acquire()
        try:
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
        finally:
            if queue is not None:
                queue.release()

    def insert_rows(self, cur: Any, table: str, cols: tuple[str, ...], rows: list[tuple]) -> None:
        """The rows in statements of ``ROWS_PER_INSERT`` rows each (greedily, largest first)."""
        start, total = 0, len(rows)
        for size in ROWS_PER_INSERT:
            count = (total - start) // size
            if not count:
                continue
            end = start + count * size
            sql = insert_statement(table, cols, size)
            if size == 1:
                cur.executemany(sql, rows[start:end])
            else:
                cur.executemany(sql, [tuple(chain.from_iterable(rows[i:i + size])) for i in range(start, end, size)])
            start = end

    def allocate_rids(self, cur: Any, n: int, floor: int) -> list[int]:
        # Under BEGIN IMMEDIATE no other writer can take rids, so MAX(rid) is safe to extend.
        cur.execute("SELECT COALESCE(MAX(rid), 0) FROM resource")
        start = max(cur.fetchone()[0], floor) + 1
        return list(range(start, start + n))

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass
            self._all.clear()
            for queue in self._queues:
                queue.close()
            self._queues.clear()
        self._local = threading.local()
