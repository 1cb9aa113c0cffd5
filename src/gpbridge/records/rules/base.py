"""What a domain rule is, and the small predicates the rules share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpbridge.records.concepts import ConceptMatcher

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DomainRule:
    resource_type: str
    concept: Callable[[Resource], Any]  # the CodeableConcept that says what the statement is about
    # the same clinical fact (concept already known to match): merge into one item
    same_fact: Callable[[Resource, Resource], bool]
    # a contradiction (concept already known to match): a conflict code, or None
    conflict: Callable[[Resource, Resource], str | None]
    # statements whose conflicts are not about one concept (e.g. "no known allergies")
    conflict_any: Callable[[Resource, Resource, ConceptMatcher], str | None] | None = None


def status_code(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding") or ():
        if coding.get("code"):
            return str(coding["code"])
    return None


def same_day(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a[:10] == b[:10]


def same_time(a: str | None, b: str | None) -> bool:
    """Same minute when both carry a time; same day when either is a date only (sources differ
    in precision: one system's 09:30 reading is another's "today")."""
    if a is None or b is None:
        return False
    if len(a) > 10 and len(b) > 10:
        return a[:16] == b[:16]
    return a[:10] == b[:10]


def overlaps(start_a: str | None, end_a: str | None, start_b: str | None, end_b: str | None) -> bool:
    """Two periods overlap; a missing start is "always", a missing end is "still going"."""
    lo_a, hi_a = (start_a or "")[:10], (end_a or "9999")[:10]
    lo_b, hi_b = (start_b or "")[:10], (end_b or "9999")[:10]
    return lo_a <= hi_b and lo_b <= hi_a
