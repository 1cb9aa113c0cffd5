"""Store GP2GP extracts: one file, a directory of them, or the bytes of a POST body."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from gpbridge.adapters.common.codes import CodeMapper, default_code_mapper
from gpbridge.adapters.common.pipeline import ImportResult, run_import
from gpbridge.adapters.gp2gp.convert import CONTENT_TYPE, translate_gp2gp
from gpbridge.config import Settings
from gpbridge.store.base import Store


def import_gp2gp(
    store: Store,
    settings: Settings,
    xml_bytes: bytes,
    source: str = "gp2gp",
    *,
    received: datetime | str | None = None,
    mapper: CodeMapper | None = None,
) -> ImportResult:
    """Translate and store one EHR Extract; bad input is quarantined (see ``ImportResult.status``)."""
    code_mapper = mapper or default_code_mapper(store)
    return run_import(
        store, settings, adapter="gp2gp", raw=xml_bytes, source=source, content_type=CONTENT_TYPE,
        received=received, translate=lambda raw: translate_gp2gp(raw, mapper=code_mapper),
    )


def import_gp2gp_paths(store: Store, settings: Settings, paths: list[Path], **kwargs: Any) -> list[ImportResult]:
    """``gpbridge import gp2gp FILE.xml|DIR``: every ``*.xml`` under a directory, in name order."""
    files: list[Path] = []
    for path in paths:
        files += sorted(p for p in path.rglob("*.xml") if p.is_file()) if path.is_dir() else [path]
    return [import_gp2gp(store, settings, f.read_bytes(), str(f), **kwargs) for f in files]


def retry_gp2gp(store: Store, settings: Settings, raw: bytes, *, source: str, params: dict[str, str]) -> ImportResult:
    return import_gp2gp(store, settings, raw, source)
