"""Version 2: composite search parameters (``code-value-quantity=…|8480-6$gt100`` and the like).

One row per correlated pair of component values — both taken from the same element, so a blood
pressure panel's systolic code never pairs with its diastolic value. The data step indexes the
composites of every resource already stored, so an upgraded database searches like a new one.
"""

from __future__ import annotations

from typing import Any

import orjson

from gpbridge.store.dialect import Dialect
from gpbridge.store.migrations import Migration

BATCH = 2000


def ddl(d: Dialect) -> list[str]:
    i, r, k = d.integer, d.real, d.key_text
    return [
        f"""CREATE TABLE ix_composite (
            rid {i} NOT NULL, pid {i} NOT NULL, system1 {k} NOT NULL, code1 {k} NOT NULL,
            system2 {k} NOT NULL, code2 {k} NOT NULL, lo2 {r} NOT NULL, hi2 {r} NOT NULL, text2 {k} NOT NULL,
            PRIMARY KEY (rid, pid, system1, code1, system2, code2, lo2, hi2, text2))""" + d.without_rowid,
        "CREATE INDEX ix_composite_search ON ix_composite (pid, code1, system1, rid)",
    ]


def reindex_composites(cur: Any, d: Dialect, store: Any) -> None:
    """Index the composites of every current resource version (a database upgraded from v1)."""
    from gpbridge.store.index_rows import composite_rows

    store._load_search_params_with(cur)
    column = "h.content::text" if d.name == "postgresql" else "h.content"  # JSONB there until v8
    last = 0
    while True:
        cur.execute(
            d.sql(f"SELECT r.rid, r.type, {column} FROM resource r JOIN history h "
                  "ON h.rid = r.rid AND h.version = r.version WHERE r.deleted = 0 AND r.rid > ? "
                  "ORDER BY r.rid LIMIT ?"),
            (last, BATCH),
        )
        batch = cur.fetchall()
        if not batch:
            return
        rows: list[tuple] = []
        for rid, type_, content in batch:
            body = orjson.loads(content)
            rows.extend(composite_rows(store.pids, type_, body, rid))
            last = rid
        if rows:
            store.insert_rows(cur, "ix_composite", COLUMNS, rows)


COLUMNS = ("rid", "pid", "system1", "code1", "system2", "code2", "lo2", "hi2", "text2")
MIGRATION = Migration(2, "composite search parameter index", ddl, reindex_composites)
