"""Schema v3 (terminology tables): valid on both dialects, and safe to apply again."""

from __future__ import annotations

from typing import Any

from gpbridge.store.migrations.v3_terminology import MIGRATION

TABLES = ("tx_system", "tx_concept", "tx_description", "tx_edge", "tx_closure", "tx_property", "tx_map",
          "tx_resource", "tx_state")


def test_migration_is_version_3_and_reapplies_cleanly(tx_store: Any) -> None:
    assert MIGRATION.version == 3
    # a database reset by dropping only the v1 tables re-runs v3 over surviving tx_* tables
    with tx_store._write_cursor() as cur:
        for statement in MIGRATION.ddl(tx_store.dialect_obj):
            cur.execute(statement)
    with tx_store._read_cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            assert cur.fetchone()[0] == 0
