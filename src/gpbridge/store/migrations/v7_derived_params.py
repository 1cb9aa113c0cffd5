"""Version 7: no index rows for search parameters derived from others (``search.derived``).

``Observation.combo-code`` and the other combo-* parameters, and ``phonetic`` beside ``name``, are
answered at query time from their source parameters' rows, so a database written before v7 holds
rows nobody reads any more. The data step deletes them (no DDL: the tables keep their shape);
searches give the same results before and after, as the source rows were always written too.
"""

from __future__ import annotations

from typing import Any

from gpbridge.store.dialect import Dialect
from gpbridge.store.index_rows import TABLE_FOR_KIND
from gpbridge.store.migrations import Migration


def ddl(d: Dialect) -> list[str]:
    return []


def drop_derived_rows(cur: Any, d: Dialect, store: Any) -> None:
    from gpbridge.search import params as registry
    from gpbridge.search.derived import derived_params

    store._load_search_params_with(cur)
    by_table: dict[str, list[int]] = {}
    for type_, code in derived_params():
        pid = store.pids.get((type_, code))
        definition = registry.param(type_, code)
        if pid is not None and definition is not None:
            by_table.setdefault(TABLE_FOR_KIND[definition["type"]], []).append(pid)
    for table, pids in by_table.items():
        marks = ", ".join("?" for _ in pids)
        cur.execute(d.sql(f"DELETE FROM {table} WHERE pid IN ({marks})"), pids)


MIGRATION = Migration(7, "no index rows for derived search parameters (combo-*, phonetic)", ddl, drop_derived_rows)
