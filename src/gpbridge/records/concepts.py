"""When two coded statements mean the same clinical concept.

Adapters keep the original Read v2 / CTV3 / EMIS coding beside the SNOMED CT one in the same
CodeableConcept, so a shared coding in any system is the first test. With a terminology service,
two SNOMED CT codes where one subsumes the other also count (e.g. "Type 2 diabetes mellitus" from
one source and "Diabetes mellitus" mapped from a Read code in another): the same fact recorded at
different levels of detail. Without one (unit tests, no SNOMED release loaded) only shared codings match.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

SNOMED = "http://snomed.info/sct"


def codings(concept: Any) -> set[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept."""
    out = set()
    for coding in (concept or {}).get("coding") or ():
        if isinstance(coding, dict) and coding.get("system") and coding.get("code"):
            out.add((str(coding["system"]), str(coding["code"])))
    return out


def snomed_codes(concept: Any) -> set[str]:
    return {code for system, code in codings(concept) if system == SNOMED}


class ConceptMatcher(Protocol):
    def same(self, a: Any, b: Any) -> bool:
        """True when CodeableConcepts ``a`` and ``b`` state the same clinical concept."""


class SharedCoding:
    """Same concept when the two share any coding (SNOMED CT, or the same original Read/CTV3 code)."""

    def same(self, a: Any, b: Any) -> bool:
        return bool(codings(a) & codings(b))


class Subsumption(SharedCoding):
    """Shared coding, or SNOMED CT subsumption either way, asked of a ``subsumes(a, b)`` function
    (``Terminology(store).subsumes`` bound to SNOMED CT) and remembered per pair."""

    def __init__(self, subsumes: Callable[[str, str, str], str]) -> None:
        self._subsumes = subsumes
        self._related = lru_cache(maxsize=4096)(self._ask)

    def _ask(self, a: str, b: str) -> bool:
        try:
            return self._subsumes(SNOMED, a, b) in ("equivalent", "subsumes", "subsumed-by")
        except Exception:  # noqa: BLE001 - an unknown code is "not known to be related", not a failure
            return False

    def same(self, a: Any, b: Any) -> bool:
        if super().same(a, b):
            return True
        return any(self._related(x, y) for x in snomed_codes(a) for y in snomed_codes(b))
