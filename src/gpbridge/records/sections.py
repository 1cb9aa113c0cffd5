"""GP Connect's sections: which entries of a ``PatientRecord`` each one holds, per its options.

Each ``select_*`` returns a ``Section``: the entries to list, the resources they bring with them
(a report's results, a statement's plan) and the List warnings that apply. Entries the consumer
may not see (confidential) or that a clinician has not yet filed are withheld and warned about,
never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpbridge.records.dates import clinical_date
from gpbridge.records.gpc_codes import CONFIDENTIALITY_SYSTEM
from gpbridge.records.gpc_params import EVERYTHING, Window
from gpbridge.records.patient_record import PatientRecord

_RESTRICTED = {"R", "V"}  # restricted, very restricted
_UNFILED = {"registered", "partial", "preliminary"}
_PROBLEM = "problem-list-item"
_SIGNIFICANCE_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ProblemSignificance"


@dataclass(slots=True)
class Section:
    key: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)  # in the Bundle, not in the List
    # references outside the patient compartment the Bundle must carry too (e.g. Medication)
    references: set[str] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)


def is_confidential(resource: dict[str, Any]) -> bool:
    return any(
        s.get("system") == CONFIDENTIALITY_SYSTEM and s.get("code") in _RESTRICTED
        for s in (resource.get("meta") or {}).get("security") or ()
    )


def _visible(section: Section, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shown = []
    for resource in candidates:
        if is_confidential(resource):
            section.warnings.add("confidential-items")
        else:
            shown.append(resource)
    return shown


def _status(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding") or ():
        return coding.get("code")
    return None


def _newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda r: clinical_date(r) or "", reverse=True)


def select_allergies(record: PatientRecord, options: dict[str, Any]) -> list[Section]:
    active, ended = Section("allergies"), Section("resolved-allergies")
    for allergy in _visible(active, record.of("AllergyIntolerance")):
        status = _status(allergy.get("clinicalStatus"))
        if status in ("resolved", "inactive"):
            ended.entries.append(allergy)
        elif _status(allergy.get("verificationStatus")) != "entered-in-error":
            active.entries.append(allergy)
    if not options.get("resolved"):
        return [active]
    ended.warnings |= active.warnings
    return [active, ended]


def select_medications(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("medications")
    since = options.get("from")
    requests = {f"MedicationRequest/{r['id']}": r for r in record.of("MedicationRequest")}
    linked: set[str] = set()
    for statement in _visible(section, record.of("MedicationStatement")):
        ended = (statement.get("effectivePeriod") or {}).get("end")
        if since and ended and ended[:10] < since:
            continue  # a course that ended before the window
        section.entries.append(statement)
        for based_on in statement.get("basedOn") or ():
            linked.add(based_on.get("reference", ""))
    wanted_issues = options.get("issues", True)
    for reference, request in requests.items():
        if is_confidential(request):
            continue
        is_plan = request.get("intent") == "plan"
        if reference in linked and is_plan:
            section.related.append(request)
        elif not is_plan and wanted_issues and (not since or (clinical_date(request) or "")[:10] >= since):
            section.related.append(request)  # an issue of a plan: part of the statement's story
    for resource in (*section.entries, *section.related):
        medication = (resource.get("medicationReference") or {}).get("reference")
        if isinstance(medication, str):
            section.references.add(medication)
    return section


def select_problems(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("problems")
    wanted_status = options.get("status")
    wanted_significance = options.get("significance")
    for condition in _visible(section, record.of("Condition")):
        categories = {c.get("code") for cat in condition.get("category") or () for c in cat.get("coding") or ()}
        if _PROBLEM not in categories:
            continue
        status = _status(condition.get("clinicalStatus")) or "active"
        is_active = status in ("active", "recurrence", "relapse")
        if wanted_status == "active" and not is_active or wanted_status == "inactive" and is_active:
            continue
        if wanted_significance and _significance(condition) != wanted_significance:
            continue
        section.entries.append(condition)
    return section


def _significance(condition: dict[str, Any]) -> str:
    for extension in condition.get("extension") or ():
        if extension.get("url") == _SIGNIFICANCE_URL:
            return str(extension.get("valueCode") or "major")
    return "major"  # GP systems record problems as major unless told otherwise


def select_immunisations(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("immunisations")
    include_not_given = options.get("not_given", True)
    for immunisation in _visible(section, record.of("Immunization")):
        if immunisation.get("status") == "not-done" and not include_not_given:
            continue
        if immunisation.get("status") == "entered-in-error":
            continue
        section.entries.append(immunisation)
    return section


def select_consultations(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("consultations")
    window: Window = options.get("period", EVERYTHING)
    encounters = [e for e in _visible(section, record.of("Encounter")) if window.holds(clinical_date(e))]
    encounters = _newest_first(encounters)
    if "most_recent" in options:
        encounters = encounters[: options["most_recent"]]
    section.entries = encounters
    return section


def select_investigations(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("investigations")
    window: Window = options.get("period", EVERYTHING)
    observations = {f"Observation/{o['id']}": o for o in record.of("Observation")}
    for report in _visible(section, record.of("DiagnosticReport")):
        if report.get("status") in _UNFILED:
            section.warnings.add("data-awaiting-filing")
            continue
        if not window.holds(clinical_date(report)):
            continue
        section.entries.append(report)
        for result in report.get("result") or ():
            found = observations.get(result.get("reference", ""))
            if found is not None and not is_confidential(found):
                section.related.append(found)
    return section


def reported_observations(record: PatientRecord) -> set[str]:
    return {r.get("reference", "") for report in record.of("DiagnosticReport") for r in report.get("result") or ()}


def select_uncategorised(record: PatientRecord, options: dict[str, Any]) -> Section:
    """Observations that belong to no other section (not a test result)."""
    section = Section("uncategorised")
    window: Window = options.get("period", EVERYTHING)
    in_reports = reported_observations(record)
    for observation in _visible(section, record.of("Observation")):
        categories = {c.get("code") for cat in observation.get("category") or () for c in cat.get("coding") or ()}
        if f"Observation/{observation['id']}" in in_reports or "laboratory" in categories:
            continue
        if window.holds(clinical_date(observation)):
            section.entries.append(observation)
    return section


def select_referrals(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("referrals")
    window: Window = options.get("period", EVERYTHING)
    for request in _visible(section, record.of("ServiceRequest")):
        if request.get("intent") != "plan" and window.holds(clinical_date(request)):
            section.entries.append(request)
    return section


def select_diary(record: PatientRecord, options: dict[str, Any]) -> Section:
    """Diary entries (recalls, planned actions): ServiceRequests with intent ``plan``."""
    section = Section("diary")
    until = options.get("until")
    for request in _visible(section, record.of("ServiceRequest")):
        if request.get("intent") != "plan" or request.get("status") not in (None, "active", "draft", "on-hold"):
            continue
        when = clinical_date(request)
        if until is None or when is None or when[:10] <= until:
            section.entries.append(request)
    return section


def select(record: PatientRecord, key: str, options: dict[str, Any]) -> list[Section]:
    """The List(s) of one requested section."""
    if key == "allergies":
        return select_allergies(record, options)
    return [_SELECTORS[key](record, options)]


_SELECTORS = {
    "medications": select_medications,
    "problems": select_problems,
    "immunisations": select_immunisations,
    "consultations": select_consultations,
    "investigations": select_investigations,
    "uncategorised": select_uncategorised,
    "referrals": select_referrals,
    "diary": select_diary,
}
