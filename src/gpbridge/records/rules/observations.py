"""Observations: the same test at the same time with the same value is one result; the same test
at the same time with a different value is a conflict (one of them is wrong)."""

from __future__ import annotations

from typing import Any

from gpbridge.records.concepts import codings
from gpbridge.records.dates import clinical_date
from gpbridge.records.rules.base import DomainRule, Resource, same_time


def observed_value(observation: Resource) -> Any:
    """A comparable form of the value: quantities by number and unit code, concepts by codings."""
    quantity = observation.get("valueQuantity")
    if isinstance(quantity, dict):
        unit = quantity.get("code") or quantity.get("unit")
        return ("quantity", float(quantity.get("value", "nan")), unit)
    if "valueCodeableConcept" in observation:
        return ("concept", frozenset(codings(observation["valueCodeableConcept"])))
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in observation:
            return (key, observation[key])
    components = observation.get("component")
    if components:
        return ("components", tuple(sorted(
            (tuple(sorted(codings(c.get("code")))), observed_value(c)) for c in components)))
    return None


def _same_value(a: Resource, b: Resource) -> bool:
    va, vb = observed_value(a), observed_value(b)
    if va is None or vb is None:
        return True  # a statement without a value cannot contradict one with a value
    return bool(va == vb)


def same_fact(a: Resource, b: Resource) -> bool:
    return same_time(clinical_date(a), clinical_date(b)) and _same_value(a, b)


def conflict(a: Resource, b: Resource) -> str | None:
    if same_time(clinical_date(a), clinical_date(b)) and not _same_value(a, b):
        return "observation-value"
    return None


OBSERVATIONS = DomainRule("Observation", lambda r: r.get("code"), same_fact, conflict)
