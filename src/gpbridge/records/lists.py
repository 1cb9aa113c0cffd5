"""A section's ``List`` (UK Core List) and the UK Core profile every Bundle entry claims."""

from __future__ import annotations

from typing import Any

from gpbridge.records.gpc_codes import (
    LIST_EMPTY_SYSTEM,
    LIST_WARNING_SYSTEM,
    LIST_WARNING_URL,
    SECTION_LISTS,
    SNOMED,
    WARNINGS,
)
from gpbridge.records.sections import Section

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


def section_list(section: Section, patient_reference: str, date: str, list_id: str) -> dict[str, Any]:
    code, display, title = SECTION_LISTS[section.key]
    out: dict[str, Any] = {
        "resourceType": "List",
        "id": list_id,
        "meta": {"profile": [UKCORE + "List"]},
        "status": "current",
        "mode": "snapshot",
        "title": title,
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "subject": {"reference": patient_reference},
        "date": date,
        "orderedBy": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-order",
                                  "code": "event-date", "display": "Sorted by Event Date"}]},
    }
    if section.warnings:
        out["extension"] = [
            {"url": LIST_WARNING_URL, "valueCodeableConcept": {"coding": [
                {"system": LIST_WARNING_SYSTEM, "code": w, "display": WARNINGS[w]}]}}
            for w in sorted(section.warnings)
        ]
    if section.entries:
        out["entry"] = [{"item": {"reference": f"{r['resourceType']}/{r['id']}"}} for r in section.entries]
    else:
        out["emptyReason"] = {"coding": [
            {"system": LIST_EMPTY_SYSTEM, "code": "no-content-recorded", "display": "No Content Recorded"}]}
        out["note"] = [{"text": "Information not available"}]
    return out
