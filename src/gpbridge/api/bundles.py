"""Searchset and history Bundles, with paging links built from what the query understood.

Stored resources are embedded as ``orjson.Fragment`` — the stored bytes go out unparsed — unless
``_summary``/``_elements`` ask for a subset.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from gpbridge.api.elements import subset, wants_subset
from gpbridge.fhir.outcome import operation_outcome, warning
from gpbridge.search import paging
from gpbridge.search.paging import PARAMETER as PAGE
from gpbridge.search.query import SearchQuery
from gpbridge.store.base import SearchResult, StoredResource
from gpbridge.store.transaction import status_line


def page_links(
    url: str,
    params: list[tuple[str, str]],
    *,
    count: int,
    offset: int,
    total: int | None,
    page_len: int,
    keyset: bool = False,
    page: str | None = None,
    next_page: str | None = None,
    previous_page: str | None = None,
) -> list[dict[str, str]]:
    """self/first/previous/next/last links; ``url`` is absolute, ``params`` exclude paging.

    ``keyset`` (searches): next and previous continue from this page's last and first rows
    (``_page``, ``search.paging``); ``page`` is the ``_page`` this page was asked for, kept in the
    self link. Otherwise (history) every link is an ``_offset``, as first and last always are.
    """

    def link(relation: str, at: int, cursor: str | None = None) -> dict[str, str]:
        paging = [("_count", str(count))]
        paging += [(PAGE, cursor)] if cursor is not None else [("_offset", str(at))] if at else []
        query = urlencode([*params, *paging], quote_via=quote, safe=":/|,$")
        return {"relation": relation, "url": f"{url}?{query}"}

    links = [link("self", offset, page), link("first", 0)]
    if keyset and count > 0:
        if previous_page is not None:
            links.append(link("previous", 0, previous_page))
        elif page is None and offset > 0:  # an offset past the end: no row to continue from
            links.append(link("previous", max(0, offset - count)))
        if next_page is not None:
            links.append(link("next", 0, next_page))
    elif count > 0:
        if offset > 0:
            links.append(link("previous", max(0, offset - count)))
        more = offset + count < total if total is not None else page_len >= count
        if more:
            links.append(link("next", offset + count))
    if count > 0 and total is not None:
        links.append(link("last", max(total - 1, 0) // count * count))
    return links


def searchset(query: SearchQuery, result: SearchResult, base: str, url: str) -> dict[str, Any]:
    params = list(query.raw)
    if query.total != "accurate":
        params.append(("_total", query.total))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "searchset"}
    if result.total is not None and query.total != "none":
        bundle["total"] = result.total
    bundle["link"] = page_links(
        url, params, count=query.count, offset=query.offset, total=result.total, page_len=len(result.matches),
        keyset=True, page=query.page_token if query.page is not None else None,
        next_page=paging.encode(result.next_page, query) if result.next_page is not None else None,
        previous_page=paging.encode(result.previous_page, query) if result.previous_page is not None else None,
    )
    entries: list[dict[str, Any]] = []
    if query.summary != "count":
        for stored in result.matches:
            entries.append(_search_entry(stored, base, "match", query))
        for stored in result.included:
            entries.append(_search_entry(stored, base, "include", query))
    ignored = [*query.ignored, *(p for p in result.ignored if p not in query.ignored)]
    if ignored:
        entries.append(ignored_outcome(ignored))
    if entries:
        bundle["entry"] = entries
    return bundle


def ignored_outcome(ignored: list[str]) -> dict[str, Any]:
    """The searchset entry (mode ``outcome``) that tells the client which parameters were ignored."""
    issues = [
        warning("not-supported", f"Search parameter '{p}' was not understood and was ignored", p)
        for p in ignored
    ]
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": operation_outcome(issues),
        "search": {"mode": "outcome"},
    }


def _search_entry(stored: StoredResource, base: str, mode: str, query: SearchQuery) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{stored.type}/{stored.id}",
        "resource": embed(stored, query.summary, query.elements),
        "search": {"mode": mode},
    }


def embed(stored: StoredResource, summary: str | None = None, elements: list[str] | None = None) -> Any:
    content = stored.content or b"{}"
    if wants_subset(summary, elements or []):
        return subset(content, stored.type, summary, elements or [])
    return orjson.Fragment(content)


def history_bundle(
    versions: list[StoredResource],
    total: int,
    base: str,
    url: str,
    params: list[tuple[str, str]],
    *,
    count: int,
    offset: int,
) -> dict[str, Any]:
    entries = [_history_entry(v, base) for v in versions]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "history",
        "total": total,
        "link": page_links(url, params, count=count, offset=offset, total=total, page_len=len(versions)),
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def _history_entry(version: StoredResource, base: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": f"{base}/{version.type}/{version.id}"}
    if not version.deleted and version.content is not None:
        entry["resource"] = orjson.Fragment(version.content)
    # as the store recorded the write: the method used and the status the client was answered
    method, status = version.request
    entry["request"] = {
        "method": method,
        "url": version.type if method == "POST" else f"{version.type}/{version.id}",
    }
    entry["response"] = {
        "status": status_line(status),
        "etag": version.etag,
        "lastModified": version.last_updated,
    }
    return entry

