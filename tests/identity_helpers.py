"""Counting source Patients: with identity linkage on, each person also has a golden Patient."""

from __future__ import annotations

from typing import Any

from gpbridge.identity.golden import IDENTITY_SYSTEM
from gpbridge.search.parse import parse_search

NOT_GOLDEN = ("_tag:not", f"{IDENTITY_SYSTEM}|golden")


def source_patients(store: Any) -> int:
    """Patients stored from a source (REST, Bundle, adapter), not the golden ones linkage made."""
    query = parse_search("Patient", [NOT_GOLDEN, ("_summary", "count")])
    total = store.search(query).total
    assert total is not None
    return int(total)
