"""SQLite writers take turns through the ``<db>-writer`` lock file (store.sqlite._WriterQueue)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from gpbridge.store import sqlite as sqlite_store
from gpbridge.store.sqlite import SQLiteStore


def patient(n: int) -> dict:
    return {"resourceType": "Patient", "id": f"p{n}", "gender": "unknown"}


def test_writers_in_two_stores_on_one_file_all_land(tmp_path: Path) -> None:
    """Two stores stand for two server workers; each writes from two threads at once."""
    path = str(tmp_path / "shared.db")
    stores = [SQLiteStore(path), SQLiteStore(path)]
    errors: list[BaseException] = []

    def write(store: SQLiteStore, start: int) -> None:
        try:
            for n in range(start, start + 25):
                with store.session() as s:
                    s.update("Patient", f"p{n}", patient(n))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(stores[k % 2], k * 100)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert stores[0].count("Patient") == 100
    assert os.path.exists(path + "-writer")
    for store in stores:
        store.close()


def test_a_writer_that_never_gets_its_turn_fails_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "held.db")
    store = SQLiteStore(path)
    monkeypatch.setattr(sqlite_store, "WRITER_WAIT_SECONDS", 0.05)
    holder = os.open(path + "-writer", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another writer, stuck mid-transaction
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            with store.session() as s:
                s.update("Patient", "p1", patient(1))
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    assert store.count("Patient") == 0
    with store.session() as s:  # the turn came free: writing works again
        s.update("Patient", "p1", patient(1))
    assert store.count("Patient") == 1
    store.close()
