"""Medications (MedicationStatement): the same medicine with the same status over overlapping
periods is one course; the same medicine active in one source but stopped or completed in another
(after the active course began) is a conflict a prescriber must see."""

from __future__ import annotations

from gpbridge.records.dates import clinical_date, end_date
from gpbridge.records.rules.base import DomainRule, Resource, overlaps

_STOPPED = {"stopped", "completed", "not-taken", "entered-in-error"}


def _state(statement: Resource) -> str:
    return "stopped" if statement.get("status") in _STOPPED else "active"


def _period(statement: Resource) -> tuple[str | None, str | None]:
    return clinical_date(statement), end_date(statement)


def same_fact(a: Resource, b: Resource) -> bool:
    return _state(a) == _state(b) and overlaps(*_period(a), *_period(b))


def conflict(a: Resource, b: Resource) -> str | None:
    if _state(a) == _state(b):
        return None
    active, stopped = (a, b) if _state(a) == "active" else (b, a)
    stopped_on = end_date(stopped) or clinical_date(stopped) or ""
    started = clinical_date(active) or ""
    return "medication-status" if stopped_on[:10] >= started[:10] else None


MEDICATIONS = DomainRule("MedicationStatement", lambda r: r.get("medicationCodeableConcept"), same_fact, conflict)
