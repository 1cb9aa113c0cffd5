"""A resource made ready to store before the write transaction starts.

Serialising the JSON and extracting its index rows are the CPU-heavy part of a write and need
nothing from the database, so they run outside the write lock (``SqlStore.prepare``) and a second
worker can overlap them with the one writer. Only the version and ``lastUpdated`` are known inside
the transaction: they are spliced into the bytes there (``content``). Index rows leave out the
``rid``, which the session prefixes when it flushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gpbridge.fhir.outcome import Issue

_SERVER_OWNED = frozenset({"resourceType", "id", "meta"})
_META_OWNED = frozenset({"versionId", "lastUpdated"})


@dataclass(slots=True)
class PreparedWrite:
    type: str
    id: str
    head: bytes  # '{"resourceType":..,"id":..,"meta":{"versionId":"'
    rest: bytes  # '"' + the client's other meta + '}' + the other elements + '}'
    index: list[list[tuple]]  # rows per ``INDEX_TABLES`` table, each without its rid and comp
    issues: list[Issue] = field(default_factory=list)  # validation warnings to report
    comp: int = 0  # the resource's compartment (``store.compartment``)

    def content(self, version: int, last_updated: str) -> bytes:
        """The stored JSON: resourceType, id and meta (versionId, lastUpdated first) lead."""
        return b"".join((self.head, str(version).encode(), b'","lastUpdated":"', last_updated.encode(), self.rest))


def serialise_parts(type_: str, id_: str, resource: dict[str, Any]) -> tuple[bytes, bytes]:
    """``(head, rest)`` of the stored JSON, leaving the version and lastUpdated to ``content``."""
    head = b'{"resourceType":' + orjson.dumps(type_) + b',"id":' + orjson.dumps(id_) + b',"meta":{"versionId":"'
    meta = resource.get("meta")
    other_meta = {k: v for k, v in meta.items() if k not in _META_OWNED} if isinstance(meta, dict) else None
    body = {k: v for k, v in resource.items() if k not in _SERVER_OWNED}
    rest = b"".join((
        b'"',
        b"," + orjson.dumps(other_meta)[1:-1] if other_meta else b"",
        b"}",
        b"," + orjson.dumps(body)[1:] if body else b"}",
    ))
    return head, rest
