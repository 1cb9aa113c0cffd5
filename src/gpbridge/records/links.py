"""How record entries point at each other: a problem's linked clinical content, an entry's
consultation, and the resources a linked medication always brings with it.

GP Connect returns, with each problem and each consultation, the items linked to it; in UK Core R4
a problem (Condition) names them with ``Extension-UKCore-ActualProblem`` and
``Extension-UKCore-RelatedClinicalContent``, and other problems with
``Extension-UKCore-RelatedProblemHeader`` (sub-extension ``target``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpbridge.records.patient_record import PatientRecord

UKCORE_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-"
ACTUAL_PROBLEM = UKCORE_EXTENSION + "ActualProblem"
RELATED_CLINICAL_CONTENT = UKCORE_EXTENSION + "RelatedClinicalContent"
RELATED_PROBLEM_HEADER = UKCORE_EXTENSION + "RelatedProblemHeader"
_LINKS = (ACTUAL_PROBLEM, RELATED_CLINICAL_CONTENT)
# Types that are part of a consultation's content (not the consultation, its lists or its metadata)
CONTENT_TYPES = frozenset({
    "AllergyIntolerance", "Condition", "MedicationStatement", "MedicationRequest", "Immunization",
    "Observation", "DiagnosticReport", "ServiceRequest",
})


def first_code(concept: Any) -> str | None:
    """The code of a CodeableConcept's first coding."""
    for coding in (concept or {}).get("coding") or ():
        return coding.get("code")
    return None


def has_category(resource: dict[str, Any], code: str) -> bool:
    """Whether any ``category`` coding has ``code`` (without building the set: a hot path)."""
    for concept in resource.get("category") or ():
        for coding in concept.get("coding") or ():
            if coding.get("code") == code:
                return True
    return False


def group_of(resource: dict[str, Any]) -> str | None:
    """The GP Connect section an entry is shown under (None: not shown in a section)."""
    type_ = resource.get("resourceType")
    if type_ == "Condition":
        return "problems" if has_category(resource, "problem-list-item") else "uncategorised"
    if type_ == "Observation":
        return "investigations" if has_category(resource, "laboratory") else "uncategorised"
    if type_ == "ServiceRequest":
        return "diary" if resource.get("intent") == "plan" else "referrals"
    return _GROUP_OF_TYPE.get(str(type_))


_GROUP_OF_TYPE = {
    "AllergyIntolerance": "allergies", "MedicationStatement": "medications", "MedicationRequest": "medications",
    "Medication": "medications", "Encounter": "consultations", "Immunization": "immunisations",
    "DiagnosticReport": "investigations",
}


MEDICATION_TYPES = frozenset({"MedicationStatement", "MedicationRequest"})


def key_of(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def index_of(record: PatientRecord) -> dict[str, dict[str, Any]]:
    """``Type/id`` -> resource, for every entry of the record."""
    return record.index()


def is_problem(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "Condition" and group_of(resource) == "problems"


def problem_links(condition: dict[str, Any]) -> list[str]:
    """References to the clinical content linked to a problem, actual problem first."""
    return [
        ref for ext in condition.get("extension") or () if ext.get("url") in _LINKS
        if isinstance(ref := (ext.get("valueReference") or {}).get("reference"), str)
    ]


def linking_problems(record: PatientRecord) -> dict[str, list[dict[str, Any]]]:
    """Entry reference -> the problems that link it, in record order; worked out once per record."""
    found = record.derived.get("linking_problems")
    if found is None:
        found = record.derived["linking_problems"] = {}
        for condition in record.of("Condition"):
            if is_problem(condition):
                for ref in problem_links(condition):
                    found.setdefault(ref, []).append(condition)
    return found  # type: ignore[no-any-return]


def related_problems(condition: dict[str, Any]) -> list[str]:
    """References to the problems a problem is related to (parent, child or sibling)."""
    out = []
    for ext in condition.get("extension") or ():
        if ext.get("url") != RELATED_PROBLEM_HEADER:
            continue
        for sub in ext.get("extension") or ():
            ref = (sub.get("valueReference") or {}).get("reference") if sub.get("url") == "target" else None
            if isinstance(ref, str):
                out.append(ref)
    return out


def drop_links(condition: dict[str, Any], withheld: set[str]) -> None:
    """Remove links to withheld entries, so the Bundle does not name what it does not carry.
    Changed in place: records are parsed afresh for each request."""
    if not withheld or not condition.get("extension"):
        return
    condition["extension"] = [
        ext for ext in condition["extension"]
        if ext.get("url") not in _LINKS or (ext.get("valueReference") or {}).get("reference") not in withheld
    ]
    if not condition["extension"]:
        del condition["extension"]


def encounter_problems(encounter: dict[str, Any]) -> list[str]:
    """The problems a consultation was about: ``reasonReference`` and ``diagnosis.condition``."""
    refs = [r.get("reference") for r in encounter.get("reasonReference") or ()]
    refs += [(d.get("condition") or {}).get("reference") for d in encounter.get("diagnosis") or ()]
    return [r for r in dict.fromkeys(refs) if isinstance(r, str) and r.startswith("Condition/")]


def area_of(resource: dict[str, Any]) -> str | None:
    """The GP Connect clinical area (section key) an entry belongs to."""
    if resource.get("resourceType") == "AllergyIntolerance":
        codes = {c.get("code") for c in (resource.get("clinicalStatus") or {}).get("coding") or ()}
        return "resolved-allergies" if codes & {"resolved", "inactive"} else "allergies"
    return group_of(resource)


def medication_story(
    resource: dict[str, Any], index: dict[str, dict[str, Any]], statements_by_plan: dict[str, list[dict[str, Any]]]
) -> Iterable[dict[str, Any]]:
    """What a linked medication brings: always its MedicationStatement and plan (MedicationRequest,
    intent ``plan``); an issue (intent ``order``) only when the issue itself is linked."""
    type_ = resource.get("resourceType")
    plans: list[str] = []
    if type_ == "MedicationStatement":
        plans = [b.get("reference", "") for b in resource.get("basedOn") or ()]
    elif type_ == "MedicationRequest":
        plans = [key_of(resource)] if resource.get("intent") == "plan" else [
            b.get("reference", "") for b in resource.get("basedOn") or ()]
    for plan_ref in plans:
        if (plan := index.get(plan_ref)) is not None:
            yield plan
        yield from statements_by_plan.get(plan_ref, ())


def statements_by_plan(record: PatientRecord) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for statement in record.of("MedicationStatement"):
        for based_on in statement.get("basedOn") or ():
            out.setdefault(based_on.get("reference", ""), []).append(statement)
    return out
