"""Deterministic ids: the same source message always yields the same fullUrls, archive and
Provenance ids, so a re-import is recognised and a retried transaction lands in the same place."""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("5c1f3a0e-6f1b-4d53-9b9e-0b7a1d2f4e61")  # gpbridge adapters, fixed forever


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def full_url(*parts: str) -> str:
    return "urn:uuid:" + stable_uuid(*parts)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resource_id(prefix: str, key: str) -> str:
    """A FHIR id (<= 64 chars of [A-Za-z0-9-.]) derived from ``key``."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:40]}"
