"""Server-assigned ids are unique, valid FHIR ids, and ordered by creation time."""

from __future__ import annotations

import re
import threading
import uuid

from gpbridge.store.ids import new_id

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def test_ids_are_valid_unique_and_time_ordered() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(FHIR_ID.fullmatch(i) for i in ids)
    assert uuid.UUID(ids[0]).version == 7


def test_ids_are_unique_across_threads() -> None:
    out: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        mine = [new_id() for _ in range(2_000)]
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 16_000
