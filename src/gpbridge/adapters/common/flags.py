"""Data-quality flags: how a translated resource says "I kept something I could not map".

A resource carrying legacy content that could not be translated gets a ``meta.tag`` from the
``DATA_QUALITY`` code system, and every unmapped code is also listed in the import summary so a
human can extend the maps. Nothing is dropped: the original coding or text stays on the resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATA_QUALITY = "https://gpbridge.dev/CodeSystem/data-quality"

UNMAPPED_CODE = "unmapped-code"  # coded in a legacy/local system with no SNOMED CT map
DESCRIPTION_ONLY = "sct-description-only"  # a SNOMED CT description id whose concept is not known here
UNCODED_TEXT = "uncoded-text"  # free text only: kept as CodeableConcept.text / note
DEGRADED = "degraded"  # source structure only partly understood: the text is kept, see note

_DISPLAY = {
    UNMAPPED_CODE: "Code has no SNOMED CT map; original coding kept",
    DESCRIPTION_ONLY: "SNOMED CT description id not resolved to a concept",
    UNCODED_TEXT: "Uncoded free text kept as text",
    DEGRADED: "Source structure partly translated; original text kept",
}


@dataclass(frozen=True, slots=True)
class UnmappedCode:
    system: str
    code: str
    display: str
    place: str  # where in the input (XPath, HL7 field, CSV line/column)


@dataclass
class Quality:
    """What one translation could not map, for the import summary."""

    unmapped: list[UnmappedCode] = field(default_factory=list)
    flagged: int = 0

    def note_unmapped(self, system: str, code: str, display: str, place: str) -> None:
        self.unmapped.append(UnmappedCode(system, code, display, place))

    def flag(self, resource: dict[str, Any], code: str) -> None:
        tags = resource.setdefault("meta", {}).setdefault("tag", [])
        if any(t.get("system") == DATA_QUALITY and t.get("code") == code for t in tags):
            return
        tags.append({"system": DATA_QUALITY, "code": code, "display": _DISPLAY[code]})
        self.flagged += 1


def flags_of(resource: dict[str, Any]) -> set[str]:
    return {t["code"] for t in resource.get("meta", {}).get("tag", ()) if t.get("system") == DATA_QUALITY}
