"""The one Store interface. Implementations: ``sqlite.SQLiteStore`` and ``postgres.PostgresStore``.

The store knows FHIR resources as JSON and search as a parsed query tree; it knows nothing of
HTTP. Every write happens inside a ``session()`` — one database transaction, all or nothing —
so a transaction Bundle, a conditional update or an adapter import is atomic even if the
process dies part-way (the database never commits a half-written session).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from gpbridge.search.query import PagePosition, SearchQuery
from gpbridge.store.prepared import PreparedWrite


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource as stored.

    ``content`` is the JSON (bytes) with ``meta.versionId`` and ``meta.lastUpdated`` already set
    by the store; it is ``None`` for a deletion marker.
    """

    type: str
    id: str
    version: int
    last_updated: str  # FHIR instant, e.g. 2026-11-25T14:13:04.123456+00:00
    deleted: bool
    content: bytes | None
    # ``history.method``: the request that wrote this version and the status answered
    # (``history_method``), e.g. "PUT 201"; read it through ``request``
    method: str = "PUT 200"

    @property
    def request(self) -> tuple[str, int]:
        """(HTTP method, status answered) of the write that made this version."""
        return history_request(self.method)

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def reference(self) -> str:
        return f"{self.type}/{self.id}"


# Rows written before the status was recorded hold the method alone (and a create by PUT, or a
# recreation after a delete, was recorded as a POST or a PUT): the status the method usually had.
_LEGACY_STATUS = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}


def history_method(method: str, status: int) -> str:
    """What ``history.method`` holds for a version: the request method and the status answered."""
    return f"{method} {status}"


def history_request(value: str) -> tuple[str, int]:
    """``history.method`` -> (method, status); the inverse of ``history_method``."""
    method, _, status = value.partition(" ")
    return method, int(status) if status.isdigit() else _LEGACY_STATUS.get(method, 200)


@dataclass(slots=True)
class WriteResult:
    resource: StoredResource
    created: bool = False  # a new resource (201) rather than a new version of one (200)
    unchanged: bool = False  # a conditional create matched, or a no-op delete
    # warnings found on the way in (e.g. lenient validation) for the client's OperationOutcome
    issues: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class SearchResult:
    matches: list[StoredResource]
    total: int | None = None  # None when _total=none or not computed
    included: list[StoredResource] = field(default_factory=list)
    # search parameters the store ignored (unknown or unsupported); reported to the client
    ignored: list[str] = field(default_factory=list)
    # keyset positions of the pages after and before this one (None: no such page, or no rows
    # to continue from); ``search.paging`` turns them into ``_page`` links
    next_page: PagePosition | None = None
    previous_page: PagePosition | None = None


class Preparer(Protocol):
    def prepare(self, type_: str, id_: str, resource: dict[str, Any]) -> PreparedWrite:
        """``resource`` serialised as ``type_/id_`` with its index rows: CPU work that needs no
        transaction, so it can run before the write lock. Pass the result to create/update."""


class StoreSession(Preparer, Protocol):
    """A write transaction. Reads and searches see the session's own writes."""

    def read(self, type_: str, id_: str) -> StoredResource | None:
        """The current version (a deletion marker when deleted), or None if it never existed."""

    def search(self, query: SearchQuery) -> SearchResult: ...

    def vread(self, type_: str, id_: str, version: int) -> StoredResource:
        """One version as the session sees it; 404 when absent, 410 when it is a deletion."""

    def versions(
        self,
        type_: str | None = None,
        id_: str | None = None,
        since: str | None = None,
        count: int = 50,
        offset: int = 0,
    ) -> tuple[list[StoredResource], int]:
        """``Store.history`` as the session sees it (its own writes included)."""

    def create(
        self,
        resource: dict[str, Any] | PreparedWrite,
        id_: str | None = None,
        *,
        minted: bool = False,
        method: str = "POST",
    ) -> WriteResult:
        """Store a new resource; assigns a new id unless ``id_`` is given (create-on-update).
        ``minted``: ``id_`` was just made by ``store.ids.new_id`` (so it cannot exist yet).
        ``method``: the request's, for the history (a conditional PUT creates too)."""

    def update(
        self,
        type_: str,
        id_: str,
        resource: dict[str, Any] | PreparedWrite,
        if_match: int | None = None,
        *,
        method: str = "PUT",
    ) -> WriteResult:
        """New version (or create when absent or deleted). ``if_match`` mismatch raises 412.
        ``method``: PUT, or PATCH for a patch; the history records it with 201 or 200."""

    def delete(
        self, type_: str, id_: str, if_match: int | None = None, *, status: int = 204
    ) -> WriteResult | None:
        """Logical delete. None if there was nothing to delete (already deleted or absent).
        ``status``: what the client is answered (200 with an OperationOutcome), for the history."""

    def lock_keys(self, keys: list[str]) -> None:
        """Hold ``keys`` until this session ends: another session asking for any of them waits.

        For decisions that read, then write what the read did not find (identity linkage: no
        person found, so a new one is made). PostgreSQL takes advisory locks; SQLite sessions
        already run one at a time.
        """


class Store(Preparer, Protocol):
    dialect: str  # "sqlite" | "postgresql"

    def read(self, type_: str, id_: str) -> StoredResource:
        """Current version. Raises FhirError 404 (unknown) or 410 (deleted)."""

    def vread(self, type_: str, id_: str, version: int) -> StoredResource:
        """One version. Raises 404 when absent; 410 when that version is a deletion."""

    def history(
        self,
        type_: str | None = None,
        id_: str | None = None,
        since: str | None = None,
        count: int = 50,
        offset: int = 0,
    ) -> tuple[list[StoredResource], int]:
        """Versions newest first (system, type or instance level) and the total count."""

    def search(self, query: SearchQuery) -> SearchResult: ...

    def session(self) -> AbstractContextManager[StoreSession]:
        """A write transaction: commits when the block exits normally, rolls back otherwise."""

    def count(self, type_: str | None = None) -> int:
        """Number of current (not deleted) resources."""

    def bulk_load(self, resources: Iterator[dict[str, Any]], batch_size: int = 1000) -> int:
        """Fast path for loading plain resources with ids (create-or-update). Returns count.

        Below the write path: no validation, no identity linkage, no audit. Only benchmarks and
        fixtures use it; a Patient loaded here belongs to no person until ``gpbridge link --rebuild``.
        """

    def close(self) -> None: ...
