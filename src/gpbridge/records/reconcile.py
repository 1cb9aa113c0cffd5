"""Reconciliation across sources: one person's statements from every source, each fact once, every
contradiction surfaced.

``reconcile(statements, sources)`` groups statements per domain rule (``records.rules``): two
statements are one item when their concepts match (``concepts``) and the rule says they are the
same fact (date and status). Each item keeps *every* statement it absorbed, so nothing a source
said is lost, and gets a Provenance listing every source and its original entry. Pairs of items
that contradict each other become ``Conflict``s, each with a DetectedIssue implicating both —
never resolved silently. Types without a rule pass through as one item per statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gpbridge.records.concepts import ConceptMatcher, SharedCoding
from gpbridge.records.dates import clinical_date
from gpbridge.records.rules import RULES, DomainRule
from gpbridge.records.sources import Source, source_index, source_of

CONFLICT_SYSTEM = "https://gpbridge.dev/CodeSystem/reconciliation-conflict"
CONFLICTS: dict[str, str] = {
    "allergy-vs-no-known-allergies": "An allergy is recorded in one source and 'no known allergies' in another",
    "allergy-status": "An allergy is active in one source and resolved in another",
    "medication-status": "A medicine is active in one source and stopped in another",
    "observation-value": "The same observation at the same time has different values in different sources",
    "problem-status": "A problem is active in one source and resolved in another",
}


@dataclass(slots=True)
class Statement:
    """One source's entry, as that source said it."""

    resource: dict[str, Any]
    source: Source

    @property
    def reference(self) -> str:
        return f"{self.resource['resourceType']}/{self.resource['id']}"


@dataclass(slots=True)
class Item:
    """One clinical fact, shown once; ``statements`` are every source entry saying it."""

    statements: list[Statement]

    @property
    def resource(self) -> dict[str, Any]:
        """The entry shown: the most recently dated statement (ties: the first source)."""
        return max(self.statements, key=lambda s: clinical_date(s.resource) or "").resource

    @property
    def sources(self) -> list[str]:
        return sorted({s.source.system for s in self.statements})

    @property
    def key(self) -> str:
        return self.statements[0].reference


@dataclass(slots=True)
class Conflict:
    code: str
    items: tuple[Item, Item]

    @property
    def description(self) -> str:
        return CONFLICTS[self.code]


@dataclass(slots=True)
class Reconciled:
    items: list[Item] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def of(self, type_: str) -> list[Item]:
        return [i for i in self.items if i.resource["resourceType"] == type_]

    def conflicts_of(self, item: Item) -> list[Conflict]:
        return [c for c in self.conflicts if item in c.items]


def statements_of(
    resources: Iterable[dict[str, Any]],
    provenances: Iterable[dict[str, Any]],
    fallback: Callable[[dict[str, Any]], str] | None = None,
) -> list[Statement]:
    """Each resource with its source; ``fallback(resource)`` names sources no Provenance names."""
    index = source_index(provenances)
    return [Statement(r, source_of(r, index, fallback(r) if fallback else "gpbridge")) for r in resources]


def reconcile(statements: list[Statement], matcher: ConceptMatcher | None = None) -> Reconciled:
    matcher = matcher or SharedCoding()
    out = Reconciled()
    by_type: dict[str, list[Statement]] = {}
    for statement in statements:
        by_type.setdefault(statement.resource["resourceType"], []).append(statement)
    for type_, group in by_type.items():
        rule = RULES.get(type_)
        if rule is None:
            out.items.extend(Item([s]) for s in group)
            continue
        items = _group(group, rule, matcher)
        out.items.extend(items)
        out.conflicts.extend(_conflicts(items, rule, matcher))
    return out


def _group(statements: list[Statement], rule: DomainRule, matcher: ConceptMatcher) -> list[Item]:
    items: list[Item] = []
    for statement in statements:
        resource = statement.resource
        for item in items:
            first = item.statements[0].resource
            if matcher.same(rule.concept(first), rule.concept(resource)) and rule.same_fact(first, resource):
                item.statements.append(statement)
                break
        else:
            items.append(Item([statement]))
    return items


def _conflicts(items: list[Item], rule: DomainRule, matcher: ConceptMatcher) -> list[Conflict]:
    found = []
    for i, first in enumerate(items):
        for second in items[i + 1:]:
            a, b = first.resource, second.resource
            code = rule.conflict(a, b) if matcher.same(rule.concept(a), rule.concept(b)) else None
            if code is None and rule.conflict_any is not None:
                code = rule.conflict_any(a, b, matcher)
            if code is not None:
                found.append(Conflict(code, (first, second)))
    return found


def provenance_of(item: Item, recorded: str) -> dict[str, Any]:
    """A Provenance for the item shown: every source and the original entry it came from."""
    shown = f"{item.resource['resourceType']}/{item.resource['id']}"
    return {
        "resourceType": "Provenance",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"reconciled/{item.key}")),
        "target": [{"reference": shown}],
        "recorded": recorded,
        "activity": {"text": "reconciled across sources"},
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                 "code": "assembler", "display": "Assembler"}]},
            "who": {"display": "gpbridge reconciliation"},
        }],
        "entity": [
            {"role": "source", "what": {"reference": s.reference, "display": s.source.system}}
            for s in item.statements
        ],
    }


def detected_issue(conflict: Conflict, patient_reference: str, identified: str) -> dict[str, Any]:
    """The conflict as a DetectedIssue implicating every statement on both sides."""
    implicated = [{"reference": s.reference, "display": s.source.system}
                  for item in conflict.items for s in item.statements]
    keys = "|".join(sorted(i.key for i in conflict.items))
    return {
        "resourceType": "DetectedIssue",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"conflict/{conflict.code}/{keys}")),
        "status": "preliminary",
        "code": {"coding": [{"system": CONFLICT_SYSTEM, "code": conflict.code, "display": conflict.description}]},
        "severity": "high" if conflict.code.startswith("allergy") else "moderate",
        "patient": {"reference": patient_reference},
        "identifiedDateTime": identified,
        "implicated": implicated,
        "detail": conflict.description + ": " + "; ".join(
            f"{s.source.system} ({s.reference})" for item in conflict.items for s in item.statements),
    }
