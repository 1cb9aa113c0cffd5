"""The problems section: the problems asked for, and everything linked to them.

``includeProblems`` may be given more than once, each a (status, significance) pair; a problem is
returned when it meets any of them. With each problem come the entries it links
(``Extension-UKCore-ActualProblem`` / ``RelatedClinicalContent``), each with what it always brings
(a medication's statement and plan), the consultations about it, and the problems related to it
(``RelatedProblemHeader``) even when they miss the filters: all listed per clinical area in the
secondary Lists "... related to problems". A link to an entry the consumer may not see is removed
from the Condition and the secondary List warns of it.
"""

from __future__ import annotations

from typing import Any

from gpbridge.records.links import (
    MEDICATION_TYPES,
    drop_links,
    encounter_problems,
    first_code,
    index_of,
    is_problem,
    key_of,
    medication_story,
    problem_links,
    related_problems,
    statements_by_plan,
)
from gpbridge.records.patient_record import PatientRecord
from gpbridge.records.section_model import Section, visible

SIGNIFICANCE_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ProblemSignificance"
_ACTIVE = frozenset({"active", "recurrence", "relapse"})


def select_problems(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("problems")
    filters = options.get("filters") or [{}]
    problems = [c for c in visible(section, record.of("Condition")) if is_problem(c)]
    section.entries = [c for c in problems if any(_meets(c, f) for f in filters)]
    if not section.entries:
        return section
    index = index_of(record)
    plans = statements_by_plan(record)
    chosen = {key_of(c) for c in section.entries}
    about = _consultations_about(record)
    for condition in section.entries:
        withheld: set[str] = set()
        for ref in problem_links(condition):
            item = index.get(ref)
            if item is None:
                continue
            if not section.link_entry(item, ref):
                withheld.add(ref)
            if item["resourceType"] in MEDICATION_TYPES:
                for resource in medication_story(item, index, plans):
                    _link(section, resource, withheld)
        for ref in related_problems(condition):
            related = index.get(ref)
            if related is not None and ref not in chosen:
                _link(section, related, withheld)
        for encounter in about.get(key_of(condition), ()):
            _link(section, encounter, withheld)
        drop_links(condition, withheld)
    return section


def _link(section: Section, resource: dict[str, Any], withheld: set[str]) -> None:
    if not section.link_entry(resource):
        withheld.add(key_of(resource))


def _consultations_about(record: PatientRecord) -> dict[str, list[dict[str, Any]]]:
    """Problem reference -> the consultations that were about it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for encounter in record.of("Encounter"):
        for ref in encounter_problems(encounter):
            out.setdefault(ref, []).append(encounter)
    return out


def _meets(condition: dict[str, Any], wanted: dict[str, Any]) -> bool:
    status = first_code(condition.get("clinicalStatus")) or "active"
    is_active = status in _ACTIVE
    if wanted.get("status") == "active" and not is_active or wanted.get("status") == "inactive" and is_active:
        return False
    return not wanted.get("significance") or significance(condition) == wanted["significance"]


def significance(condition: dict[str, Any]) -> str:
    for extension in condition.get("extension") or ():
        if extension.get("url") == SIGNIFICANCE_URL:
            return str(extension.get("valueCode") or "major")
    return "major"  # GP systems record problems as major unless told otherwise


def link_problems(
    section: Section, linking: dict[str, list[dict[str, Any]]], index: dict[str, dict[str, Any]]
) -> None:
    """GP Connect returns, with every section, the problems linked to its entries."""
    if not linking:
        return
    # few entries are linked: look each linked one up, rather than key every entry of the section
    shown = {id(r) for r in section.entries}
    shown.update(id(r) for r in section.related)
    for ref, problems in linking.items():
        if (entry := index.get(ref)) is not None and id(entry) in shown:
            for problem in problems:
                section.link_entry(problem)
