"""Screenshots for the browser tests: full pages as test artifacts, first screens for the docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
DOCS_IMG = ROOT / "docs" / "img"


def screenshot(page: Any, name: str, *, docs: bool = False) -> Path:
    """Save a full-page screenshot under test-artifacts/ and, for the docs, the first screenful
    under docs/img/ (small enough to commit)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / f"record-{name}.png"), full_page=False)
    return path
