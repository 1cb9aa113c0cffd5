"""The demo code tables: every SNOMED CT id is well formed (Verhoeff check digit, concept partition)."""

from __future__ import annotations

from typing import Any

from gpbridge.demo import codes, shared
from gpbridge.demo.codes import Concept

# Verhoeff's dihedral-group tables, as SNOMED CT uses them for its identifiers' check digit.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
# The position permutations are powers of one permutation: _P[k] = _SIGMA applied k times.
_SIGMA = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)
_P = [tuple(range(10))]
for _ in range(7):
    _P.append(tuple(_SIGMA[x] for x in _P[-1]))


def verhoeff_ok(number: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


def concepts(node: Any) -> list[Concept]:
    if isinstance(node, Concept):
        return [node]
    if isinstance(node, dict):
        return [c for v in node.values() for c in concepts(v)]
    if isinstance(node, tuple | list):
        return [c for v in node for c in concepts(v)]
    return []


ALL = concepts([vars(codes)[name] for name in dir(codes) if not name.startswith("_")]) + concepts(
    [shared.GENERAL_PRACTITIONER, shared.REGISTERED_NURSE]
)


def test_the_check_catches_typos() -> None:
    assert verhoeff_ok("38341003") and not verhoeff_ok("38341004") and not verhoeff_ok("83341003")


def test_every_snomed_id_has_a_valid_check_digit_and_is_a_concept_id() -> None:
    assert len(ALL) > 150
    for concept in ALL:
        assert concept.code.isdigit() and 6 <= len(concept.code) <= 18, concept
        assert verhoeff_ok(concept.code), concept
        # the partition identifier (2nd and 3rd digits from the right): 00 or 10 for concepts,
        # where 01/11 would be a description id pasted by mistake
        assert concept.code[-3:-1] in ("00", "10"), concept
        assert concept.display and concept.display == concept.display.strip(), concept


def test_a_code_has_one_display() -> None:
    displays: dict[str, str] = {}
    for concept in ALL:
        assert displays.setdefault(concept.code, concept.display) == concept.display, concept
