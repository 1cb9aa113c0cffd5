"""Settings come from GPBRIDGE_* variables, typed; every one is documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gpbridge.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_environment_overrides_are_typed() -> None:
    s = Settings.from_env({"GPBRIDGE_PORT": "9090", "GPBRIDGE_INSECURE_DEV": "true", "GPBRIDGE_DATABASE": "sqlite:///x.db"})
    assert s.port == 9090 and s.insecure_dev is True and s.database == "sqlite:///x.db"
    assert Settings.from_env({}, port=7000).port == 7000


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    for f in dataclasses.fields(Settings):
        if f.name != "extra":
            assert f"GPBRIDGE_{f.name.upper()}" in text, f"docs/configuration.md does not describe {f.name}"


def test_store_calls_choose_inline_or_threads() -> None:
    import pytest

    from gpbridge.api.context import store_calls_inline

    class Store:
        blocking_ok = True

    assert store_calls_inline(Settings(), Store()) is True  # auto: the store's own choice
    assert store_calls_inline(Settings(store_calls="threads"), Store()) is False
    assert store_calls_inline(Settings(store_calls="inline"), object()) is True
    assert store_calls_inline(Settings(), object()) is False  # a store that does not say: threads
    with pytest.raises(ValueError, match="GPBRIDGE_STORE_CALLS"):
        store_calls_inline(Settings(store_calls="sometimes"), Store())
