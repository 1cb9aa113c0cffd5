"""The store implementation shared by SQLite and PostgreSQL.

A write session buffers its rows (resources, versions, index rows) and flushes them in a handful
of ``executemany``/COPY calls — before any search inside the session and at commit — so a
100-entry transaction Bundle costs a few round trips, not hundreds. The database transaction is
the unit of atomicity: nothing is visible, and nothing survives a crash, until commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError, bad_request, gone, not_found
from gpbridge.search import sql as search_sql
from gpbridge.search.query import SearchQuery
from gpbridge.store import migrations
from gpbridge.store.base import SearchResult, StoredResource
from gpbridge.store.dialect import Dialect
from gpbridge.store.ids import new_id
from gpbridge.store.index_rows import IndexRowBuilder
from gpbridge.store.prepared import PreparedWrite, serialise_parts
from gpbridge.store.session import SELECT_CURRENT, SqlSession, now_instant, resource_type


def parse_instant(value: str) -> float:
    """A FHIR instant/dateTime (``_since``) as epoch seconds; clear 400 when malformed."""
    text = value.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"'{value}' is not a valid instant (expected e.g. 2026-01-31T09:30:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class SqlStore:
    """Shared implementation; subclasses provide connections, rid allocation and bulk inserts."""

    dialect: str = "sqlite"
    dialect_obj: Dialect
    lock_clause: str = ""  # e.g. " FOR UPDATE OF r" in PostgreSQL sessions
    blocking_ok: bool = False  # may the event loop call this store inline?

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pids: dict[tuple[str, str], int] = {}
        self.index_builder = IndexRowBuilder(self.pids)

    # -- to be provided by the dialect stores -------------------------------------------------
    @contextmanager
    def _read_cursor(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    @contextmanager
    def _write_cursor(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def allocate_rids(self, cur: Any, n: int, floor: int) -> list[int]:
        """``n`` unused rids, all above ``floor`` (the session's last one)."""
        raise NotImplementedError

    def lock_keys(self, cur: Any, keys: list[str]) -> None:
        """See ``StoreSession.lock_keys``: nothing to do where write sessions are serial (SQLite)."""

    # -- sign-in state shared by worker processes (security.shared_state) ------------------------
    def state_put(self, key: str, value: str, expires: float, now: float) -> None:
        d = self.dialect_obj
        with self._write_cursor() as cur:
            cur.execute(d.sql("DELETE FROM auth_state WHERE expires < ?"), (now,))
            cur.execute(d.sql("INSERT INTO auth_state (key, value, expires) VALUES (?, ?, ?) ON CONFLICT (key) "
                              "DO UPDATE SET value = excluded.value, expires = excluded.expires"), (key, value, expires))

    def state_take(self, key: str, now: float) -> str | None:
        """The value under ``key``, removed (single use); None when absent or expired."""
        d = self.dialect_obj
        with self._write_cursor() as cur:
            cur.execute(d.sql("DELETE FROM auth_state WHERE key = ? RETURNING value, expires"), (key,))
            row = cur.fetchone()
        return str(row[0]) if row is not None and row[1] >= now else None

    def state_holds(self, key: str, now: float) -> bool:
        with self._read_cursor() as cur:
            cur.execute(self.dialect_obj.sql("SELECT 1 FROM auth_state WHERE key = ? AND expires > ?"), (key, now))
            return cur.fetchone() is not None

    def state_first_use(self, key: str, expires: float, now: float) -> bool:
        """True the first time ``key`` is claimed (until it expires); claims it."""
        d = self.dialect_obj
        with self._write_cursor() as cur:
            cur.execute(d.sql("DELETE FROM auth_state WHERE key = ? AND expires <= ?"), (key, now))
            cur.execute(d.sql("INSERT INTO auth_state (key, value, expires) VALUES (?, '', ?) "
                              "ON CONFLICT (key) DO NOTHING"), (key, expires))
            return cur.rowcount == 1

    def content_bytes(self, content: Any) -> bytes | None:
        return content

    def insert_rows(self, cur: Any, table: str, cols: tuple[str, ...], rows: list[tuple]) -> None:
        marks = ",".join("?" * len(cols))
        cur.executemany(self.dialect_obj.sql(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({marks})"), rows)

    def insert_history(self, cur: Any, rows: list[tuple]) -> None:
        self.insert_rows(cur, "history", ("rid", "version", "lu", "last_updated", "method", "content"), rows)

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the latest version, one migration per transaction."""
        d = self.dialect_obj
        with self._write_cursor() as cur:
            cur.execute(migrations.schema_version_ddl(d))
            cur.execute("SELECT MAX(version) FROM schema_version")
            current = cur.fetchone()[0] or 0
        for m in migrations.migrations():
            if m.version <= current:
                continue
            with self._write_cursor() as cur:
                for statement in m.ddl(d):
                    cur.execute(statement)
                if m.data is not None:
                    m.data(cur, d, self)
                _, applied = now_instant()
                cur.execute(d.sql("INSERT INTO schema_version (version, applied) VALUES (?, ?)"), (m.version, applied))
        self._load_search_params()

    def schema_version(self) -> int:
        with self._read_cursor() as cur:
            cur.execute("SELECT MAX(version) FROM schema_version")
            return cur.fetchone()[0] or 0

    def _load_search_params_with(self, cur: Any) -> None:
        """Inside a migration's transaction: make sure every registry parameter has a pid."""
        d = self.dialect_obj
        cur.execute("SELECT type, code, pid FROM search_param")
        known = {(t, c): p for t, c, p in cur.fetchall()}
        missing = [k for k in self.index_builder.all_param_keys() if k not in known]
        if missing:
            cur.execute("SELECT COALESCE(MAX(pid), 0) FROM search_param")
            start = cur.fetchone()[0]
            cur.executemany(d.sql("INSERT INTO search_param (pid, type, code) VALUES (?, ?, ?)"),
                            [(start + n + 1, t, c) for n, (t, c) in enumerate(missing)])
            cur.execute("SELECT type, code, pid FROM search_param")
            known = {(t, c): p for t, c, p in cur.fetchall()}
        self.pids.clear()
        self.pids.update(known)

    def _load_search_params(self) -> None:
        """Give every (type, parameter) of the registry an integer pid, once."""
        with self._write_cursor() as cur:
            self._load_search_params_with(cur)

    def prepare(self, type_: str, id_: str, resource: dict[str, Any]) -> PreparedWrite:
        """Serialise ``resource`` as ``type_/id_`` and extract its index rows: no database needed,
        so callers run this before the write transaction (``store.prepared``)."""
        head, rest = serialise_parts(type_, id_, resource)
        rows, comp = self.index_builder.rows_and_compartment(type_, resource)
        return PreparedWrite(type_, id_, head, rest, rows, comp=comp)

    # -- reads -------------------------------------------------------------------------------
    def read(self, type_: str, id_: str) -> StoredResource:
        d = self.dialect_obj
        with self._read_cursor() as cur:
            cur.execute(d.sql(SELECT_CURRENT), (type_, id_))
            found = cur.fetchone()
        if found is None:
            raise not_found(f"{type_}/{id_} is not known")
        _rid, version, deleted, last_updated, method, content = found
        if deleted:
            raise FhirError(410, gone(f"{type_}/{id_} was deleted (version {version})").issues,
                            {"ETag": f'W/"{version}"'})
        return StoredResource(type_, id_, version, last_updated, False, self.content_bytes(content), method)

    def vread(self, type_: str, id_: str, version: int) -> StoredResource:
        with self._read_cursor() as cur:
            return self.vread_with(cur, type_, id_, version)

    def vread_with(self, cur: Any, type_: str, id_: str, version: int) -> StoredResource:
        d = self.dialect_obj
        cur.execute(
            d.sql("SELECT h.version, h.last_updated, h.method, h.content FROM resource r "
                  "JOIN history h ON h.rid = r.rid WHERE r.type = ? AND r.id = ? AND h.version = ?"),
            (type_, id_, version),
        )
        found = cur.fetchone()
        if found is None:
            raise not_found(f"{type_}/{id_} has no version {version}")
        version, last_updated, method, content = found
        if content is None:
            raise gone(f"version {version} of {type_}/{id_} is a deletion")
        return StoredResource(type_, id_, version, last_updated, False, self.content_bytes(content), method)

    def history(self, type_=None, id_=None, since=None, count=50, offset=0):
        with self._read_cursor() as cur:
            return self.history_with(cur, type_, id_, since, count, offset)

    def history_with(self, cur: Any, type_=None, id_=None, since=None, count=50, offset=0):
        d = self.dialect_obj
        where, params = [], []
        if type_ is not None:
            where.append("r.type = ?")
            params.append(type_)
        if id_ is not None:
            where.append("r.id = ?")
            params.append(id_)
        if since is not None:
            where.append("h.lu >= ?")  # R4: versions created at or after the instant
            params.append(parse_instant(since) if isinstance(since, str) else float(since))
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        base = " FROM history h JOIN resource r ON r.rid = h.rid" + clause
        cur.execute(d.sql("SELECT COUNT(*)" + base), params)
        total = cur.fetchone()[0]
        cur.execute(
            d.sql("SELECT r.type, r.id, h.version, h.last_updated, h.method, h.content" + base
                  + " ORDER BY h.lu DESC, h.rid DESC, h.version DESC LIMIT ? OFFSET ?"),
            [*params, count, offset],
        )
        rows = cur.fetchall()
        if id_ is not None and total == 0:
            self.read_any_with(cur, type_, id_)  # raises 404 for an unknown instance
        out = [
            StoredResource(t, i, v, lu, content is None, self.content_bytes(content), m)
            for t, i, v, lu, m, content in rows
        ]
        return out, total

    def read_any(self, type_: str, id_: str) -> None:
        with self._read_cursor() as cur:
            self.read_any_with(cur, type_, id_)

    def read_any_with(self, cur: Any, type_: str, id_: str) -> None:
        cur.execute(self.dialect_obj.sql("SELECT 1 FROM resource WHERE type = ? AND id = ?"), (type_, id_))
        if cur.fetchone() is None:
            raise not_found(f"{type_}/{id_} is not known")

    def count(self, type_: str | None = None) -> int:
        with self._read_cursor() as cur:
            if type_ is None:
                cur.execute("SELECT COUNT(*) FROM resource WHERE deleted = 0")
            else:
                cur.execute(self.dialect_obj.sql("SELECT COUNT(*) FROM resource WHERE type = ? AND deleted = 0"),
                            (type_,))
            return cur.fetchone()[0]

    def search(self, query: SearchQuery) -> SearchResult:
        with self._read_cursor() as cur:
            return self.run_search(cur, query)

    def run_search(self, cur: Any, query: SearchQuery) -> SearchResult:
        return search_sql.execute(cur, self, query)

    # -- writes ------------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[SqlSession]:
        with self._write_cursor() as cur:
            s = SqlSession(self, cur)
            yield s
            s.flush()

    def bulk_load(self, resources, batch_size: int = 1000) -> int:
        n = 0
        batch: list[dict[str, Any]] = []

        def write(items: list[dict[str, Any]]) -> None:
            # serialised and indexed before the write lock, as transaction Bundles are
            prepared = [(self.prepare(resource_type(res), res.get("id") or new_id(), res), bool(res.get("id")))
                        for res in items]
            with self.session() as s:
                for p, has_id in prepared:
                    if has_id:
                        s.update(p.type, p.id, p)
                    else:
                        s.create(p, minted=True)

        for res in resources:
            batch.append(res)
            if len(batch) >= batch_size:
                write(batch)
                n += len(batch)
                batch = []
        if batch:
            write(batch)
            n += len(batch)
        return n

    def close(self) -> None:
        pass
