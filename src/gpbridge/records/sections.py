"""GP Connect's sections: which entries of a ``PatientRecord`` each one holds, per its options.

Each ``select_*`` returns a ``Section``: the entries to list, the resources they bring with them
(a report's results, a statement's plan) and the List warnings that apply. Entries the consumer
may not see (confidential) or that a clinician has not yet filed are withheld and warned about,
never silently dropped.
"""

from __future__ import annotations

from typing import Any

from gpbridge.records.consultations import select_consultations
from gpbridge.records.dates import clinical_date
from gpbridge.records.gpc_codes import IMMUNISATION_STATUS_CODES, SNOMED
from gpbridge.records.gpc_params import EVERYTHING, Window
from gpbridge.records.links import first_code, has_category
from gpbridge.records.patient_record import PatientRecord
from gpbridge.records.problems import select_problems
from gpbridge.records.section_model import UNFILED, Section, is_confidential, visible


def _newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda r: clinical_date(r) or "", reverse=True)


def select_allergies(record: PatientRecord, options: dict[str, Any]) -> list[Section]:
    active, ended = Section("allergies"), Section("resolved-allergies")
    for allergy in visible(active, record.of("AllergyIntolerance")):
        status = first_code(allergy.get("clinicalStatus"))
        if status in ("resolved", "inactive"):
            ended.entries.append(allergy)
        elif first_code(allergy.get("verificationStatus")) != "entered-in-error":
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
    for statement in visible(section, record.of("MedicationStatement")):
        if since and not _active_since(statement, since, requests):
            continue
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


def _active_since(statement: dict[str, Any], since: str, requests: dict[str, dict[str, Any]]) -> bool:
    """GP Connect: active from its start to its end, inclusive; with no end, an acute course is
    active on its start day only and anything else (repeats, or not said) is on-going."""
    period = statement.get("effectivePeriod") or {}
    ended = period.get("end")
    if ended:
        return bool(ended[:10] >= since)
    started = period.get("start") or statement.get("effectiveDateTime")
    acute = any(
        first_code((requests.get(b.get("reference", "")) or {}).get("courseOfTherapyType")) == "acute"
        for b in statement.get("basedOn") or ()
    )
    return not (acute and isinstance(started, str) and started[:10] < since)


def select_immunisations(record: PatientRecord, options: dict[str, Any]) -> Section:
    """Immunisations given; those not given only with ``includeNotGiven`` (default false); and,
    unless ``includeStatus`` is false, the Observations recording the patient's consent or
    dissent to immunisation (GP Connect returns those in this List too)."""
    section = Section("immunisations")
    include_not_given = options.get("not_given", False)
    for immunisation in visible(section, record.of("Immunization")):
        if immunisation.get("status") == "not-done" and not include_not_given:
            continue
        if immunisation.get("status") == "entered-in-error":
            continue
        section.entries.append(immunisation)
    if options.get("status", True):
        statuses = [o for o in record.of("Observation") if is_immunisation_status(o)]
        section.entries.extend(visible(section, statuses))
    section.entries = _newest_first(section.entries)
    return section


def is_immunisation_status(observation: dict[str, Any]) -> bool:
    """An Observation recording consent or dissent to immunisation: a known code, or a coded term
    that says so (GP systems word these many ways: "declined", "no consent", "refused")."""
    code = observation.get("code") or {}
    for coding in code.get("coding") or ():
        if coding.get("code") in IMMUNISATION_STATUS_CODES and coding.get("system") == SNOMED:
            return True
        if (display := coding.get("display")) and _says_immunisation_status(display):
            return True
    text = code.get("text")
    return bool(text) and _says_immunisation_status(text)


def _says_immunisation_status(term: str) -> bool:
    # plain substring tests on the lower-cased term: several times cheaper than case-blind regexes,
    # and this runs for every Observation of the record
    words = term.lower()
    return ("immuni" in words or "vaccin" in words) and (
        "consent" in words or "dissent" in words or "declin" in words or "refus" in words)


def select_investigations(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("investigations")
    window: Window = options.get("period", EVERYTHING)
    index = record.index()  # keyed once per request; results name Observations only
    for report in visible(section, record.of("DiagnosticReport")):
        if report.get("status") in UNFILED:
            section.warnings.add("data-awaiting-filing")
            continue
        if not window.holds(report.get("issued") or clinical_date(report)):  # GP Connect: by issued
            continue
        section.entries.append(report)
        for result in report.get("result") or ():
            found = index.get(result.get("reference", ""))
            if found is not None and found["resourceType"] == "Observation" and not is_confidential(found):
                section.related.append(found)
    return section


def reported_observations(record: PatientRecord) -> set[str]:
    return {r.get("reference", "") for report in record.of("DiagnosticReport") for r in report.get("result") or ()}


def select_uncategorised(record: PatientRecord, options: dict[str, Any]) -> Section:
    """Observations that belong to no other section (not a test result)."""
    section = Section("uncategorised")
    window: Window = options.get("period", EVERYTHING)
    in_reports = reported_observations(record)
    for observation in visible(section, record.of("Observation")):
        if f"Observation/{observation['id']}" in in_reports or has_category(observation, "laboratory"):
            continue
        if window.holds(clinical_date(observation)):
            section.entries.append(observation)
    return section


def select_referrals(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("referrals")
    window: Window = options.get("period", EVERYTHING)
    for request in visible(section, record.of("ServiceRequest")):
        if request.get("intent") != "plan" and window.holds(clinical_date(request)):
            section.entries.append(request)
    return section


def select_diary(record: PatientRecord, options: dict[str, Any]) -> Section:
    """Diary entries (recalls, planned actions): ServiceRequests with intent ``plan``."""
    section = Section("diary")
    until = options.get("until")
    for request in visible(section, record.of("ServiceRequest")):
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
