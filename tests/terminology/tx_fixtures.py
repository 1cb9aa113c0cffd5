"""Paths of the terminology fixtures and the stores the terminology tests run on (shared helpers)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from gpbridge.config import Settings
from gpbridge.store.migrations import v3_terminology
from gpbridge.terminology.dmd import load_dmd
from gpbridge.terminology.fhirload import load_fhir_terminology
from gpbridge.terminology.readmaps import load_ctv3_map, load_read_v2_map
from gpbridge.terminology.rf2 import load_snomed_rf2

FIXTURES = Path(__file__).parent / "fixtures"
RF2 = FIXTURES / "rf2"
MAPS = FIXTURES / "datamigration"
DMD = FIXTURES / "dmd"
FHIR = FIXTURES / "fhir"
POSTGRES_DSN = Settings.from_env().test_postgres
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def ensure_terminology_schema(store: Any) -> None:
    """Apply schema v3 when the migration list does not have it yet (until the lead registers it)."""
    if store.schema_version() >= 3:
        return
    with store._write_cursor() as cur:
        for statement in v3_terminology.MIGRATION.ddl(store.dialect_obj):
            cur.execute(statement)


def _sqlite(directory: Path) -> Any:
    from gpbridge.store.sqlite import SQLiteStore

    return SQLiteStore(str(directory / "tx.db"))


class _PostgresSchema:
    """A PostgresStore confined to a fresh schema of the test database."""

    def __init__(self) -> None:
        import psycopg
        from psycopg.conninfo import make_conninfo

        from gpbridge.store.postgres import PostgresStore

        self.schema = f"tx_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        self.store = PostgresStore(make_conninfo(POSTGRES_DSN, options=f"-csearch_path={self.schema}"))

    def close(self) -> None:
        import psycopg

        self.store.close()
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


def open_backend(name: str, directory: Path) -> tuple[Any, Any]:
    """(store, closer) for a backend name; skips PostgreSQL when no DSN is configured."""
    if name == "postgresql":
        if not POSTGRES_DSN:
            pytest.skip("PostgreSQL terminology tests need GPBRIDGE_TEST_POSTGRES (a DSN); .ci/run sets it")
        pg = _PostgresSchema()
        ensure_terminology_schema(pg.store)
        return pg.store, pg.close
    store = _sqlite(directory)
    ensure_terminology_schema(store)
    return store, store.close


def load_everything(store: Any) -> None:
    load_snomed_rf2(store, RF2)
    load_read_v2_map(store, MAPS)
    load_ctv3_map(store, MAPS)
    load_dmd(store, DMD)
    load_fhir_terminology(store, FHIR)
