"""GP Connect's vocabulary: Spine error codes, section List codes and List warning codes.

Errors use GP Connect's own Spine code system (as its Access Record Structured examples do): UK
Core's SpineErrorOrWarningCode system lacks INVALID_NHS_NUMBER, PATIENT_NOT_FOUND and the rest.
List codes are SNOMED CT concepts from GP Connect 1.6; warnings use UK Core's R4 extension.
"""

from __future__ import annotations

from typing import Any

from gpbridge.fhir.outcome import FhirError, Issue

SPINE_ERROR_SYSTEM = "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1"
SNOMED = "http://snomed.info/sct"
LIST_WARNING_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ListWarningCode"
LIST_WARNING_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-ListWarningCode"
LIST_EMPTY_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-ListEmptyReasonCode"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
# How this hub marks a record whose GP2GP transfer has not finished (a Patient.meta.tag).
RECORD_STATE_SYSTEM = "https://gpbridge.dev/CodeSystem/record-state"

# code -> (HTTP status, FHIR issue type, display)
SPINE_ERRORS: dict[str, tuple[int, str, str]] = {
    "INVALID_RESOURCE": (422, "invalid", "Invalid validation of resource"),
    "INVALID_PARAMETER": (422, "invalid", "Invalid parameter"),
    "INVALID_IDENTIFIER_SYSTEM": (422, "invalid", "Invalid identifier system"),
    "INVALID_NHS_NUMBER": (400, "value", "Invalid NHS number"),
    "PATIENT_NOT_FOUND": (404, "not-found", "Patient not found"),
    "NO_PATIENT_CONSENT": (403, "forbidden", "Patient has not provided consent to share data"),
    # the caller's role, scopes or relationship do not allow the request (security validation)
    "ACCESS_DENIED": (403, "forbidden", "Access denied"),
    "BAD_REQUEST": (400, "invalid", "Bad request"),
}

WARNINGS: dict[str, str] = {
    "confidential-items": "Confidential Items",
    "data-in-transit": "Data in Transit",
    "data-awaiting-filing": "Data Awaiting Filing",
}
# the text GP Connect puts in List.note beside each warning code
WARNING_NOTES: dict[str, str] = {
    "confidential-items": "Items excluded due to confidentiality and/or patient preferences.",
    "data-in-transit": "Patient record transfer from previous GP practice not yet complete; "
                       "information recorded before the transfer may be missing.",
    "data-awaiting-filing": "Some information has been received but not yet filed in the record.",
}

# section key -> (SNOMED code, display, List title)
SECTION_LISTS: dict[str, tuple[str, str, str]] = {
    "allergies": ("886921000000105", "Allergies and adverse reaction", "Allergies and adverse reactions"),
    "resolved-allergies": ("1103671000000101", "Ended allergies", "Ended allergies"),
    "medications": ("933361000000108", "Medications and medical devices", "Medications and medical devices"),
    "problems": ("717711000000103", "Problems", "Problems"),
    "consultations": ("1149501000000101", "List of consultations", "List of consultations"),
    "immunisations": ("1102181000000102", "Immunisations", "Immunisations"),
    "uncategorised": ("826501000000100", "Miscellaneous record", "Miscellaneous record"),
    "investigations": ("887191000000108", "Investigations and results", "Investigations and results"),
    "referrals": ("886721000000107", "Referral details", "Referral details"),  # as GP Connect's example
    "diary": ("714311000000108", "Patient recall administration", "Diary entries"),
}

# Immunisation consent/dissent findings returned with includeStatus (GP Connect's example: 268559007)
IMMUNISATION_STATUS_CODES = frozenset({"268559007"})  # No consent for any immunization

# The Lists that carry a consultation's structure (GP Connect 1.6): consultation > topic > category
CONSULTATION = ("325851000000107", "Consultation")
TOPIC = ("25851000000105", "Topic (EHR)")
CATEGORY = ("24781000000107", "Category (EHR)")
# Secondary Lists: the items linked to the returned problems or consultations, one List per
# clinical area. GP Connect has published no codes of their own for them (its examples say "TO BE
# CONFIRMED"), so each carries its area's code and a title naming what it is linked to.

def linked_title(area: str, section: str) -> str:
    """"Medications and medical devices related to problems", "Problems related to Immunisations"."""
    to = section if section in ("problems", "consultations") else SECTION_LISTS[section][2]
    return f"{SECTION_LISTS[area][2]} related to {to}"


def spine_issue(code: str, diagnostics: str, *expression: str, severity: str = "error") -> Issue:
    _, issue_type, display = SPINE_ERRORS.get(code, (0, "not-supported", code.replace("_", " ").capitalize()))
    details = {"coding": [{"system": SPINE_ERROR_SYSTEM, "code": code, "display": display}]}
    return Issue(severity, issue_type, diagnostics, tuple(e for e in expression if e), details)


def gpc_error(code: str, diagnostics: str, *expression: str) -> FhirError:
    """A client-visible failure carrying GP Connect's Spine code and its HTTP status."""
    return FhirError(SPINE_ERRORS[code][0], [spine_issue(code, diagnostics, *expression)])


def not_implemented_warning(name: str) -> Issue:
    """An unrecognised parameter: accepted, reported as GP Connect's examples do."""
    issue = spine_issue("NOT_IMPLEMENTED", name, f"Parameters.parameter.where(name='{name}')", severity="warning")
    details: dict[str, Any] = {
        "coding": [{"system": SPINE_ERROR_SYSTEM, "code": "NOT_IMPLEMENTED", "display": "Not implemented"}],
        "text": f"{name} is an unrecognised parameter",
    }
    return Issue("warning", "not-supported", name, issue.expression, details)
