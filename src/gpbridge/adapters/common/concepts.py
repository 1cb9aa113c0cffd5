"""Build a CodeableConcept from a statement's source codings, through a ``CodeMapper``.

SNOMED CT codings come first (a description id is kept on the UK Core ``CodingSCTDescId``
extension and resolved to its concept when the mapper knows it), then every original coding
(Read v2, CTV3, EGTON, local) exactly as received. The caller learns which data-quality flag, if
any, the concept deserves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gpbridge.adapters.common.codes import (
    LOINC,
    SCT_DESC_ID_URL,
    SNOMED,
    SNOMED_DESCRIPTION,
    CodeMapper,
    Mapped,
    sctid_partition,
)
from gpbridge.adapters.common.flags import DESCRIPTION_ONLY, UNCODED_TEXT, UNMAPPED_CODE, Quality

#: standard code systems kept as they are even when no SNOMED CT map exists (e.g. LOINC lab codes)
INTERNATIONAL = frozenset({LOINC})


def build_concept(
    source: Iterable[Mapped],
    text: str | None,
    mapper: CodeMapper,
    quality: Quality,
    place: str | Callable[[], str],
) -> tuple[dict[str, Any] | None, str | None]:
    """(CodeableConcept or None, data-quality flag or None) for ``source`` codings and ``text``.

    ``place`` may be a function: working out where a code sits is only worth it when it is unmapped.
    """
    where = place if callable(place) else (lambda: place)
    snomed: list[dict[str, Any]] = []
    originals: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    has_concept = False
    description_only = False
    for system, code, display in source:
        if not code:
            continue
        if system == SNOMED:
            if sctid_partition(code) == "1":
                coding = _description_coding(code, display, mapper)
                if "code" not in coding:
                    description_only = True
                    quality.note_unmapped(SNOMED_DESCRIPTION, code, display, where())
            else:
                coding = _coding(SNOMED, code, display)
            key = (SNOMED, coding.get("code") or "#" + code)
            if key not in seen:
                seen.add(key)
                snomed.append(coding)
                has_concept = has_concept or "code" in coding
            continue
        key = (system, code)
        if key in seen:
            continue
        seen.add(key)
        originals.append(_coding(system, code, display))
        mapped = [m for m in mapper.map_code(system, code) if m[0] == SNOMED]
        if system in INTERNATIONAL:
            has_concept = True  # a code in an international standard is not a data-quality problem
        elif not mapped:
            quality.note_unmapped(system, code, display, where())
        for target_system, target_code, target_display in mapped:
            if (target_system, target_code) not in seen:
                seen.add((target_system, target_code))
                snomed.append(_coding(target_system, target_code, target_display))
                has_concept = True
    codings = snomed + originals
    concept: dict[str, Any] = {}
    if codings:
        concept["coding"] = codings
    if text:
        concept["text"] = text
    elif codings and codings[0].get("display"):
        concept["text"] = codings[0]["display"]
    if not concept:
        return None, None
    if has_concept:
        return concept, None
    if description_only:
        return concept, DESCRIPTION_ONLY
    return concept, UNMAPPED_CODE if codings else UNCODED_TEXT


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _description_coding(description_id: str, display: str, mapper: CodeMapper) -> dict[str, Any]:
    extension: dict[str, Any] = {"url": SCT_DESC_ID_URL, "extension": [{"url": "descriptionId", "valueIdentifier": {"value": description_id}}]}
    if display:
        extension["extension"].append({"url": "descriptionDisplay", "valueString": display})
    coding: dict[str, Any] = {"extension": [extension], "system": SNOMED}
    concept = mapper.map_code(SNOMED_DESCRIPTION, description_id)
    if concept:
        coding["code"] = concept[0][1]
        display = concept[0][2] or display
    if display:
        coding["display"] = display
    return coding
