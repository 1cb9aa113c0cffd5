"""The joined-up record: a person's entries from every linked source, reconciled, and grouped
the way GP Connect groups a record (for the clinician view and the summary).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpbridge.records.access import RecordAccess, demographics_withheld
from gpbridge.records.concepts import ConceptMatcher
from gpbridge.records.dates import clinical_date
from gpbridge.records.links import group_of
from gpbridge.records.patient_record import PatientRecord, load_person, read_resource
from gpbridge.records.reconcile import Item, Reconciled, reconcile, statements_of
from gpbridge.records.section_model import is_confidential
from gpbridge.store.base import Store

# GP Connect's section order, each with the entries that belong to it
GROUPS: tuple[tuple[str, str], ...] = (
    ("allergies", "Allergies and adverse reactions"),
    ("medications", "Medications"),
    ("problems", "Problems"),
    ("consultations", "Consultations"),
    ("immunisations", "Immunisations"),
    ("investigations", "Investigations and results"),
    ("uncategorised", "Uncategorised data"),
    ("referrals", "Referrals"),
    ("diary", "Diary entries"),
)
# group -> the types its entries come from: a group is withheld when any of them was
GROUP_TYPES: dict[str, frozenset[str]] = {
    "allergies": frozenset({"AllergyIntolerance"}),
    "medications": frozenset({"MedicationStatement", "MedicationRequest"}),
    "problems": frozenset({"Condition"}),
    "consultations": frozenset({"Encounter"}),
    "immunisations": frozenset({"Immunization"}),
    "investigations": frozenset({"Observation", "DiagnosticReport"}),
    "uncategorised": frozenset({"Condition", "Observation"}),
    "referrals": frozenset({"ServiceRequest"}),
    "diary": frozenset({"ServiceRequest"}),
}
RECORD_TYPES = ("AllergyIntolerance", "MedicationStatement", "Condition", "Encounter", "Immunization",
                "Observation", "ServiceRequest")


def grouped(reconciled: Reconciled) -> dict[str, list[Item]]:
    """Items per section, newest first."""
    out: dict[str, list[Item]] = {key: [] for key, _ in GROUPS}
    for item in reconciled.items:
        key = group_of(item.resource)
        if key is not None:
            out[key].append(item)
    for items in out.values():
        items.sort(key=lambda i: clinical_date(i.resource) or "", reverse=True)
    return out


def reconciled_record(
    store: Store, patient: dict[str, Any], types: Iterable[str], matcher: ConceptMatcher | None = None,
    *, access: RecordAccess, withhold: bool = False,
) -> tuple[PatientRecord, Reconciled]:
    """The person's record (``types``) across linked sources, as ``access`` lets the caller see
    it, reconciled; confidential entries are left out (these views have no way to say "withheld"
    per item yet). ``withhold``: the caller marks whole sections withheld (``load_person``)."""
    record = load_person(store, patient, [*types, "Provenance"], access=access, withhold=withhold)
    clinical = [r for t, items in record.by_type.items() if t != "Provenance" for r in items if not is_confidential(r)]
    practices = _practice_names(store, record)

    def practice(resource: dict[str, Any]) -> str:
        source = record.origin.get(f"{resource['resourceType']}/{resource['id']}") or record.patient
        return practices.get((source.get("managingOrganization") or {}).get("reference", ""), "gpbridge")

    return record, reconcile(statements_of(clinical, record.of("Provenance"), practice), matcher)


def _practice_names(store: Store, record: PatientRecord) -> dict[str, str]:
    """Organization reference -> "name (ODS code)" for the practices of the record's sources."""
    names: dict[str, str] = {}
    if demographics_withheld(record.patient):
        return names  # a sensitive patient's practice is withheld: sources are not named by it either
    for source in {id(p): p for p in [record.patient, *record.origin.values()]}.values():
        reference = (source.get("managingOrganization") or {}).get("reference")
        if reference and reference not in names and (found := read_resource(store, reference)) is not None:
            ods = next((i.get("value") for i in found.get("identifier") or ()), None)
            names[reference] = f"{found.get('name', reference)} ({ods})" if ods else str(found.get("name", reference))
    return names
