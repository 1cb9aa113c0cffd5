"""Terminology tests run on SQLite and on PostgreSQL (when GPBRIDGE_TEST_POSTGRES is set).

Each PostgreSQL store gets its own schema (``search_path``), dropped afterwards, so these tests
never disturb the store suite's tables in the same database, nor it theirs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tx_fixtures import BACKENDS, load_everything, open_backend

from gpbridge.terminology.service import Terminology


@pytest.fixture(params=BACKENDS)
def tx_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty store with the terminology tables (function scope: tests may load and reload)."""
    store, close = open_backend(request.param, tmp_path)
    yield store
    close()


@pytest.fixture(scope="module", params=BACKENDS)
def loaded_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A store with every fixture release loaded, shared by a module's read-only tests."""
    store, close = open_backend(request.param, tmp_path_factory.mktemp("tx"))
    load_everything(store)
    yield store
    close()


@pytest.fixture(scope="module")
def tx(loaded_store: Any) -> Terminology:
    return Terminology(loaded_store)
