"""The store behaviour suite runs on SQLite and on PostgreSQL (when GPBRIDGE_TEST_POSTGRES is set)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpbridge.config import Settings
from gpbridge.store.base import Store

POSTGRES_DSN = Settings.from_env().test_postgres


def make_sqlite(tmp_path: Path) -> Store:
    from gpbridge.store.sqlite import SQLiteStore

    return SQLiteStore(str(tmp_path / "store.db"))


def make_postgres() -> Store:
    from gpbridge.store.postgres import PostgresStore

    fresh = PostgresStore(POSTGRES_DSN)
    fresh.drop_all()
    fresh.close()
    return PostgresStore(POSTGRES_DSN)


NO_POSTGRES = "PostgreSQL store tests need GPBRIDGE_TEST_POSTGRES (a DSN); .ci/run sets it"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgresql":
        if not POSTGRES_DSN:
            pytest.skip(NO_POSTGRES)
        s = make_postgres()
    else:
        s = make_sqlite(tmp_path)
    yield s
    s.close()


@pytest.fixture
def postgres_store() -> Iterator[Any]:
    """A fresh PostgreSQL store on its own, for tests of PostgreSQL itself (skipped without a DSN)."""
    if not POSTGRES_DSN:
        pytest.skip(NO_POSTGRES)
    s = make_postgres()
    yield s
    s.close()
