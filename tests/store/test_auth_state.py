"""Sign-in state shared by worker processes (``auth_state``, schema v9) behaves the same on both stores."""

from __future__ import annotations

import threading
import time

from gpbridge.security.shared_state import MemoryState, StoreState
from gpbridge.store.base import Store


def test_a_value_is_taken_once_and_not_after_it_expires(store: Store) -> None:
    for state in (StoreState(store), MemoryState()):
        now = time.time()
        state.put("login:a", '{"x": 1}', now + 60)
        state.put("login:old", "{}", now - 1)
        assert state.take("login:a") == '{"x": 1}'
        assert state.take("login:a") is None
        assert state.take("login:old") is None
        assert state.take("login:never") is None


def test_first_use_is_true_once_until_the_mark_expires(store: Store) -> None:
    for state in (StoreState(store), MemoryState()):
        now = time.time()
        assert state.first_use("seen:jti-1", now + 60, now)
        assert not state.first_use("seen:jti-1", now + 60, now)
        assert state.first_use("seen:jti-1", now + 200, now + 61)  # expired: a new one may use it


def test_first_use_is_won_by_exactly_one_of_many_concurrent_claims(store: Store) -> None:
    state = StoreState(store)
    wins: list[bool] = []
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait(5)
        wins.append(state.first_use("seen:same", time.time() + 60))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(wins) == [False] * 7 + [True]
