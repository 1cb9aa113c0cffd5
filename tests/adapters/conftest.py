"""Fixtures for the adapter tests: a strict-validation SQLite store, the GP2GP UAT pairs, a tiny
code map standing in for the terminology service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpbridge.adapters.common.codes import DictCodeMapper
from gpbridge.config import Settings
from gpbridge.store.base import Store

DATA = Path(__file__).parent / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database=f"sqlite:///{tmp_path / 'adapters.db'}", validation="strict", insecure_dev=True)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    from gpbridge.store.sqlite import SQLiteStore

    s = SQLiteStore(settings.database[len("sqlite:///"):], settings)
    yield s
    s.close()


@pytest.fixture(scope="session")
def code_mapper() -> DictCodeMapper:
    return DictCodeMapper.from_csv(DATA / "code_map.csv")


@pytest.fixture(scope="session")
def gp2gp_pairs(shared_data: Path) -> list[tuple[Path, Path]]:
    """(EHR Extract XML, GP Connect bundle JSON) for every UAT pair."""
    root = shared_data / "gp2gp"
    pairs = []
    for xml in sorted((root / "uat-output").glob("*/*.xml")):
        source = root / "uat-input" / xml.parent.name / (xml.stem + ".json")
        if source.exists():
            pairs.append((xml, source))
    if not pairs:
        pytest.skip("no GP2GP UAT pairs in the shared data")
    return pairs
