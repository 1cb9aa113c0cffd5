"""SQLite write floor by index layout: the same rows, written as the store writes them, four ways.

The ingest target (10,000 resources/s through HTTP on two cores) leaves about 200 us of CPU per
resource for everything. This bench measures how much of that the index layout alone takes: it
writes exactly the rows ``bench/ingest.py``'s raw mode writes (resource, history and every index
row the store builds for the synthetic population, compartment included, precomputed off the
clock) into fresh databases with the store's pragmas, one transaction per Bundle, and prints
resources/s and CPU us/resource for each layout, side by side in one run:

  current     the store's layout (schema v10): each ix_* table clustered by (rid, pid, ...) plus
              one search index per table led by the patient compartment (store.compartment)
  global      the layout before v10: the same search indexes without the compartment, so a
              Bundle's rows land all over each of them
  one-btree   each ix_* table clustered in compartment-led search order only: one B-tree per
              index row (deleting a resource's rows, per-candidate seeks by rid, would need more)
  no-search   no search index at all: the cost of the rows themselves (the floor of the floor)

A Bundle of the synthetic population is one patient's record, so with the compartment leading
its rows are neighbours in each search index; without it they scatter and a commit dirties pages
all over every index (docs/search.md, "What a write costs in pages").

    .venv/bin/python bench/sqlite_layout.py [--patients 300] [--entries 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median  # noqa: E402
from gpbridge.store.index_rows import INDEX_TABLES  # noqa: E402
from ingest import population, precompute_rows  # noqa: E402

LAYOUTS = ("current", "global", "one-btree", "no-search")
PRAGMAS = ("journal_mode = WAL", "synchronous = NORMAL", "cache_size = -65536", "temp_store = MEMORY",
           "mmap_size = 268435456", "wal_autocheckpoint = 50000")


# Per ix_* table, (primary key, search index columns): read from a database the store created, so
# this bench follows the store's migrations instead of a copy of them.
Keys = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]


def store_keys(path: str) -> Keys:
    conn = sqlite3.connect(path)
    keys: Keys = {}
    for table, _cols in INDEX_TABLES:
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        primary = tuple(name for _, name, *_, pk in sorted(info, key=lambda c: c[-1]) if pk)
        search = tuple(row[2] for row in conn.execute(f"PRAGMA index_info({table}_search)"))
        keys[table] = (primary, search)
    conn.close()
    return keys


def _search_key(keys: Keys, table: str) -> str:
    """The store's primary key reordered to search order: the same uniqueness."""
    primary, search = keys[table]
    return ", ".join([*search, *(c for c in primary if c not in search)])


def schema(conn: sqlite3.Connection, layout: str, keys: Keys) -> None:
    conn.execute("CREATE TABLE resource (rid INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, "
                 "version INTEGER NOT NULL, lu REAL NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)")
    conn.execute("CREATE UNIQUE INDEX resource_id_type ON resource (id, type)")  # as schema v12
    conn.execute("CREATE INDEX resource_type_lu ON resource (type, deleted, lu)")
    conn.execute("CREATE TABLE history (rid INTEGER NOT NULL, version INTEGER NOT NULL, lu REAL NOT NULL, "
                 "last_updated TEXT NOT NULL, method TEXT NOT NULL, content BLOB, PRIMARY KEY (rid, version))")
    conn.execute("CREATE INDEX history_lu ON history (lu)")
    for table, cols in INDEX_TABLES:
        columns, key = ", ".join(cols), ", ".join(keys[table][0])
        search = ", ".join(keys[table][1])
        if layout == "current":
            conn.execute(f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({key})) WITHOUT ROWID")
            conn.execute(f"CREATE INDEX {table}_search ON {table} ({search})")
        elif layout == "global":
            conn.execute(f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({key})) WITHOUT ROWID")
            conn.execute(f"CREATE INDEX {table}_search ON {table} ({search.removeprefix('comp, ')})")
        elif layout == "one-btree":
            conn.execute(f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({_search_key(keys, table)})) WITHOUT ROWID")
        else:
            conn.execute(f"CREATE TABLE {table} ({columns})")


def write(path: str, layout: str, rows: list, keys: Keys) -> tuple[float, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    schema(conn, layout, keys)
    started, cpu = time.perf_counter(), time.process_time()
    for res_rows, hist_rows, idx in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO resource VALUES (?, ?, ?, ?, ?, ?)", res_rows)
        conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?)", hist_rows)
        for (table, cols), table_rows in zip(INDEX_TABLES, idx, strict=True):
            if table_rows:
                conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(cols))})", table_rows)
        conn.execute("COMMIT")
    timing = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return timing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--entries", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    bundles, resources = population(args.patients, args.entries)
    with tempfile.TemporaryDirectory() as tmpdir:
        rows = precompute_rows(f"sqlite:///{tmpdir}/rows.db", bundles)
        keys = store_keys(f"{tmpdir}/rows.db")
        index_rows = sum(len(t) for _, _, idx in rows for t in idx)
        print(f"population: {len(bundles)} Bundles, {resources:,} resources, {index_rows:,} index rows "
              f"({index_rows / resources:.1f} a resource); runs alternate between layouts")
        walls: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        cpus: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        for n in range(args.repeat):  # alternating, so a slow spell of the machine hits every layout
            for layout in LAYOUTS:
                wall, cpu = write(f"{tmpdir}/{layout}-{n}.db", layout, rows, keys)
                walls[layout].append(wall)
                cpus[layout].append(cpu)
    base = median(cpus["current"])
    print(f"\n{'layout':12} {'resources/s':>12} {'CPU us/resource':>16} {'vs current':>11}")
    for layout in LAYOUTS:
        cpu = median(cpus[layout])
        print(f"{layout:12} {resources / median(walls[layout]):>12,.0f} {cpu / resources * 1e6:>16,.0f} "
              f"{base / cpu:>10.2f}x")


if __name__ == "__main__":
    main()
