"""A section's ``List`` (UK Core List) and the UK Core profile every Bundle entry claims."""

from __future__ import annotations

from typing import Any

from gpbridge.records.gpc_codes import (
    LIST_EMPTY_SYSTEM,
    LIST_WARNING_SYSTEM,
    LIST_WARNING_URL,
    SECTION_LISTS,
    SNOMED,
    WARNING_NOTES,
    WARNINGS,
)
from gpbridge.records.section_model import Section

UKCORE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"
PROFILED_TYPES = frozenset({
    "Patient", "Organization", "Practitioner", "PractitionerRole", "List", "AllergyIntolerance", "Condition",
    "MedicationStatement", "MedicationRequest", "Medication", "Immunization", "Encounter", "Observation",
    "DiagnosticReport", "ServiceRequest", "Flag", "Provenance", "Composition", "Location", "Bundle",
})


def with_profile(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` claiming its UK Core profile. Changed in place: records are parsed afresh for
    each request, so nothing shared is touched, and a copy per entry is measurable at 1,000 entries."""
    type_ = resource.get("resourceType", "")
    if type_ not in PROFILED_TYPES:
        return resource
    profile = UKCORE + type_
    meta = resource.get("meta")
    if meta is None:
        meta = resource["meta"] = {}
    profiles = meta.get("profile")
    if not profiles:
        meta["profile"] = [profile]
    elif profile not in profiles:
        meta["profile"] = [profile, *profiles]
    return resource


ORDERED_BY = {
    "event-date": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-order",
                               "code": "event-date", "display": "Sorted by Event Date"}]},
    "system": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-order",
                           "code": "system", "display": "Sorted by System"}]},
}


def section_list(section: Section, patient_reference: str, date: str, list_id: str) -> dict[str, Any]:
    code, display, title = SECTION_LISTS[section.key]
    return make_list(
        (code, display), title, patient_reference, date, list_id,
        [f"{r['resourceType']}/{r['id']}" for r in section.entries], section.warnings,
    )


def make_list(
    code: tuple[str, str],
    title: str | None,
    patient_reference: str,
    date: str | None,
    list_id: str,
    items: list[str],
    warnings: set[str] = frozenset(),  # type: ignore[assignment]
    *,
    encounter: str | None = None,
    extension: list[dict[str, Any]] | None = None,
    ordered_by: str = "event-date",
) -> dict[str, Any]:
    """A UK Core List as GP Connect shapes it: snapshot, coded, with warnings, or empty and saying so.
    Built key by key in FHIR's element order; hundreds are built per record, so it stays lean."""
    out: dict[str, Any] = {"resourceType": "List", "id": list_id, "meta": LIST_META}
    if extension or warnings:
        out["extension"] = [*(extension or ()), *(_WARNING_EXTENSIONS[w] for w in sorted(warnings))]
    out["status"] = "current"
    out["mode"] = "snapshot"
    if title:
        out["title"] = title
    out["code"] = {"coding": [{"system": SNOMED, "code": code[0], "display": code[1]}]}
    out["subject"] = {"reference": patient_reference}
    if encounter:
        out["encounter"] = {"reference": encounter}
    if date:
        out["date"] = date
    out["orderedBy"] = ORDERED_BY[ordered_by]
    notes = [{"text": WARNING_NOTES[w]} for w in sorted(warnings)] if warnings else []
    if items:
        out["entry"] = [{"item": {"reference": ref}} for ref in items]
    else:
        out["emptyReason"] = NO_CONTENT
        notes.append({"text": "Information not available"})
    if notes:
        out["note"] = notes
    return out


def add_warning(listing: dict[str, Any], warning: str) -> None:
    """Add a warning code (and its note) to a built List, once."""
    extension = _WARNING_EXTENSIONS[warning]
    if extension in listing.get("extension", ()):
        return
    listing.setdefault("extension", []).append(extension)
    listing.setdefault("note", []).insert(0, {"text": WARNING_NOTES[warning]})


# Shared, never changed: every List that carries one refers to the same object
LIST_PROFILE = UKCORE + "List"
LIST_META = {"profile": [LIST_PROFILE]}
_WARNING_EXTENSIONS = {
    code: {"url": LIST_WARNING_URL, "valueCodeableConcept": {"coding": [
        {"system": LIST_WARNING_SYSTEM, "code": code, "display": display}]}}
    for code, display in WARNINGS.items()
}
NO_CONTENT = {"coding": [{"system": LIST_EMPTY_SYSTEM, "code": "no-content-recorded", "display": "No Content Recorded"}]}
