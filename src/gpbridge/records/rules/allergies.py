"""Allergies: the same allergy from two sources is one item whatever the dates (an allergy is a
lasting state, and each system records its own onset or entry date). Conflicts: an active allergy
against "no known allergies" elsewhere, and the same allergy active in one source but resolved in
another."""

from __future__ import annotations

from gpbridge.records.concepts import ConceptMatcher, snomed_codes
from gpbridge.records.rules.base import DomainRule, Resource, status_code

# "No known allergy", "No known drug allergy", "No known food allergy", "No known latex allergy"...
NO_KNOWN_ALLERGY = frozenset({"716186003", "409137002", "429625007", "1003774007", "428607008"})
_ENDED = {"resolved", "inactive"}


def is_no_known_allergy(allergy: Resource) -> bool:
    return bool(snomed_codes(allergy.get("code")) & NO_KNOWN_ALLERGY)


def _state(allergy: Resource) -> str:
    return "ended" if status_code(allergy.get("clinicalStatus")) in _ENDED else "active"


def same_fact(a: Resource, b: Resource) -> bool:
    return _state(a) == _state(b)


def conflict(a: Resource, b: Resource) -> str | None:
    if is_no_known_allergy(a) or is_no_known_allergy(b):
        return None
    return "allergy-status" if _state(a) != _state(b) else None


def conflict_any(a: Resource, b: Resource, matcher: ConceptMatcher) -> str | None:
    nka_a, nka_b = is_no_known_allergy(a), is_no_known_allergy(b)
    if nka_a == nka_b:
        return None
    allergy = b if nka_a else a
    if _state(allergy) != "active" or status_code(allergy.get("verificationStatus")) == "refuted":
        return None
    return "allergy-vs-no-known-allergies"


ALLERGIES = DomainRule("AllergyIntolerance", lambda r: r.get("code"), same_fact, conflict, conflict_any)
