"""Version 13: a Quantity's unit is searchable (``value-quantity=120||mmHg``).

With the system empty, FHIR R4 matches the code against Quantity.code or Quantity.unit; the index
held only the code (the unit when there was none). A write now adds a row with the unit as its
code and no system when the unit differs from the code (``search.convert.quantity_quantity``),
and composites with a quantity part pair it alike. No DDL: the data step rewrites the quantity
and composite rows of every stored resource that has a unit, exactly as a write makes them now.
"""

from __future__ import annotations

from typing import Any

import orjson

from gpbridge.store import compartment
from gpbridge.store.dialect import Dialect
from gpbridge.store.index_rows import INDEX_TABLES, stored_rows, with_rid
from gpbridge.store.migrations import Migration

BATCH = 2000
TABLES = ("ix_quantity", "ix_composite")


def ddl(d: Dialect) -> list[str]:
    return []


def index_units(cur: Any, d: Dialect, store: Any) -> None:
    store._load_search_params_with(cur)
    positions = [n for n, (table, _) in enumerate(INDEX_TABLES) if table in TABLES]
    filed = d.compartment_indexes  # rows carry their compartment where the indexes lead with it
    last = 0
    while True:
        cur.execute(
            d.sql("SELECT r.rid, r.type, h.content FROM resource r JOIN history h "
                  "ON h.rid = r.rid AND h.version = r.version WHERE r.deleted = 0 AND r.rid > ? "
                  "ORDER BY r.rid LIMIT ?"),
            (last, BATCH),
        )
        batch = cur.fetchall()
        if not batch:
            return
        last = batch[-1][0]
        rids: list[int] = []
        rows: list[list[tuple]] = [[] for _ in positions]
        comps: set[int] = set()
        for rid, type_, content in batch:
            body = store.content_bytes(content)
            if body is None or b'"unit"' not in body:  # no unit, no new row: its rows stand
                continue
            table_rows, comp = store.index_builder.rows_and_compartment(type_, orjson.loads(body))
            rids.append(rid)
            comps.add(comp)
            for k, n in enumerate(positions):
                rows[k].extend(stored_rows(rid, comp, table_rows[n]) if filed else with_rid(rid, table_rows[n]))
        if not rids:
            continue
        marks = ",".join("?" * len(rids))
        for k, n in enumerate(positions):
            table, cols = INDEX_TABLES[n]
            cur.execute(d.sql(f"DELETE FROM {table} WHERE rid IN ({marks})"), rids)
            if rows[k]:
                store.insert_rows(cur, table, cols if filed else cols[:-1], rows[k])
        comps.difference_update((compartment.NONE, compartment.SEVERAL))
        if filed and comps:  # listed when the resource was written; kept so, should that differ
            cur.executemany(d.sql("INSERT INTO compartment (comp) VALUES (?) ON CONFLICT DO NOTHING"),
                            [(c,) for c in sorted(comps)])


MIGRATION = Migration(13, "Quantity.unit searchable with an empty system (value||unit)", ddl, index_units)
