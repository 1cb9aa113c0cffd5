"""Version 10: every index row carries its resource's compartment, and each search index leads
with it (``store.compartment``; docs/search.md, "What a write costs as the database grows").

The DDL adds the ``compartment`` table; the data step adds the ``comp`` column (0 for every
existing row), files existing rows under their compartments, worked out from the stored
``patient`` reference rows exactly as a write does, then rebuilds each search index with ``comp``
first, where the dialect files rows so (``Dialect.compartment_indexes``: SQLite). On PostgreSQL
the column is added and stays 0.
"""

from __future__ import annotations

from typing import Any

from gpbridge.store import compartment
from gpbridge.store.dialect import Dialect
from gpbridge.store.migrations import Migration

# Each table's search index as version 1 and 2 made it; version 10 puts ``comp`` in front.
SEARCH_COLUMNS = {
    "ix_token": "pid, code, system, rid",
    "ix_string": "pid, norm, rid",
    "ix_date": "pid, lo, hi, rid",
    "ix_number": "pid, value, rid",
    "ix_quantity": "pid, code, value, rid",
    "ix_reference": "pid, tid, ttype, rid",
    "ix_uri": "pid, uri, rid",
    "ix_composite": "pid, code1, system1, rid",
}
BATCH = 5_000


def ddl(d: Dialect) -> list[str]:
    ident = "INTEGER PRIMARY KEY" if d.name == "sqlite" else "BIGINT PRIMARY KEY"
    return [
        f"CREATE TABLE IF NOT EXISTS compartment (comp {ident})",
        f"INSERT INTO compartment (comp) VALUES ({compartment.NONE}), ({compartment.SEVERAL}) ON CONFLICT DO NOTHING",
    ]


def _has_column(cur: Any, d: Dialect, table: str, column: str) -> bool:
    if d.name == "sqlite":
        cur.execute(f"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'")
    else:
        cur.execute("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() "
                    f"AND table_name = '{table}' AND column_name = '{column}'")
    return bool(cur.fetchone()[0])


def file_rows(cur: Any, d: Dialect, store: Any) -> None:
    for table in SEARCH_COLUMNS:  # checked first, so running this again (tests re-run it) is harmless
        if not _has_column(cur, d, table, "comp"):
            cur.execute(f"ALTER TABLE {table} ADD COLUMN comp {d.integer} NOT NULL DEFAULT 0")
    store._load_search_params_with(cur)
    if not d.compartment_indexes:
        return  # search indexes without compartments (PostgreSQL): every row keeps comp 0
    # ``patient``'s rows, or its source's where it is a reference view (search.derived)
    from gpbridge.search.sql import pid_filter

    homes = sorted(t for (t, code) in store.pids if code == compartment.HOME_PARAMETER)
    home_sql, home_params = pid_filter(store.pids, "x", homes, compartment.HOME_PARAMETER)
    patients: dict[int, set[str]] = {}
    if home_params:
        cur.execute(d.sql(f"SELECT x.rid, x.ttype, x.tid FROM ix_reference x WHERE {home_sql}"), home_params)
        for rid, ttype, tid in cur.fetchall():
            patient = compartment.local_patient_id(ttype, tid)
            if patient is not None:
                patients.setdefault(rid, set()).add(patient)
    comps = [(compartment.of_patients(ids), rid) for rid, ids in sorted(patients.items())]
    for table in SEARCH_COLUMNS:
        for start in range(0, len(comps), BATCH):
            cur.executemany(d.sql(f"UPDATE {table} SET comp = ? WHERE rid = ?"), comps[start:start + BATCH])
    global_pids = [pid for (_, code), pid in store.pids.items() if code in compartment.GLOBAL_PARAMETERS]
    for start in range(0, len(global_pids), BATCH):
        chunk = global_pids[start:start + BATCH]
        cur.execute(d.sql(f"UPDATE ix_token SET comp = ? WHERE pid IN ({', '.join('?' for _ in chunk)})"),
                    [compartment.NONE, *chunk])
    known = sorted({comp for comp, _ in comps} - {compartment.NONE, compartment.SEVERAL})
    for start in range(0, len(known), BATCH):
        cur.executemany(d.sql("INSERT INTO compartment (comp) VALUES (?) ON CONFLICT DO NOTHING"),
                        [(c,) for c in known[start:start + BATCH]])
    for table, columns in SEARCH_COLUMNS.items():
        cur.execute(f"DROP INDEX IF EXISTS {table}_search")
        cur.execute(f"CREATE INDEX {table}_search ON {table} (comp, {columns})")


MIGRATION = Migration(10, "index rows filed by patient compartment; search indexes lead with it", ddl, file_rows)
