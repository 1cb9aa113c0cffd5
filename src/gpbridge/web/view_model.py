"""What the pages show of a reconciled record: plain rows (text, date, status, value, sources)
so templates stay free of FHIR."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpbridge.records.consultations import Topic
from gpbridge.records.dates import clinical_date
from gpbridge.records.reconcile import Conflict, Item, Reconciled
from gpbridge.web.templating import concept_text, nhs_date

_CONCEPT_FIELDS = ("code", "medicationCodeableConcept", "vaccineCode")


@dataclass(slots=True)
class Version:
    """One source's statement, for showing conflicts side by side."""

    text: str
    detail: str
    date: str
    source: str


@dataclass(slots=True)
class TopicView:
    """What one topic of a consultation held: its problem (or "Other") and, per heading, the entries."""

    title: str
    headings: list[tuple[str, list[str]]]


@dataclass(slots=True)
class Row:
    text: str
    detail: str
    date: str
    sources: list[str]
    merged: int  # how many source statements this row stands for
    conflict_ids: list[str] = field(default_factory=list)
    topics: list[TopicView] = field(default_factory=list)  # a consultation's contents, by topic


@dataclass(slots=True)
class ConflictView:
    id: str
    description: str
    section: str
    versions: list[Version]


def describe(resource: dict[str, Any]) -> str:
    for name in _CONCEPT_FIELDS:
        if name in resource:
            return concept_text(resource[name]) or "Unnamed entry"
    if resource.get("resourceType") == "Encounter":
        return concept_text((resource.get("type") or [{}])[0]) or "Consultation"
    return resource.get("resourceType", "Entry")


def detail(resource: dict[str, Any]) -> str:
    """Status, value or dose: the second thing a clinician wants to know about an entry."""
    parts: list[str] = []
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and "value" in quantity:
        parts.append(f"{quantity['value']:g} {quantity.get('unit') or quantity.get('code') or ''}".strip())
    elif "valueCodeableConcept" in resource:
        parts.append(concept_text(resource["valueCodeableConcept"]))
    for component in resource.get("component") or ():
        value = (component.get("valueQuantity") or {}).get("value")
        if value is not None:
            parts.append(f"{concept_text(component.get('code'))} {value:g}")
    status = resource.get("clinicalStatus")
    if isinstance(status, dict):
        parts.append(concept_text(status).capitalize())
    elif isinstance(resource.get("status"), str) and resource["resourceType"] in ("MedicationStatement", "Immunization"):
        parts.append(str(resource["status"]).capitalize())
    for dosage in resource.get("dosage") or ():
        if dosage.get("text"):
            parts.append(str(dosage["text"]))
    return "; ".join(p for p in parts if p)


def conflict_id(conflict: Conflict) -> str:
    return "conflict-" + "-".join(sorted(i.key.replace("/", "-") for i in conflict.items))


def rows(items: list[Item], reconciled: Reconciled, topics: dict[str, list[Topic]] | None = None) -> list[Row]:
    """One row per item; a consultation's row also lists its topics when ``topics`` has them."""
    out = []
    for item in items:
        shown = item.resource
        out.append(Row(
            text=describe(shown),
            detail=detail(shown),
            date=nhs_date(clinical_date(shown)),
            sources=item.sources,
            merged=len(item.statements),
            conflict_ids=[conflict_id(c) for c in reconciled.conflicts_of(item)],
            topics=topic_views((topics or {}).get(f"{shown.get('resourceType')}/{shown.get('id')}", [])),
        ))
    return out


def topic_views(topics: list[Topic]) -> list[TopicView]:
    return [
        TopicView(topic.title or "Other", [
            (heading or "Entries", [describe(entry[1]) for entry in entries])
            for heading, entries in topic.in_order()
        ])
        for topic in topics
        if topic.headings
    ]


def conflict_views(reconciled: Reconciled, section_of: dict[int, str]) -> list[ConflictView]:
    views = []
    for conflict in reconciled.conflicts:
        versions = [
            Version(describe(s.resource), detail(s.resource), nhs_date(clinical_date(s.resource)), s.source.system)
            for item in conflict.items for s in item.statements
        ]
        views.append(ConflictView(conflict_id(conflict), conflict.description,
                                  section_of.get(id(conflict.items[0]), ""), versions))
    return views
