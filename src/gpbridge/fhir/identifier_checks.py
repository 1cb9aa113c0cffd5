"""Checks on Identifier values by their system: an NHS number must pass the Modulus 11 check.

The NHS-number rule itself belongs to ``gpbridge.identity.nhs_number`` (one implementation for
adapters, linkage and the validator); this module only says which identifiers it applies to and
words the issue. The identifier value must be the ten digits exactly: the printed 3-3-4 form with
spaces is for people, not for ``https://fhir.nhs.uk/Id/nhs-number`` identifiers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


@cache
def _nhs_validator() -> Callable[[str], str]:
    # Imported on first use: fhir/ stays importable without the identity package's other modules.
    from gpbridge.identity.nhs_number import validate_nhs_number

    return validate_nhs_number


def nhs_number_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid NHS number for an identifier, or None when it is."""
    if type(value) is not str:
        return None  # a wrong JSON type is fhir.structure's finding
    try:
        canonical = _nhs_validator()(value)
    except ValueError as exc:  # NhsNumberError is a ValueError
        return str(exc)
    if canonical != value:
        return f"An NHS number identifier holds the 10 digits without spaces: {canonical}, not {value!r}"
    return None


def identifier_problems(identifier: dict[str, Any]) -> list[tuple[str, str]]:
    """(element, diagnostics) pairs for one Identifier object."""
    if identifier.get("system") == NHS_NUMBER_SYSTEM and "value" in identifier:
        problem = nhs_number_problem(identifier["value"])
        if problem is not None:
            return [("value", problem)]
    return []
