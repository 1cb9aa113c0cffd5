"""String search normalisation: the form both the string index and a string query are compared in.

FHIR string search is case- and accent-insensitive; we lower-case, decompose (NFKD) and drop
combining marks, and collapse runs of whitespace, so ``"  José\tÁlvarez"`` -> ``"jose alvarez"``.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


def normalise(text: str) -> str:
    # Names, cities and display texts recur across a bulk load: cache them, but not long texts
    # (descriptions), which rarely repeat and would make the cache's memory unbounded in practice.
    return _normalise_short(text) if len(text) <= 80 else _normalise(text)


@lru_cache(maxsize=65536)
def _normalise_short(text: str) -> str:
    return _normalise(text)


def _normalise(text: str) -> str:
    # Lower-case first: lower() itself can produce combining marks ("İ" -> "i̇"), which we then drop.
    text = text.lower()
    if not text.isascii():  # the common case skips Unicode decomposition entirely
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(text.split())
