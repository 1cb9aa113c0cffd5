"""API tests run the real app on a real SQLite store in a temporary directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Client, make_settings
from starlette.testclient import TestClient

from gpbridge.api.app import create_app


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., Client]]:
    opened: list[TestClient] = []

    def make(**changes: Any) -> Client:
        http = TestClient(create_app(make_settings(tmp_path, **changes)), raise_server_exceptions=False)
        http.__enter__()
        opened.append(http)
        return Client(http)

    yield make
    for http in opened:
        http.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()
