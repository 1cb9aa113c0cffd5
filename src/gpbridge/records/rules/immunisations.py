"""Immunisations: the same vaccine on the same day is one immunisation (the GP and the pharmacy
that gave it both record it). Doses on different days are different facts, never a conflict."""

from __future__ import annotations

from gpbridge.records.dates import clinical_date
from gpbridge.records.rules.base import DomainRule, Resource, same_day


def same_fact(a: Resource, b: Resource) -> bool:
    return (a.get("status") == "not-done") == (b.get("status") == "not-done") and same_day(
        clinical_date(a), clinical_date(b)
    )


def conflict(a: Resource, b: Resource) -> str | None:
    return None


IMMUNISATIONS = DomainRule("Immunization", lambda r: r.get("vaccineCode"), same_fact, conflict)
