"""One patient's whole record, read from the store in a handful of searches.

Everything a structured record, a summary or the web view needs is in the patient compartment,
so it is read once (one search per clinical type) and then sectioned in memory: cheaper than a
search per section, and every section sees the same snapshot.

Reading it needs a ``RecordAccess`` (``records.access``): the caller's permission is asked per type
before anything is read, and every entry passes its item rules, so no view built on a
``PatientRecord`` can show what a search of the same types would not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gpbridge.identity.golden import is_golden
from gpbridge.identity.nhs_number import NHS_NUMBER_SYSTEM
from gpbridge.identity.profile import PERSON_NHS_SYSTEM
from gpbridge.records.access import RecordAccess
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store

# type -> the search parameter naming the patient
CLINICAL_TYPES: dict[str, str] = {
    "AllergyIntolerance": "patient",
    "Condition": "patient",
    "MedicationStatement": "patient",
    "MedicationRequest": "patient",
    "Immunization": "patient",
    "Encounter": "patient",
    "Observation": "patient",
    "DiagnosticReport": "patient",
    "ServiceRequest": "patient",
    "Consent": "patient",
    "Flag": "patient",
    "Provenance": "patient",
    "List": "patient",  # a source's consultation structure (consultation, topic and category Lists)
}
_MAX = 100_000


@dataclass(slots=True)
class PatientRecord:
    patient: dict[str, Any]
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # ``Type/id`` -> the source Patient it belongs to (set when a person's sources are combined)
    origin: dict[str, dict[str, Any]] = field(default_factory=dict)
    _index: dict[str, dict[str, Any]] | None = None
    # indexes derived from the entries, each worked out once per request (see ``links``)
    derived: dict[str, Any] = field(default_factory=dict)
    # type -> how many entries the caller's access withheld (counts only: the entries are not kept)
    withheld: Counter[str] = field(default_factory=Counter)
    # types the caller's access level leaves out (not read at all): their sections say "withheld"
    withheld_types: frozenset[str] = frozenset()

    @property
    def reference(self) -> str:
        return f"Patient/{self.patient['id']}"

    def of(self, type_: str) -> list[dict[str, Any]]:
        return self.by_type.get(type_, [])

    def index(self) -> dict[str, dict[str, Any]]:
        """``Type/id`` -> entry, built once (the record does not change once read)."""
        if self._index is None:
            self._index = {f"{r['resourceType']}/{r['id']}": r for r in self.all()}
        return self._index

    def all(self) -> Iterable[dict[str, Any]]:
        for items in self.by_type.values():
            yield from items


def find_patients(store: Store, nhs_number: str) -> list[dict[str, Any]]:
    """The source Patients carrying ``nhs_number``, then the active golden Patient(s) linkage made of them.

    One search: a golden Patient files its person's numbers under ``PERSON_NHS_SYSTEM`` (so that
    national-number searches and conditional writes see only source records), hence both systems.
    """
    numbers = f"{NHS_NUMBER_SYSTEM}|{nhs_number},{PERSON_NHS_SYSTEM}|{nhs_number}"
    query = parse_search("Patient", [("identifier", numbers), ("_count", "100")])
    found = [orjson.loads(m.content) for m in store.search(query).matches if m.content]
    # a person merged into another (inactive, replaced-by) is history, not who has the number now
    found = [p for p in found if not is_golden(p) or p.get("active", True)]
    return sorted(found, key=is_golden)  # stable: sources first, in the store's order


def read_resource(store: Store, reference: str) -> dict[str, Any] | None:
    """A referenced resource (``Type/id``), or None when it is absent or deleted."""
    type_, _, id_ = reference.partition("/")
    query = parse_search(type_, [("_id", id_)])
    matches = store.search(query).matches
    return orjson.loads(matches[0].content) if matches and matches[0].content else None


def linked_patients(store: Store, patient: dict[str, Any]) -> list[dict[str, Any]]:
    """Every source Patient of the same person (linkage's golden Patient names them), else just
    ``patient``. A golden Patient holds no record of its own; its sources do."""
    from gpbridge.identity.golden import is_golden, members, person_of_source

    golden: dict[str, Any] | None = patient if is_golden(patient) else None
    if golden is None and (person := person_of_source(patient)) is not None:
        golden = read_resource(store, f"Patient/{person}")
    if golden is None:
        return [patient]
    found = [read_resource(store, f"Patient/{member}") for member in members(golden)]
    return [p for p in found if p is not None] or [patient]


def load_person(
    store: Store, patient: dict[str, Any], types: Iterable[str] = CLINICAL_TYPES, *, access: RecordAccess,
    withhold: bool = False,
) -> PatientRecord:
    """The record of the person ``patient`` belongs to: every linked source's entries together.

    ``withhold``: the caller's view marks withheld sections (``RecordAccess.open``); the types
    withheld are not read, and are named in ``withheld_types``."""
    wanted = list(types)
    sources = linked_patients(store, patient)
    withheld = frozenset(access.open(patient, wanted, [f"Patient/{s['id']}" for s in sources], withhold=withhold))
    wanted = [t for t in wanted if t not in withheld]
    record = PatientRecord(_shown_patient(access, patient), withheld_types=withheld)
    for source in sources:
        for type_, items in _read(store, source, wanted, access, record.withheld):
            record.by_type.setdefault(type_, []).extend(items)
            for item in items:
                record.origin[f"{type_}/{item['id']}"] = source
    return record


def load_record(
    store: Store, patient: dict[str, Any], types: Iterable[str] = CLINICAL_TYPES, *, access: RecordAccess
) -> PatientRecord:
    """One Patient's own record (no linked sources), as ``access`` lets the caller see it."""
    wanted = list(types)
    access.open(patient, wanted)
    record = PatientRecord(_shown_patient(access, patient))
    record.by_type.update(_read(store, patient, wanted, access, record.withheld))
    return record


def _shown_patient(access: RecordAccess, patient: dict[str, Any]) -> dict[str, Any]:
    shown = access.shown([patient])
    if not shown:  # ``open`` lets no one through who may not see the Patient: fail closed if it did
        raise LookupError(f"Patient/{patient.get('id')} is not visible to this caller")
    return shown[0]


def _read(
    store: Store, patient: dict[str, Any], types: list[str], access: RecordAccess, withheld: Counter[str]
) -> Iterable[tuple[str, list[dict[str, Any]]]]:
    reference = f"Patient/{patient['id']}"
    for type_ in types:
        query = parse_search(
            type_, [(CLINICAL_TYPES[type_], reference), ("_count", str(_MAX)), ("_total", "none")], max_count=_MAX
        )
        found = [orjson.loads(m.content) for m in store.search(query).matches if m.content]
        shown = access.shown(found)
        withheld[type_] += len(found) - len(shown)
        yield type_, shown
