"""Every index row value has the Python type of its column.

PostgreSQL loads rows by binary COPY (store.postgres), which packs each value as its column's type
and refuses, say, an int for a TEXT column, where SQLite's column affinity would quietly store it.
So the extractor must give exactly: integers for rid/pid/comp, numbers for the numeric columns,
strings (or null) for the rest. Checked on every resource of the FHIR R4 core package (all its
kinds of definitions, ~2,500 resources), the GP Connect examples and the synthetic GP population.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from gpbridge.demo.population import generate_population
from gpbridge.store.index_rows import INDEX_TABLES, stored_rows
from gpbridge.store.sqlite import SQLiteStore

INTEGER_COLUMNS = {"rid", "pid", "comp"}
NUMBER_COLUMNS = {"lo", "hi", "value", "lo2", "hi2"}
TEXT_COLUMNS = {"system", "code", "text", "norm", "exact", "ttype", "tid", "uri", "system1", "code1",
                "system2", "code2", "text2"}
NOT_NULL_TEXT = {"code", "norm", "exact", "ttype", "tid", "uri"}


def _resources(node: Any) -> Iterator[dict[str, Any]]:
    """Resources in a JSON document: itself, Bundle entries and contained ones, recursively."""
    if isinstance(node, dict):
        if isinstance(node.get("resourceType"), str):
            yield node
        for value in node.values():
            yield from _resources(value)
    elif isinstance(node, list):
        for value in node:
            yield from _resources(value)


def _documents(shared_data: Path) -> Iterator[Any]:
    for folder in ("fhir-r4-core/package", "gpconnect-examples"):
        for path in sorted((shared_data / folder).glob("*.json")):
            try:
                yield orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError:
                continue
    yield from generate_population(5, seed=3)


def test_columns_are_all_typed() -> None:
    for _table, cols in INDEX_TABLES:
        assert set(cols) <= INTEGER_COLUMNS | NUMBER_COLUMNS | TEXT_COLUMNS, cols


def test_every_value_has_its_columns_type(tmp_path: Path, shared_data: Path) -> None:
    store = SQLiteStore(str(tmp_path / "types.db"))
    builder = store.index_builder
    checked, wrong = 0, []
    for document in _documents(shared_data):
        for resource in _resources(document):
            try:
                by_table, comp = builder.rows_and_compartment(resource["resourceType"], resource)
            except KeyError:  # not a resource type this server indexes (e.g. a logical model's name)
                continue
            for (table, cols), rows in zip(INDEX_TABLES, by_table, strict=True):
                for row in stored_rows(1, comp, rows):
                    checked += 1
                    for col, value in zip(cols, row, strict=True):
                        if col in INTEGER_COLUMNS:
                            ok = type(value) is int
                        elif col in NUMBER_COLUMNS:
                            ok = type(value) in (int, float)
                        else:
                            ok = type(value) is str or (value is None and col not in NOT_NULL_TEXT)
                        if not ok:
                            wrong.append((resource["resourceType"], table, col, value))
    store.close()
    assert checked > 50_000
    assert not wrong, wrong[:20]
