"""A write session of the SQL stores: the rows of one transaction, buffered and flushed together.

Split from ``store.sqlstore`` so it can be compiled (setup.py, mypyc): everything here runs with
the write lock held, for every resource written — its version and ``lastUpdated``, its history
row, its index rows prefixed with its ``rid`` — so interpreter overhead here is time the other
server worker waits for the lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from gpbridge.fhir.outcome import FhirError, bad_request, precondition_failed
from gpbridge.search.query import SearchQuery
from gpbridge.store import compartment
from gpbridge.store.base import SearchResult, StoredResource, WriteResult, history_method
from gpbridge.store.ids import new_id
from gpbridge.store.index_rows import INDEX_TABLES, stored_rows, with_rid
from gpbridge.store.prepared import PreparedWrite

SELECT_CURRENT = (
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


class _Row:
    """The session's view of one resource it has written (or read for update)."""

    def __init__(self, rid: int, type_: str, id_: str, version: int, deleted: Any, last_updated: Any,
                 method: str, content: Any, in_db: bool) -> None:
        self.rid = rid
        self.type = type_
        self.id = id_
        self.version = version
        self.deleted: Any = deleted
        self.last_updated: Any = last_updated
        self.method = method
        self.content: Any = content
        self.in_db = in_db
        self.lu = 0.0

    def stored(self) -> StoredResource:
        return StoredResource(
            self.type, self.id, self.version, self.last_updated, bool(self.deleted), self.content, self.method
        )


class SqlSession:
    """One write transaction (see ``store.base.StoreSession``)."""

    def __init__(self, store: Any, cur: Any) -> None:
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
        self._instant: tuple[float, str] | None = None

    def now(self) -> tuple[float, str]:
        """The transaction's instant: every version it writes has this ``lastUpdated``, as they all
        become visible at one commit (HAPI FHIR does the same). Taken at the first write, inside
        the write transaction, so on SQLite, where writers take turns, commits are in its order."""
        instant = self._instant
        if instant is None:
            instant = self._instant = now_instant()
        return instant

    # -- reads -------------------------------------------------------------------------------
    def _current(self, type_: str, id_: str) -> _Row | None:
        row = self.rows.get((type_, id_))
        if row is not None:
            return row
        sql = SELECT_CURRENT + self.store.lock_clause
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

    def versions(
        self, type_: str | None = None, id_: str | None = None, since: str | None = None,
        count: int = 50, offset: int = 0,
    ) -> tuple[list[StoredResource], int]:
        """Versions newest first, as this session sees them (its own writes included)."""
        self.flush()
        result: tuple[list[StoredResource], int] = self.store.history_with(self.cur, type_, id_, since, count,
                                                                           offset)
        return result

    def lock_keys(self, keys: list[str]) -> None:
        if keys:
            self.store.lock_keys(self.cur, keys)

    # -- writes ------------------------------------------------------------------------------
    def prepare(self, type_: str, id_: str, resource: dict[str, Any]) -> PreparedWrite:
        return self.store.prepare(type_, id_, resource)

    def create(
        self,
        resource: dict[str, Any] | PreparedWrite,
        id_: str | None = None,
        *,
        minted: bool = False,
        method: str = "POST",
    ) -> WriteResult:
        if isinstance(resource, PreparedWrite):
            type_, id_ = resource.type, resource.id
        else:
            type_ = resource_type(resource)
        answered = history_method(method, 201)
        if id_ is None or minted:  # a server-minted id cannot exist yet: no need to look
            return WriteResult(self._put(type_, id_ or new_id(), resource, None, answered), created=True)
        existing = self._current(type_, id_)
        if existing is not None and not existing.deleted:
            raise FhirError.of(409, "duplicate", f"{type_}/{id_} already exists")
        return WriteResult(self._put(type_, id_, resource, existing, answered), created=True)

    def update(
        self,
        type_: str,
        id_: str,
        resource: dict[str, Any] | PreparedWrite,
        if_match: int | None = None,
        *,
        method: str = "PUT",
    ) -> WriteResult:
        existing = self._current(type_, id_)
        if if_match is not None:
            current_version = existing.version if existing is not None else None
            if current_version != if_match or existing is None or existing.deleted:
                raise precondition_failed(
                    f"If-Match version {if_match} does not match the current version of {type_}/{id_}"
                    f" ({'none' if current_version is None else current_version})"
                )
        created = existing is None or bool(existing.deleted)  # a recreation is a create: 201
        answered = history_method(method, 201 if created else 200)
        return WriteResult(self._put(type_, id_, resource, existing, answered), created=created)

    def delete(
        self, type_: str, id_: str, if_match: int | None = None, *, status: int = 204
    ) -> WriteResult | None:
        existing = self._current(type_, id_)
        if existing is None or existing.deleted:
            if if_match is not None:
                raise precondition_failed(f"If-Match given but {type_}/{id_} does not exist")
            return None
        if if_match is not None and existing.version != if_match:
            raise precondition_failed(
                f"If-Match version {if_match} does not match the current version {existing.version} of {type_}/{id_}"
            )
        lu, last_updated = self.now()
        version = existing.version + 1
        row = self._record(type_, id_, existing, version, True, lu, last_updated, history_method("DELETE", status),
                           None)  # fmt: skip
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
        lu, last_updated = self.now()
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
        for (table, cols), filed_rows in zip(INDEX_TABLES, per_table, strict=True):
            if filed_rows:
                store.insert_rows(cur, table, cols if filed else cols[:-1], filed_rows)


def resource_type(resource: dict[str, Any]) -> str:
    type_ = resource.get("resourceType")
    if not isinstance(type_, str) or not type_:
        raise bad_request("resource has no resourceType", "resourceType")
    return type_


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
