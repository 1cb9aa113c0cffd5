"""The one clinically meaningful date of each kind of record entry (for filters, order and display)."""

from __future__ import annotations

from typing import Any

# type -> candidate paths, best first; a dotted path reads into a complex element
_DATE_PATHS: dict[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("onsetDateTime", "recordedDate", "onsetPeriod.start"),
    "Condition": ("onsetDateTime", "recordedDate", "onsetPeriod.start"),
    "MedicationStatement": ("effectivePeriod.start", "effectiveDateTime", "dateAsserted"),
    "MedicationRequest": ("authoredOn", "dispenseRequest.validityPeriod.start"),
    "Immunization": ("occurrenceDateTime", "recorded"),
    "Encounter": ("period.start",),
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "ServiceRequest": ("authoredOn", "occurrenceDateTime", "occurrencePeriod.start"),
    "Flag": ("period.start",),
    "DetectedIssue": ("identifiedDateTime",),
}


# the same paths split once: this runs for every entry of every record served
_DATE_STEPS = {type_: tuple(tuple(p.split(".")) for p in paths) for type_, paths in _DATE_PATHS.items()}


def clinical_date(resource: dict[str, Any]) -> str | None:
    """The entry's date as recorded (FHIR date or dateTime), or None when it has none."""
    for steps in _DATE_STEPS.get(resource.get("resourceType", ""), ()):
        value: Any = resource
        for step in steps:
            value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return None


def end_date(resource: dict[str, Any]) -> str | None:
    """When a course or condition ended, if it did (for overlap tests)."""
    for key in ("effectivePeriod", "period", "onsetPeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and isinstance(period.get("end"), str):
            return period["end"]
    value = resource.get("abatementDateTime")
    return value if isinstance(value, str) else None
