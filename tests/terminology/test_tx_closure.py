"""The in-memory closure builder: every (ancestor, descendant) pair, self included, in key order."""

from __future__ import annotations

import random

import pytest

from gpbridge.store.dialect import POSTGRESQL, SQLITE
from gpbridge.terminology.closure import (
    CycleError,
    ancestors_sql,
    closure_rows,
    descendant_sets,
    descendants_sql,
)


def naive_closure(codes: list[str], parents: list[list[int]]) -> set[tuple[str, str]]:
    pairs = set()
    for node in range(len(codes)):
        stack, seen = [node], set()
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            pairs.add((codes[n], codes[node]))
            stack.extend(parents[n])
    return pairs


def test_diamond_with_multiple_parents() -> None:
    # root <- a, b ; c is-a a and b ; d is-a c
    codes = ["root", "a", "b", "c", "d"]
    parents = [[], [0], [0], [1, 2], [3]]
    total, rows = closure_rows(codes, parents)
    got = list(rows)
    assert total == len(got) == len(set(got))
    assert set(got) == naive_closure(codes, parents)
    assert ("root", "d") in got and ("d", "d") in got and ("a", "b") not in got
    assert got == sorted(got)  # written in clustered-key order


def test_random_dag_matches_a_naive_walk() -> None:
    rng = random.Random(7)
    n = 400
    codes = [str(100000 + i * 37) for i in range(n)]
    parents = [[] if i == 0 else rng.sample(range(i), k=min(i, rng.choice([1, 1, 2, 3]))) for i in range(n)]
    total, rows = closure_rows(codes, parents)
    got = list(rows)
    assert total == len(got)
    assert set(got) == naive_closure(codes, parents)


def test_duplicate_and_self_edges_do_not_duplicate_rows() -> None:
    desc = descendant_sets(3, [[], [0, 0, 1], [1]])
    assert sorted(desc[0]) == [0, 1, 2] and sorted(desc[1]) == [1, 2] and list(desc[2]) == [2]


def test_a_cycle_is_reported_not_looped_on() -> None:
    with pytest.raises(CycleError):
        descendant_sets(3, [[2], [0], [1]])


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRESQL], ids=lambda d: d.name)
def test_search_fragments_use_question_mark_placeholders(dialect) -> None:
    sql, params = descendants_sql(dialect, "http://snomed.info/sct", "73211009")
    assert "?" in sql and "%s" not in sql
    assert params == ["http://snomed.info/sct", "73211009"]
    sql, params = ancestors_sql(dialect, "http://snomed.info/sct", "73211009", include_self=False)
    assert sql.endswith("ancestor <> ?") and params[-1] == "73211009"
