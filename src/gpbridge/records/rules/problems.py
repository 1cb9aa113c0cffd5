"""Problems (Condition): the same condition with a compatible status is one problem (onset dates
differ between systems, so they are not compared); active in one source and resolved in another
is a conflict."""

from __future__ import annotations

from gpbridge.records.rules.base import DomainRule, Resource, status_code

_ENDED = {"resolved", "inactive", "remission"}


def _state(condition: Resource) -> str:
    return "ended" if status_code(condition.get("clinicalStatus")) in _ENDED else "active"


def same_fact(a: Resource, b: Resource) -> bool:
    return _state(a) == _state(b)


def conflict(a: Resource, b: Resource) -> str | None:
    return "problem-status" if _state(a) != _state(b) else None


PROBLEMS = DomainRule("Condition", lambda r: r.get("code"), same_fact, conflict)
