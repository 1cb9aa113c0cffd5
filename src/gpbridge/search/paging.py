"""Keyset paging cursors: the ``_page`` value of a searchset's ``next`` and ``previous`` links.

A page is "the rows strictly after (or before) this row, in the query's order": the boundary
row's sort-key values, as the ORDER BY computes them, and its ``rid`` (the final tie-break), so a
page continues where the last one ended whatever was inserted, updated or deleted meanwhile
(``_offset`` repeats or skips a row then). ``search.sql`` turns a position into one more WHERE
condition; it never replaces one, so a cursor cannot widen what the caller may see.

The token is ``[version, "n"|"p", sort, keys, rid]`` (JSON) sealed with AES-GCM and base64url'd.
The keys are the boundary row's values (a family name, a birth date): links end up in access
logs and browser histories, so no patient value may be readable in one. The seal also makes an
edited or truncated cursor a 400 rather than a silently different page. ``sort`` fingerprints the
type and ``_sort``, so a cursor from another ordering is refused too. The key is the server's
(``use_key_file``: ``<var_dir>/keys/page-cursor.key``, shared by its workers); a process that
never set one (an in-process store) seals with a key of its own.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from hashlib import blake2b
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gpbridge.fhir.outcome import FhirError, bad_request
from gpbridge.search.query import PagePosition, SearchQuery

PARAMETER = "_page"
_VERSION = 1
_NONCE = 12  # bytes, AES-GCM's
_AAD = b"gpbridge _page"
_MAX_TOKEN = 4096  # characters: a handful of sort keys (codes, names, dates) fit many times over
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_KEY_BYTES = 32
# (the cipher, a key for nonces): one pair per process, from the server's secret
_key: list[tuple[AESGCM, bytes]] = []


def use_key_file(path: Path) -> None:
    """Seal cursors with the key in ``path``, made (0600) when absent. Every worker of a server
    reads the same file, so a link one worker wrote opens in another."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(os.urandom(_KEY_BYTES))
        try:
            os.link(temporary, path)  # atomic, and refuses if another worker got there first
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    secret = path.read_bytes()
    if len(secret) != _KEY_BYTES:
        raise ValueError(f"{path} must hold {_KEY_BYTES} bytes: delete it to have a new one made")
    _key[:] = [_keyed(secret)]


def _keyed(secret: bytes) -> tuple[AESGCM, bytes]:
    return AESGCM(secret), blake2b(secret, digest_size=32, person=b"_page nonce").digest()


def _sealer() -> tuple[AESGCM, bytes]:
    if not _key:
        _key.append(_keyed(os.urandom(_KEY_BYTES)))
    return _key[0]


def sort_fingerprint(query: SearchQuery) -> str:
    """What a cursor's key values mean: the searched type(s) and the sort keys, hashed."""
    types = query.type or ",".join(query.types) or "*"
    keys = ",".join(("-" if k.descending else "") + k.param for k in query.sort)
    return blake2b(f"{types}?{keys}".encode(), digest_size=6).hexdigest()


def encode(position: PagePosition, query: SearchQuery) -> str:
    body = orjson.dumps(
        [_VERSION, "n" if position.forward else "p", sort_fingerprint(query), list(position.keys), position.rid]
    )
    cipher, nonce_key = _sealer()
    # The nonce is a keyed hash of the position (SIV-style): one position, one link, so a page's
    # links are the same however often it is fetched; different positions never share a nonce.
    nonce = blake2b(body, digest_size=_NONCE, key=nonce_key).digest()
    token = nonce + cipher.encrypt(nonce, body, _AAD)
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
    if len(raw) <= _NONCE:
        raise _refused()
    try:
        body = _sealer()[0].decrypt(raw[:_NONCE], raw[_NONCE:], _AAD)
    except InvalidTag:
        raise _refused() from None
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
