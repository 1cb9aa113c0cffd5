"""Persistence behind one interface (``base.Store``); knows nothing of HTTP."""

from __future__ import annotations

from gpbridge.config import Settings
from gpbridge.store.base import Store


def open_store(url: str, settings: Settings | None = None) -> Store:
    """Open the store named by ``url``: ``sqlite:///path`` or ``postgresql://...``."""
    settings = settings or Settings()
    if url.startswith("sqlite:"):
        from gpbridge.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(url, settings)
    if url.startswith(("postgresql:", "postgres:")):
        from gpbridge.store.postgres import PostgresStore

        return PostgresStore.from_url(url, settings)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://...")
