"""Hand-built statements from two GP systems for the reconciliation tests."""

from __future__ import annotations

from itertools import count
from typing import Any

from gpbridge.records.reconcile import Statement
from gpbridge.records.sources import Source

SCT = "http://snomed.info/sct"
READ = "http://read.info/readv2"
EMIS = Source("EMIS Web (B86001)", "Provenance/import-emis")
TPP = Source("SystmOne (B86002)", "Provenance/import-tpp")
_ids = count(1)


def concept(code: str, *, read: str | None = None, display: str = "") -> dict[str, Any]:
    coding = [{"system": SCT, "code": code, "display": display or code}]
    if read:
        coding.append({"system": READ, "code": read})
    return {"coding": coding}


def statement(source: Source, resource: dict[str, Any]) -> Statement:
    resource.setdefault("id", f"{resource['resourceType'].lower()}-{next(_ids)}")
    return Statement(resource, source)


def allergy(code: str = "91936005", status: str = "active", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "AllergyIntolerance", "code": concept(code),
            "clinicalStatus": {"coding": [{"code": status}]}, **extra}


def condition(code: str = "38341003", status: str = "active", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "code": concept(code), "clinicalStatus": {"coding": [{"code": status}]},
            **extra}


def medication(code: str = "318420003", status: str = "active", start: str = "2024-01-01",
               end: str | None = None) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {"resourceType": "MedicationStatement", "status": status, "medicationCodeableConcept": concept(code),
            "effectivePeriod": period}


def observation(code: str = "271649006", value: float = 140, when: str = "2025-03-01T09:30:00+00:00",
                unit: str = "mm[Hg]") -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": concept(code), "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def immunisation(code: str = "836377006", when: str = "2025-10-01") -> dict[str, Any]:
    return {"resourceType": "Immunization", "status": "completed", "vaccineCode": concept(code),
            "occurrenceDateTime": when}
