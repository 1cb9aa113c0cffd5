"""Keyset paging cursors: the ``_page`` value of a searchset's ``next`` and ``previous`` links.

A page is "the rows strictly after (or before) this row, in the query's order": the boundary
row's sort-key values, as the ORDER BY computes them, and its ``rid`` (the final tie-break), so a
page continues where the last one ended whatever was inserted, updated or deleted meanwhile
(``_offset`` repeats or skips a row then). ``search.sql`` turns a position into one more WHERE
condition; it never replaces one, so a cursor cannot widen what the caller may see.

The token is base64url of ``[version, "n"|"p", sort, keys, rid]`` (JSON) and a keyed BLAKE2b
checksum. The checksum is not a secret: it makes an edited or truncated cursor a 400 rather
than a silently different page. ``sort`` fingerprints the type and ``_sort``, so a cursor from
another ordering is refused too.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from hashlib import blake2b
from typing import Any

import orjson

from gpbridge.fhir.outcome import FhirError, bad_request
from gpbridge.search.query import PagePosition, SearchQuery

PARAMETER = "_page"
_VERSION = 1
_CHECKSUM = 8  # bytes
_MAX_TOKEN = 4096  # characters: a handful of sort keys (codes, names, dates) fit many times over
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_KEY = b"gpbridge _page cursor"


def sort_fingerprint(query: SearchQuery) -> str:
    """What a cursor's key values mean: the searched type(s) and the sort keys, hashed."""
    types = query.type or ",".join(query.types) or "*"
    keys = ",".join(("-" if k.descending else "") + k.param for k in query.sort)
    return blake2b(f"{types}?{keys}".encode(), digest_size=6).hexdigest()


def encode(position: PagePosition, query: SearchQuery) -> str:
    body = orjson.dumps(
        [_VERSION, "n" if position.forward else "p", sort_fingerprint(query), list(position.keys), position.rid]
    )
    token = body + blake2b(body, digest_size=_CHECKSUM, key=_KEY).digest()
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def decode(token: str, query: SearchQuery) -> PagePosition:
    """The position a ``_page`` value names, checked against ``query``'s sort: 400 otherwise."""
    try:
        return _decode(token, query)
    except FhirError:
        raise
    except Exception:  # noqa: BLE001 - any malformed token is the same client error
        raise _refused() from None


def _decode(token: str, query: SearchQuery) -> PagePosition:
    if not token or len(token) > _MAX_TOKEN or not _TOKEN.fullmatch(token):
        raise _refused()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _refused() from None
    if len(raw) <= _CHECKSUM:
        raise _refused()
    body, checksum = raw[:-_CHECKSUM], raw[-_CHECKSUM:]
    if blake2b(body, digest_size=_CHECKSUM, key=_KEY).digest() != checksum:
        raise _refused()
    value = orjson.loads(body)
    if not isinstance(value, list) or len(value) != 5 or value[0] != _VERSION:
        raise _refused()
    _, direction, fingerprint, keys, rid = value
    if direction not in ("n", "p") or not isinstance(keys, list) or not _is_int(rid):
        raise _refused()
    if fingerprint != sort_fingerprint(query):
        raise bad_request(f"{PARAMETER} belongs to a search with another _sort: start again from the first page",
                          PARAMETER)
    expected = key_kinds(query)
    if len(keys) != len(expected) or not all(_fits(v, kind) for v, kind in zip(keys, expected, strict=True)):
        raise _refused()
    return PagePosition(direction == "n", tuple(keys), rid)


def key_kinds(query: SearchQuery) -> list[str]:
    """Per ORDER BY key (before the rid), the values a cursor may hold: ``text`` and ``number``
    never NULL (``_id``, ``_lastUpdated``, the default order's lastUpdated); ``value`` a search
    parameter's MIN/MAX, which is NULL for a resource without one."""
    if not query.sort:
        return ["number"]
    kinds: list[str] = []
    for key in query.sort:
        kinds.append("text" if key.param == "_id" else "number" if key.param == "_lastUpdated" else "value")
    return kinds


def _fits(value: Any, kind: str) -> bool:
    if isinstance(value, str):
        return kind in ("text", "value")
    if _is_number(value):
        return kind in ("number", "value")
    return value is None and kind == "value"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if _is_int(value):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _refused() -> FhirError:
    return bad_request(f"{PARAMETER} is not a paging link this server gave: start again from the first page",
                       PARAMETER)
