"""A real SQLite store holding the demo population (two patients), shared by the records tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpbridge.config import Settings
from gpbridge.demo.loader import load_demo
from gpbridge.store import open_store
from gpbridge.store.base import Store


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("records")
    settings = Settings(database=f"sqlite:///{directory}/records.db")
    store = open_store(settings.database, settings)
    load_demo(store, settings, patients=2)
    yield store
    store.close()

