"""The store implementation shared by SQLite and PostgreSQL.

A write session buffers its rows (resources, versions, index rows) and flushes them in a handful
of ``executemany``/COPY calls — before any search inside the session and at commit — so a
100-entry transaction Bundle costs a few round trips, not hundreds. The database transaction is
the unit of atomicity: nothing is visible, and nothing survives a crash, until commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError, bad_request, gone, not_found, precondition_failed
from gpbridge.search import sql as search_sql
from gpbridge.search.query import SearchQuery
from gpbridge.store import compartment, migrations
from gpbridge.store.base import SearchResult, StoredResource, WriteResult
from gpbridge.store.dialect import Dialect
from gpbridge.store.ids import new_id
from gpbridge.store.index_rows import INDEX_TABLES, IndexRowBuilder, stored_rows, with_rid
from gpbridge.store.prepared import PreparedWrite, serialise_parts

_SELECT_CURRENT = (
    "SELECT r.rid, r.version, r.deleted, h.last_updated, h.method, h.content "
    "FROM resource r JOIN history h ON h.rid = r.rid AND h.version = r.version "
    "WHERE r.type = ? AND r.id = ?"
)


_second_text: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def now_instant() -> tuple[float, str]:
    """The current time as (epoch seconds, FHIR instant with microseconds, UTC)."""
    global _second_text
    # Whole microseconds, so the float and the instant text round-trip exactly (``_since``).
    micros = time.time_ns() // 1000
    seconds, fraction = divmod(micros, 1_000_000)
    # As datetime.isoformat(timespec="microseconds") in UTC, without building datetimes, and
    # formatting the date and time once a second (this runs for every version written). One
    # tuple, read and replaced whole, so threads never pair a second with another's text.
    cached = _second_text
    if cached[0] != seconds:
        cached = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
        _second_text = cached
    return micros / 1e6, f"{cached[1]}.{fraction:06d}+00:00"


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


class _Row:
    """The session's view of one resource it has written (or read for update)."""

    __slots__ = ("rid", "type", "id", "version", "deleted", "last_updated", "method", "content", "in_db", "lu")

    def __init__(self, rid, type_, id_, version, deleted, last_updated, method, content, in_db):
        self.rid = rid
        self.type = type_
        self.id = id_
        self.version = version
        self.deleted = deleted
        self.last_updated = last_updated
        self.method = method
        self.content = content
        self.in_db = in_db
        self.lu = 0.0

    def stored(self) -> StoredResource:
        return StoredResource(
            self.type, self.id, self.version, self.last_updated, bool(self.deleted), self.content, self.method
        )


class SqlSession:
    """One write transaction (see ``store.base.StoreSession``)."""

    def __init__(self, store: SqlStore, cur: Any) -> None:
        self.store = store
        self.cur = cur
        self.d = store.dialect_obj
        self.rows: dict[tuple[str, str], _Row] = {}
        self.new_rows: dict[int, _Row] = {}  # inserted this session (by rid)
        self.changed_rows: dict[int, _Row] = {}  # existing rows updated this session
        self.history: list[tuple] = []
        # rid -> (compartment, rows per index table); None: a deletion, no rows
        self.index: dict[int, tuple[int, list[list[tuple]]] | None] = {}
        self.clear_rids: list[int] = []  # existing rids whose old index rows go
        self._rid_pool: list[int] = []
        self._last_rid = 0

    # -- reads -------------------------------------------------------------------------------
    def _current(self, type_: str, id_: str) -> _Row | None:
        row = self.rows.get((type_, id_))
        if row is not None:
            return row
        sql = _SELECT_CURRENT + self.store.lock_clause
        self.cur.execute(self.d.sql(sql), (type_, id_))
        found = self.cur.fetchone()
        if found is None:
            return None
        rid, version, deleted, last_updated, method, content = found
        row = _Row(rid, type_, id_, version, deleted, last_updated, method,
                   self.store.content_bytes(content), True)
        self.rows[(type_, id_)] = row
        return row

    def read(self, type_: str, id_: str) -> StoredResource | None:
        row = self._current(type_, id_)
        return row.stored() if row else None

    def search(self, query: SearchQuery) -> SearchResult:
        self.flush()
        return self.store.run_search(self.cur, query)

    def vread(self, type_: str, id_: str, version: int) -> StoredResource:
        """One version, as this session sees it (its own writes included)."""
        self.flush()
        return self.store.vread_with(self.cur, type_, id_, version)

    def lock_keys(self, keys: list[str]) -> None:
        if keys:
            self.store.lock_keys(self.cur, keys)

    # -- writes ------------------------------------------------------------------------------
    def prepare(self, type_: str, id_: str, resource: dict[str, Any]) -> PreparedWrite:
        return self.store.prepare(type_, id_, resource)

    def create(
        self, resource: dict[str, Any] | PreparedWrite, id_: str | None = None, *, minted: bool = False
    ) -> WriteResult:
        if type(resource) is PreparedWrite:
            type_, id_ = resource.type, resource.id
        else:
            type_ = _resource_type(resource)
        if id_ is None or minted:  # a server-minted id cannot exist yet: no need to look
            return WriteResult(self._put(type_, id_ or new_id(), resource, None, "POST"), created=True)
        existing = self._current(type_, id_)
        if existing is not None and not existing.deleted:
            raise FhirError.of(409, "duplicate", f"{type_}/{id_} already exists")
        return WriteResult(self._put(type_, id_, resource, existing, "POST"), created=True)

    def update(
        self, type_: str, id_: str, resource: dict[str, Any] | PreparedWrite, if_match: int | None = None
    ) -> WriteResult:
        existing = self._current(type_, id_)
        if if_match is not None:
            current_version = existing.version if existing is not None else None
            if current_version != if_match or existing is None or existing.deleted:
                raise precondition_failed(
                    f"If-Match version {if_match} does not match the current version of {type_}/{id_}"
                    f" ({'none' if current_version is None else current_version})"
                )
        created = existing is None or bool(existing.deleted)
        method = "POST" if existing is None else "PUT"
        return WriteResult(self._put(type_, id_, resource, existing, method), created=created)

    def delete(self, type_: str, id_: str, if_match: int | None = None) -> WriteResult | None:
        existing = self._current(type_, id_)
        if existing is None or existing.deleted:
            if if_match is not None:
                raise precondition_failed(f"If-Match given but {type_}/{id_} does not exist")
            return None
        if if_match is not None and existing.version != if_match:
            raise precondition_failed(
                f"If-Match version {if_match} does not match the current version {existing.version} of {type_}/{id_}"
            )
        lu, last_updated = now_instant()
        version = existing.version + 1
        row = self._record(type_, id_, existing, version, True, lu, last_updated, "DELETE", None)
        self.index[row.rid] = None
        return WriteResult(row.stored())

    def _put(
        self, type_: str, id_: str, resource: dict[str, Any] | PreparedWrite, existing: _Row | None, method: str
    ) -> StoredResource:
        if type(resource) is PreparedWrite:
            prepared = resource
            if (prepared.type, prepared.id) != (type_, id_):  # its bytes name the resource: never mislabel
                raise ValueError(f"prepared {prepared.type}/{prepared.id} written as {type_}/{id_}")
        else:
            prepared = self.store.prepare(type_, id_, resource)
        lu, last_updated = now_instant()
        version = 1 if existing is None else existing.version + 1
        content = prepared.content(version, last_updated)
        row = self._record(type_, id_, existing, version, False, lu, last_updated, method, content)
        self.index[row.rid] = (prepared.comp, prepared.index)
        return row.stored()

    def _record(self, type_, id_, existing, version, deleted, lu, last_updated, method, content) -> _Row:
        if existing is None:
            row = _Row(self._next_rid(), type_, id_, version, deleted, last_updated, method, content, False)
            self.rows[(type_, id_)] = row
            self.new_rows[row.rid] = row
        else:
            row = existing
            if row.in_db and row.rid not in self.changed_rows:
                self.changed_rows[row.rid] = row
                self.clear_rids.append(row.rid)
            row.version, row.deleted, row.last_updated, row.method, row.content = (
                version, deleted, last_updated, method, content)
        row.lu = lu
        self.history.append((row.rid, version, lu, last_updated, method, content))
        return row

    def _next_rid(self) -> int:
        if not self._rid_pool:
            self._rid_pool = self.store.allocate_rids(self.cur, 256, self._last_rid)
            self._rid_pool.reverse()
        self._last_rid = self._rid_pool.pop()
        return self._last_rid

    # -- flush -------------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.history:
            return
        cur, d, store = self.cur, self.d, self.store
        if self.clear_rids:
            for table, _cols in INDEX_TABLES:
                for chunk in _chunks(self.clear_rids, 500):
                    marks = ",".join("?" * len(chunk))
                    cur.execute(d.sql(f"DELETE FROM {table} WHERE rid IN ({marks})"), chunk)
            self.clear_rids = []
        if self.new_rows:
            store.insert_rows(cur, "resource", ("rid", "type", "id", "version", "lu", "deleted"),
                              [(r.rid, r.type, r.id, r.version, r.lu, int(r.deleted))
                               for r in self.new_rows.values()])
            for r in self.new_rows.values():
                r.in_db = True
            self.new_rows = {}
        if self.changed_rows:
            cur.executemany(d.sql("UPDATE resource SET version = ?, lu = ?, deleted = ? WHERE rid = ?"),
                            [(r.version, r.lu, int(r.deleted), r.rid)
                             for r in self.changed_rows.values()])
            self.changed_rows = {}
        store.insert_history(cur, self.history)
        self.history = []
        per_table: list[list[tuple]] = [[] for _ in INDEX_TABLES]
        # SQLite files rows by compartment; PostgreSQL's search indexes have none (the column
        # keeps its default there: Dialect.compartment_indexes).
        filed = d.compartment_indexes
        global_pids = store.index_builder.global_pids() if filed else frozenset()
        compartments: set[int] = set()
        for rid, entry in self.index.items():
            if entry:
                comp, rows = entry
                compartments.add(comp)
                for k, table_rows in enumerate(rows):
                    if table_rows:
                        per_table[k].extend(
                            stored_rows(rid, comp, table_rows, global_pids if k == 0 else frozenset()) if filed
                            else with_rid(rid, table_rows))
        # Every compartment a row is filed under is listed, in the same transaction, so searches
        # that cannot name the patient find it (store.compartment); usually one new row a Bundle.
        compartments.difference_update((compartment.NONE, compartment.SEVERAL))
        if filed and compartments:
            cur.executemany(d.sql("INSERT INTO compartment (comp) VALUES (?) ON CONFLICT DO NOTHING"),
                            [(c,) for c in sorted(compartments)])
        self.index = {}
        for (table, cols), rows in zip(INDEX_TABLES, per_table, strict=True):
            if rows:
                store.insert_rows(cur, table, cols if filed else cols[:-1], rows)


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
            cur.execute(d.sql(_SELECT_CURRENT), (type_, id_))
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
        with self._read_cursor() as cur:
            cur.execute(d.sql("SELECT COUNT(*)" + base), params)
            total = cur.fetchone()[0]
            cur.execute(
                d.sql("SELECT r.type, r.id, h.version, h.last_updated, h.method, h.content" + base
                      + " ORDER BY h.lu DESC, h.rid DESC, h.version DESC LIMIT ? OFFSET ?"),
                [*params, count, offset],
            )
            rows = cur.fetchall()
        if id_ is not None and total == 0:
            self.read_any(type_, id_)  # raises 404 for an unknown instance
        out = [
            StoredResource(t, i, v, lu, content is None, self.content_bytes(content), m)
            for t, i, v, lu, m, content in rows
        ]
        return out, total

    def read_any(self, type_: str, id_: str) -> None:
        with self._read_cursor() as cur:
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
            prepared = [(self.prepare(_resource_type(res), res.get("id") or new_id(), res), bool(res.get("id")))
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


def _resource_type(resource: dict[str, Any]) -> str:
    type_ = resource.get("resourceType")
    if not isinstance(type_, str) or not type_:
        raise bad_request("resource has no resourceType", "resourceType")
    return type_


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
