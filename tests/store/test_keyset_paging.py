"""Keyset paging (``_page``): next/previous continue from a page's boundary rows, on both stores.

``_offset`` paging repeated a row when one was inserted before it and skipped one when a row of
an earlier page was deleted; a ``_page`` cursor names the boundary row's sort keys and rid, so
the next page is exactly the rows after it in the current order.
"""

from __future__ import annotations

import pytest

from gpbridge.fhir.outcome import FhirError
from gpbridge.search import paging
from gpbridge.search.parse import parse_search
from gpbridge.search.query import SearchQuery
from gpbridge.store.base import SearchResult, Store

SCT = "http://snomed.info/sct"
CODE = f"{SCT}|77176002"


def observation(id_: str, when: str | None, value: float | None = None, code: str = "77176002",
                status: str = "final") -> dict:
    obs: dict = {
        "resourceType": "Observation",
        "id": id_,
        "status": status,
        "code": {"coding": [{"system": SCT, "code": code}]},
        "subject": {"reference": "Patient/p1"},
    }
    if when is not None:
        obs["effectiveDateTime"] = when
    if value is not None:
        obs["valueQuantity"] = {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
    return obs


def put(store: Store, resource: dict) -> None:
    with store.session() as s:
        s.update(resource["resourceType"], resource["id"], resource)


def delete(store: Store, type_: str, id_: str) -> None:
    with store.session() as s:
        s.delete(type_, id_)


def search(store: Store, params: list[tuple[str, str]], page: str | None = None) -> tuple[SearchQuery, SearchResult]:
    query = parse_search("Observation", [*params, *([("_page", page)] if page else [])])
    return query, store.search(query)


def ids(result: SearchResult) -> list[str]:
    return [m.id for m in result.matches]


def link(query: SearchQuery, result: SearchResult, relation: str) -> str | None:
    position = result.next_page if relation == "next" else result.previous_page
    return paging.encode(position, query) if position is not None else None


def everything(store: Store, params: list[tuple[str, str]]) -> list[str]:
    query = parse_search("Observation", [*(p for p in params if p[0] != "_count"), ("_count", "1000")])
    return ids(store.search(query))


def dated(store: Store, n: int) -> None:
    for i in range(n):
        put(store, observation(f"o{i:02d}", f"20{10 + i:02d}-03-01"))


QA = [("code", CODE), ("_sort", "date"), ("_count", "5")]


def test_insert_before_the_cursor_repeats_nothing(store: Store) -> None:
    dated(store, 12)
    q1, page1 = search(store, QA)
    assert ids(page1) == [f"o{i:02d}" for i in range(5)] and page1.total == 12
    put(store, observation("early", "1800-01-01"))  # sorts first: before the cursor
    q2, page2 = search(store, QA, link(q1, page1, "next"))
    assert ids(page2) == [f"o{i:02d}" for i in range(5, 10)]  # _offset=5 repeated o04 here
    assert page2.total == 13  # the total is the whole result's, now
    q3, page3 = search(store, QA, link(q2, page2, "next"))
    assert ids(page3) == ["o10", "o11"] and page3.next_page is None
    # and back: page 2 again, the five rows before it, then the new row on a page of its own
    q2b, back2 = search(store, QA, link(q3, page3, "previous"))
    assert ids(back2) == ids(page2)
    q1b, back1 = search(store, QA, link(q2b, back2, "previous"))
    assert ids(back1) == ["o00", "o01", "o02", "o03", "o04"]
    _, back0 = search(store, QA, link(q1b, back1, "previous"))
    assert ids(back0) == ["early"] and back0.previous_page is None and back0.next_page is not None


def test_delete_on_an_earlier_page_skips_nothing(store: Store) -> None:
    dated(store, 12)
    q1, page1 = search(store, QA)
    delete(store, "Observation", "o01")
    _, page2 = search(store, QA, link(q1, page1, "next"))
    assert ids(page2) == [f"o{i:02d}" for i in range(5, 10)]  # _offset=5 skipped o05 here


def test_the_cursor_row_itself_deleted(store: Store) -> None:
    dated(store, 12)
    q1, page1 = search(store, QA)
    delete(store, "Observation", "o04")  # the row the next link continues from
    q2, page2 = search(store, QA, link(q1, page1, "next"))
    assert ids(page2) == [f"o{i:02d}" for i in range(5, 10)]
    _, back = search(store, QA, link(q2, page2, "previous"))
    assert ids(back) == ["o00", "o01", "o02", "o03"]


def test_update_that_changes_a_sort_key(store: Store) -> None:
    dated(store, 12)
    q1, page1 = search(store, QA)
    put(store, observation("o07", "1990-01-01"))  # from after the cursor to before it: left behind
    put(store, observation("o02", "2030-01-01"))  # from page 1 to the end: met again there
    seen = list(ids(page1))
    query, result = q1, page1
    while (token := link(query, result, "next")) is not None:
        query, result = search(store, QA, token)
        seen += ids(result)
    assert seen == ["o00", "o01", "o02", "o03", "o04", "o05", "o06", "o08", "o09", "o10", "o11", "o02"]


def test_empty_page_after_every_later_row_is_deleted(store: Store) -> None:
    dated(store, 7)
    q1, page1 = search(store, QA)
    delete(store, "Observation", "o05")
    delete(store, "Observation", "o06")
    q2, page2 = search(store, QA, link(q1, page1, "next"))
    assert ids(page2) == [] and page2.next_page is None
    _, back = search(store, QA, link(q2, page2, "previous"))  # the cursor's row included
    assert ids(back) == ["o00", "o01", "o02", "o03", "o04"]


def mixed(store: Store) -> None:
    """Ties and missing values on every sort key."""
    rows = [
        ("m01", "2020-01-01", 70.0, "final"), ("m02", "2020-01-01", 70.0, "final"),
        ("m03", "2020-01-01", None, "amended"), ("m04", None, 70.0, "final"),
        ("m05", None, None, "final"), ("m06", "2019-06-01", 82.5, "preliminary"),
        ("m07", "2021-02-03T10:00:00Z", 82.5, "final"), ("m08", None, 60.0, "amended"),
        ("m09", "2020-01-01", 60.0, "final"), ("m10", "2019-06-01", None, "final"),
        ("m11", None, None, "amended"), ("m12", "2021-02-03T10:00:00Z", 70.0, "final"),
        ("m13", "2018", 70.0, "final"), ("m14", "2020-01-01", 82.5, "cancelled"),
    ]
    for id_, when, value, status in rows:
        put(store, observation(id_, when, value, status=status))


SORTS = ["date,-value-quantity", "-date,_id", "-value-quantity,date", "status,-date,value-quantity",
         "_lastUpdated", "-_id", ""]


@pytest.mark.parametrize("sort", SORTS)
def test_walk_forward_then_back_gives_the_whole_order(store: Store, sort: str) -> None:
    mixed(store)
    base = [("code", CODE), *([("_sort", sort)] if sort else [])]
    expected = everything(store, base)
    assert len(expected) == 14
    for count in (1, 3, 5):
        params = [*base, ("_count", str(count))]
        query, result = search(store, params)
        pages = [ids(result)]
        assert result.previous_page is None
        while (token := link(query, result, "next")) is not None:
            query, result = search(store, params, token)
            pages.append(ids(result))
        assert [i for page in pages for i in page] == expected, (sort, count)
        assert all(len(p) == count for p in pages[:-1]) and pages[-1]
        backwards = [ids(result)]
        while (token := link(query, result, "previous")) is not None:
            query, result = search(store, params, token)
            backwards.append(ids(result))
        assert [i for page in reversed(backwards) for i in page] == expected, (sort, count)
        assert backwards == list(reversed(pages))


def test_cursor_with_total_none_summary_and_include(store: Store) -> None:
    mixed(store)
    params = [("code", CODE), ("_sort", "-date"), ("_count", "4"), ("_total", "none"),
              ("_include", "Observation:subject")]
    put(store, {"resourceType": "Patient", "id": "p1"})
    query, result = search(store, params)
    assert result.total is None and [m.id for m in result.included] == ["p1"]
    query, page2 = search(store, params, link(query, result, "next"))
    assert len(page2.matches) == 4 and [m.id for m in page2.included] == ["p1"] and page2.total is None
    # _summary=count: the total of the whole result, whatever the cursor
    _, counted = search(store, [*params, ("_summary", "count")], link(query, page2, "next"))
    assert counted.total == 14 and counted.matches == []


@pytest.mark.parametrize("token", [
    "", "x", "not a cursor!", "AAAA", "A" * 5000,
    "eyJ2IjoxfQ",  # base64url JSON without the checksum
])
def test_malformed_cursor_is_400(store: Store, token: str) -> None:
    with pytest.raises(FhirError) as exc:
        parse_search("Observation", [("_sort", "date"), ("_page", token)])
    assert exc.value.status == 400 and "_page" in str(exc.value.issues[0].expression)


def test_tampered_or_foreign_cursor_is_400(store: Store) -> None:
    dated(store, 4)
    query, result = search(store, [("_sort", "date"), ("_count", "2")])
    token = link(query, result, "next")
    assert token is not None
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    for bad, params in ((flipped, [("_sort", "date")]),  # edited
                        (token, [("_sort", "-date")]),  # another ordering's
                        (token, [("_sort", "date"), ("_offset", "2")])):  # both paging styles
        with pytest.raises(FhirError) as exc:
            parse_search("Observation", [*params, ("_page", bad)])
        assert exc.value.status == 400


def test_offset_paging_still_works(store: Store) -> None:
    dated(store, 7)
    _, result = search(store, [*QA, ("_offset", "5")])
    assert ids(result) == ["o05", "o06"] and result.total == 7
    assert result.next_page is None and result.previous_page is not None
