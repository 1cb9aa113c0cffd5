"""GP Connect Access Record: Structured, in UK Core R4: the domain logic of ``$gpc.getstructuredrecord``.

``structured_record(store, body, access=...)`` checks the Parameters (``gpc_params``), finds the
patient by NHS number, refuses sensitive (restricted) patients as not found and dissenting patients
with NO_PATIENT_CONSENT, reads the record once (``patient_record``, which asks ``access`` whether the
caller may read each type it needs) and returns a ``collection`` Bundle:
Patient, registered practice, usual GP (Practitioner + PractitionerRole), one List per requested
section (``sections`` + ``lists``), the clinical resources, and an OperationOutcome of warnings
when some parameters were not recognised.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from gpbridge.fhir.outcome import operation_outcome
from gpbridge.identity.golden import is_golden
from gpbridge.records.access import RecordAccess
from gpbridge.records.gc_pause import cycle_collection_paused
from gpbridge.records.gpc_codes import RECORD_STATE_SYSTEM, SECTION_LISTS, gpc_error, linked_title
from gpbridge.records.gpc_params import StructuredRequest, parse_request
from gpbridge.records.links import linking_problems
from gpbridge.records.lists import UKCORE, add_warning, make_list, section_list, with_profile
from gpbridge.records.patient_record import PatientRecord, find_patients, load_record, read_resource
from gpbridge.records.problems import link_problems
from gpbridge.records.section_model import Section, is_confidential
from gpbridge.records.sections import select
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store

# Fixed section order, as GP Connect documents them
SECTION_ORDER = (
    "allergies", "medications", "consultations", "problems", "immunisations",
    "uncategorised", "investigations", "referrals", "diary",
)
# Consultations and problems bring whatever is linked to them: every kind of entry
_LINKABLE = ("AllergyIntolerance", "MedicationStatement", "MedicationRequest", "Encounter", "Condition",
             "Immunization", "Observation", "DiagnosticReport", "ServiceRequest")
# (every section lists the problems that link its entries, so Conditions are always read)
_TYPES_FOR = {
    "allergies": ("AllergyIntolerance", "Condition"),
    "medications": ("MedicationStatement", "MedicationRequest", "Condition"),
    "consultations": (*_LINKABLE, "List"),
    "problems": _LINKABLE,
    "immunisations": ("Immunization", "Observation", "Condition"),
    "uncategorised": ("Observation", "DiagnosticReport", "Condition"),
    "investigations": ("DiagnosticReport", "Observation", "Condition"),
    "referrals": ("ServiceRequest", "Condition"),
    "diary": ("ServiceRequest", "Condition"),
}
# section key -> the types of its entries: an entry of one of them withheld by the caller's access
# is warned about as a confidential item (the access drops it before the section could see it)
_ENTRY_TYPES = {
    "allergies": ("AllergyIntolerance",),
    "resolved-allergies": ("AllergyIntolerance",),
    "medications": ("MedicationStatement", "MedicationRequest"),
    "consultations": ("Encounter", "List"),
    "problems": ("Condition",),
    "immunisations": ("Immunization", "Observation"),
    "uncategorised": ("Observation",),
    "investigations": ("DiagnosticReport", "Observation"),
    "referrals": ("ServiceRequest",),
    "diary": ("ServiceRequest",),
}
# the clinical areas of secondary Lists, in GP Connect's section order
_AREA_ORDER = ("allergies", "resolved-allergies", "medications", "consultations", "problems", "immunisations",
               "uncategorised", "investigations", "referrals", "diary")


def structured_record(
    store: Store,
    body: Any,
    *,
    access: RecordAccess,
    base_url: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The structured record Bundle for a ``$gpc.getstructuredrecord`` Parameters ``body``.

    Once the patient is known, ``access`` decides (before any of the record is read) whether the
    caller may read the patient and every type the requested sections return, and may raise to
    refuse. Raises ``FhirError`` carrying GP Connect's Spine error code for every refusal of its own.
    """
    now = now or datetime.now(UTC)
    request = parse_request(body, now.date())
    patient = find_patient(store, request.nhs_number)
    types = sorted({t for key in request.sections for t in _TYPES_FOR[key]} | {"Consent"})
    with cycle_collection_paused():
        record = load_record(store, patient, types, access=access)
        refuse_dissent(record)
        return assemble(store, record, request, access=access, base_url=base_url, when=now)


def structured_record_json(
    store: Store,
    body: Any,
    *,
    access: RecordAccess,
    base_url: str = "",
    now: datetime | None = None,
) -> bytes:
    """``structured_record`` serialised, for the HTTP route: the Bundle is written and freed
    before the collector resumes, so no collection walks it on the way out."""
    with cycle_collection_paused():
        return orjson.dumps(structured_record(store, body, access=access, base_url=base_url, now=now))


def find_patient(store: Store, nhs_number: str) -> dict[str, Any]:
    """The registered patient. Restricted (sensitive), inactive and deceased patients answer exactly
    as unknown ones do, as GP Connect's error table says."""
    candidates = [
        p for p in find_patients(store, nhs_number)
        if p.get("active", True) and not _deceased(p)
        and not any(link.get("type") == "replaced-by" for link in p.get("link") or ())
    ]
    # GP Connect returns the registered practice's record: the source Patient registered with a
    # practice, not linkage's golden Patient (which holds no record) nor a hospital's copy
    registered = [p for p in candidates if p.get("managingOrganization") and not is_golden(p)]
    chosen = (registered or [p for p in candidates if not is_golden(p)])[:1]
    if not chosen or is_confidential(chosen[0]):
        raise gpc_error("PATIENT_NOT_FOUND", f"No patient with NHS number {nhs_number} was found")
    return chosen[0]


def _deceased(patient: dict[str, Any]) -> bool:
    return patient.get("deceasedBoolean") is True or "deceasedDateTime" in patient


def refuse_dissent(record: PatientRecord) -> None:
    """An active Consent that denies sharing is the patient's dissent: NO_PATIENT_CONSENT."""
    for consent in record.of("Consent"):
        provision = consent.get("provision") or {}
        if consent.get("status") == "active" and provision.get("type") == "deny":
            raise gpc_error("NO_PATIENT_CONSENT", "The patient has dissented from sharing their GP record")


def assemble(
    store: Store, record: PatientRecord, request: StructuredRequest, *, access: RecordAccess, base_url: str,
    when: datetime,
) -> dict[str, Any]:
    stamp = when.isoformat(timespec="seconds")
    entries: list[dict[str, Any]] = [with_profile(record.patient)]
    entries.extend(care_providers(store, record.patient, access))
    in_transit = _in_transit(record.patient)
    lists: list[dict[str, Any]] = []
    clinical: dict[str, dict[str, Any]] = {}
    linking = linking_problems(record)
    for key in SECTION_ORDER:
        if key not in request.sections:
            continue
        for section in select(record, key, request.sections[key]):
            if key not in ("problems", "consultations"):  # those two list their problems themselves
                link_problems(section, linking, record.index())
            if any(record.withheld[t] for t in _ENTRY_TYPES[section.key]):
                section.warnings.add("confidential-items")
            lists.append(section_list(section, record.reference, stamp, _list_id(record, section.key)))
            lists.extend(section.structure)
            lists.extend(_secondary_lists(record, section, stamp))
            for resource in (*section.entries, *section.related):
                clinical.setdefault(f"{resource['resourceType']}/{resource['id']}", resource)
            for linked in section.linked.values():  # keyed already
                for reference, resource in linked.items():
                    clinical.setdefault(reference, resource)
            for reference in sorted(section.references - clinical.keys()):
                if (found := read_resource(store, reference)) is not None:
                    for shown in access.shown([found]):  # outside the compartment, but still asked
                        clinical[reference] = shown
    if in_transit:
        for listing in lists:
            add_warning(listing, "data-in-transit")
    entries.extend(lists)
    entries.extend(with_profile(r) for r in clinical.values())
    if request.warnings:
        outcome = operation_outcome(request.warnings)
        outcome["id"] = str(uuid.uuid4())
        outcome["meta"] = {"profile": [UKCORE + "OperationOutcome"]}
        entries.append(outcome)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": stamp, "profile": [UKCORE + "Bundle"]},
        "type": "collection",
        "timestamp": stamp,
        "entry": [_entry(r, base_url) for r in entries],
    }


def care_providers(store: Store, patient: dict[str, Any], access: RecordAccess) -> list[dict[str, Any]]:
    """The registered practice and usual GP (Practitioner and their PractitionerRole)."""
    out: list[dict[str, Any]] = []
    for ref in patient.get("generalPractitioner") or ():
        found = read_resource(store, ref.get("reference", ""))
        if found is None:
            continue
        out.append(found)
        if found["resourceType"] == "Practitioner":
            query = parse_search("PractitionerRole", [("practitioner", f"Practitioner/{found['id']}")])
            out.extend(_json(m.content) for m in store.search(query).matches[:1] if m.content)
    return [with_profile(r) for r in access.shown(out)]


def _json(content: bytes) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(content)
    return value


def _in_transit(patient: dict[str, Any]) -> bool:
    return any(
        t.get("system") == RECORD_STATE_SYSTEM and t.get("code") == "data-in-transit"
        for t in (patient.get("meta") or {}).get("tag") or ()
    )


def _secondary_lists(record: PatientRecord, section: Section, stamp: str) -> list[dict[str, Any]]:
    """GP Connect's secondary Lists: per clinical area, the entries linked to the section's entries."""
    out = []
    for area in _AREA_ORDER:
        items = section.linked.get(area, {})
        warnings = section.linked_warnings.get(area, set())
        if not items and not warnings:
            continue
        code, display, _ = SECTION_LISTS[area]
        out.append(make_list(
            (code, display), linked_title(area, section.key), record.reference, stamp,
            _list_id(record, f"{section.key}/{area}"), list(items), warnings,
        ))
    return out


def _list_id(record: PatientRecord, key: str) -> str:
    # Stable per patient and section, so a consumer can tell a repeat request's Lists apart
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{record.reference}/List/{key}"))


def _entry(resource: dict[str, Any], base_url: str) -> dict[str, Any]:
    if not base_url:
        return {"resource": resource}  # references are relative (Type/id); no base to make them absolute
    return {"fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}", "resource": resource}
