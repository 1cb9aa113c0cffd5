"""What one requested section yields, and the confidentiality test every section applies.

A ``Section`` is what becomes one List in the Bundle: its entries, the resources they bring with
them, the List warnings that apply, and (for consultations and problems) the Lists that carry a
consultation's structure and the items linked to the entries, listed per clinical area.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpbridge.records.gpc_codes import CONFIDENTIALITY_SYSTEM
from gpbridge.records.links import area_of

_RESTRICTED = {"R", "V"}  # restricted, very restricted
UNFILED = frozenset({"registered", "partial", "preliminary"})


@dataclass(slots=True)
class Section:
    key: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)  # in the Bundle, not in the List
    # references outside the patient compartment the Bundle must carry too (e.g. Medication)
    references: set[str] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)
    # Lists built with the section (a consultation's consultation, topic and category Lists)
    structure: list[dict[str, Any]] = field(default_factory=list)
    # clinical area -> ``Type/id`` -> entries linked to this section's entries (GP Connect's
    # secondary Lists), in the order first linked
    linked: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    linked_warnings: dict[str, set[str]] = field(default_factory=dict)

    def link(self, area: str, resource: dict[str, Any], key: str | None = None) -> None:
        self.linked.setdefault(area, {}).setdefault(key or f"{resource['resourceType']}/{resource['id']}", resource)

    def link_entry(self, resource: dict[str, Any], key: str | None = None) -> bool:
        """List ``resource`` (its ``key`` when known) as linked, with the Medication it names, or
        withhold it and warn its area's List; False when withheld."""
        area = area_of(resource) or "uncategorised"
        if "meta" in resource and is_confidential(resource):
            self.linked_warnings.setdefault(area, set()).add("confidential-items")
            return False
        self.link(area, resource, key)
        medication = (resource.get("medicationReference") or {}).get("reference")
        if isinstance(medication, str):
            self.references.add(medication)
        return True


def is_confidential(resource: dict[str, Any]) -> bool:
    meta = resource.get("meta")
    if not meta or "security" not in meta:
        return False  # most entries carry no labels: answer without a generator
    return any(
        s.get("system") == CONFIDENTIALITY_SYSTEM and s.get("code") in _RESTRICTED
        for s in (resource.get("meta") or {}).get("security") or ()
    )


def visible(section: Section, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates the consumer may see; withholding any warns the section's List."""
    shown = []
    for resource in candidates:
        if is_confidential(resource):
            section.warnings.add("confidential-items")
        else:
            shown.append(resource)
    return shown
