"""SQLite inserts rows in multi-row statements (store.sqlite.ROWS_PER_INSERT): every row lands once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpbridge.store import sqlite as sqlite_store
from gpbridge.store.sqlite import SQLiteStore


@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 16, 17, 63, 64, 65, 150, 1_000])
def test_every_row_lands_once_whatever_the_count(tmp_path: Path, count: int) -> None:
    store = SQLiteStore(str(tmp_path / "rows.db"))
    cols = ("rid", "pid", "comp", "uri")
    rows = [(n, 7, 0, f"http://example.org/{n}") for n in range(count)]
    with store._write_cursor() as cur:  # noqa: SLF001
        store.insert_rows(cur, "ix_uri", cols, rows)
    with store._read_cursor() as cur:  # noqa: SLF001
        cur.execute("SELECT rid, pid, comp, uri FROM ix_uri ORDER BY rid")
        assert cur.fetchall() == rows
    store.close()


def test_statements_are_few_sizes_and_a_failure_writes_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "rows.db"))
    cols = ("rid", "pid", "comp", "uri")
    rows = [(n, 7, 0, "http://example.org/same") for n in range(70)]
    with pytest.raises(Exception, match="UNIQUE"):
        with store._write_cursor() as cur:  # noqa: SLF001
            store.insert_rows(cur, "ix_uri", cols, [*rows, rows[-1]])  # a duplicate in the last statement
    with store._read_cursor() as cur:  # noqa: SLF001
        cur.execute("SELECT count(*) FROM ix_uri")
        assert cur.fetchone()[0] == 0  # the transaction rolled back the statements before it
    store.close()
    sizes = {size for (table, _cols, size) in sqlite_store._insert_sql if table == "ix_uri"}  # noqa: SLF001
    assert sizes <= set(sqlite_store.ROWS_PER_INSERT)
