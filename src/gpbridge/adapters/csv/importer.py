"""Store a CSV extract under a mapping profile; report what could not be mapped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from gpbridge.adapters.common.codes import CodeMapper, default_code_mapper
from gpbridge.adapters.common.pipeline import ImportResult, run_import
from gpbridge.adapters.csv.convert import CONTENT_TYPE, translate_csv
from gpbridge.adapters.csv.profile import Profile, load_profile
from gpbridge.config import Settings
from gpbridge.store.base import Store


def import_csv(
    store: Store,
    settings: Settings,
    raw: bytes,
    *,
    profile: str | Profile,
    source: str = "csv",
    received: datetime | str | None = None,
    mapper: CodeMapper | None = None,
) -> ImportResult:
    """``gpbridge import csv --profile NAME FILE``. A profile error raises ``ProfileError`` (a
    configuration mistake, nothing to quarantine); bad data is quarantined."""
    chosen = profile if isinstance(profile, Profile) else load_profile(profile)
    code_mapper = mapper or default_code_mapper(store)
    return run_import(
        store, settings, adapter="csv", raw=raw, source=source, content_type=CONTENT_TYPE, received=received,
        params={"profile": str(profile) if not isinstance(profile, Profile) else chosen.name},
        translate=lambda data: translate_csv(data, chosen, mapper=code_mapper),
    )


def import_csv_file(store: Store, settings: Settings, path: Path, *, profile: str | Profile,
                    mapper: CodeMapper | None = None) -> ImportResult:
    """``gpbridge import csv --profile NAME FILE``."""
    return import_csv(store, settings, path.read_bytes(), profile=profile, source=str(path), mapper=mapper)


def retry_csv(store: Store, settings: Settings, raw: bytes, *, source: str, params: dict[str, str]) -> ImportResult:
    return import_csv(store, settings, raw, profile=params.get("profile", ""), source=source)
