"""``_page`` cursors are sealed: no patient value readable in a link, the same key for every
worker of a server, and an edited cursor refused."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gpbridge.fhir.outcome import FhirError
from gpbridge.search import paging
from gpbridge.search.parse import parse_search
from gpbridge.search.query import PagePosition


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_a_cursor_shows_no_value_of_its_boundary_row(tmp_path: Path) -> None:
    paging.use_key_file(tmp_path / "keys" / "page-cursor.key")
    query = parse_search("Patient", [("_sort", "family")])
    token = paging.encode(PagePosition(True, ("Featherstonehaugh",), 123), query)
    assert b"Featherstonehaugh" not in _raw(token) and b"123" not in _raw(token)
    assert paging.decode(token, query) == PagePosition(True, ("Featherstonehaugh",), 123)


def test_every_worker_of_a_server_reads_the_same_key(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "page-cursor.key"
    paging.use_key_file(key)  # the first worker makes it (0600)
    assert key.stat().st_mode & 0o777 == 0o600
    query = parse_search("Observation", [("_sort", "-date")])
    token = paging.encode(PagePosition(False, (1.5e9,), 7), query)
    paging.use_key_file(key)  # another worker: reads it
    assert paging.decode(token, query).rid == 7
    paging.use_key_file(tmp_path / "other.key")  # another server's key cannot open it
    with pytest.raises(FhirError) as refused:
        paging.decode(token, query)
    assert refused.value.status == 400


def test_an_edited_cursor_is_refused(tmp_path: Path) -> None:
    paging.use_key_file(tmp_path / "page-cursor.key")
    query = parse_search("Patient", [("_sort", "family")])
    raw = bytearray(_raw(paging.encode(PagePosition(True, ("Smith",), 1), query)))
    raw[-1] ^= 1
    with pytest.raises(FhirError):
        paging.decode(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="), query)


def test_one_position_gives_one_link(tmp_path: Path) -> None:
    paging.use_key_file(tmp_path / "page-cursor.key")
    query = parse_search("Patient", [("_sort", "family")])
    first = paging.encode(PagePosition(True, ("Smith",), 1), query)
    assert paging.encode(PagePosition(True, ("Smith",), 1), query) == first
    assert paging.encode(PagePosition(True, ("Smith",), 2), query) != first
