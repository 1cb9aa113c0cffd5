"""A second source for the demo patient, so the joined-up record has something to join.

The synthetic population has one GP system per patient. This adds what a hospital system
("Leeds PAS") holds for patient-1 — the same penicillin allergy (a duplicate to merge), the same
hypertension recorded as resolved and a different HbA1c for the GP's latest sample
(conflicts to surface), and its own Patient linked to the GP's through a golden Patient — written
through the transaction path with a Provenance, as an adapter import would be. With identity
linkage on (the default) the write path links the two Patients itself; with it off, the golden
Patient (``GOLDEN_ID``) is written here by hand, as linkage would have made it.
"""

from __future__ import annotations

from typing import Any

from gpbridge.config import Settings
from gpbridge.identity.golden import build_golden, is_golden
from gpbridge.records.access import TRUSTED
from gpbridge.records.patient_record import find_patients, load_record
from gpbridge.store.base import Store
from gpbridge.store.transaction import process_bundle

SECOND_SOURCE = "Leeds PAS (RR8)"
GOLDEN_ID = "person-demo-1"
SOURCE_PATIENT_ID = "leeds-pas-9990000018"
HYPERTENSION, PENICILLIN, HBA1C = "38341003", "91936005", "999791000000106"


def add_second_source(store: Store, settings: Settings, nhs_number: str = "9990000018") -> dict[str, Any]:
    """Write the second source's record of ``nhs_number``; returns the golden Patient."""
    gp_patient = next(p for p in find_patients(store, nhs_number) if p["id"] != SOURCE_PATIENT_ID
                      and not is_golden(p))
    gp_record = load_record(store, gp_patient, ["Observation"], access=TRUSTED)  # building data, not serving a user
    hba1c = max((o for o in gp_record.of("Observation") if any(c.get("code") == HBA1C for c in o["code"]["coding"])),
                key=lambda o: o.get("effectiveDateTime", ""), default=None)
    subject = {"reference": f"Patient/{SOURCE_PATIENT_ID}"}
    source_patient = {
        "resourceType": "Patient", "id": SOURCE_PATIENT_ID,
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs_number}],
        "name": gp_patient["name"][:1], "gender": gp_patient.get("gender"), "birthDate": gp_patient.get("birthDate"),
    }
    people: list[dict[str, Any]] = [source_patient]
    if not settings.identity_linkage:  # nothing links them on the way in: write the person as linkage would
        golden = build_golden(GOLDEN_ID, [gp_patient, {**source_patient}])
        for source in (gp_patient, source_patient):
            source["link"] = [{"other": {"reference": f"Patient/{GOLDEN_ID}"}, "type": "seealso"}]
        people = [golden, gp_patient, source_patient]
    clinical: list[dict[str, Any]] = [
        {"resourceType": "AllergyIntolerance", "id": "leeds-allergy-1", "patient": subject,
         "clinicalStatus": _status("allergyintolerance-clinical", "active"),
         "verificationStatus": _status("allergyintolerance-verification", "confirmed"),
         "code": _sct(PENICILLIN, "Allergy to penicillin"), "recordedDate": "2023-04-02"},
        {"resourceType": "Condition", "id": "leeds-condition-1", "subject": subject,
         "clinicalStatus": _status("condition-clinical", "resolved"),
         "verificationStatus": _status("condition-ver-status", "confirmed"),
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                   "code": "problem-list-item"}]}],
         "code": _sct(HYPERTENSION, "Essential hypertension"), "recordedDate": "2024-02-11"},
    ]
    if hba1c is not None:  # the hospital's copy of the same sample, transcribed wrongly
        clinical.append({
            "resourceType": "Observation", "id": "leeds-hba1c-1", "status": "final", "subject": subject,
            "category": hba1c.get("category", []), "code": hba1c["code"],
            "effectiveDateTime": hba1c["effectiveDateTime"],
            "valueQuantity": {**hba1c["valueQuantity"], "value": hba1c["valueQuantity"]["value"] + 11},
        })
    provenance = {
        "resourceType": "Provenance", "id": "leeds-import-1",
        "target": [{"reference": f"{r['resourceType']}/{r['id']}"} for r in [source_patient, *clinical]],
        "recorded": "2026-11-01T09:00:00+00:00", "activity": {"text": "hl7v2 import"},
        "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                        "code": "author"}]},
                   "who": {"display": SECOND_SOURCE}}],
    }
    resources = [*people, *clinical, provenance]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}
    process_bundle(store, bundle, settings=settings, base_url="")
    return next(p for p in find_patients(store, nhs_number) if is_golden(p))


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def _sct(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]}
