"""Helpers for the records tests: request bodies for ``$gpc.getstructuredrecord``, storing resources."""

from __future__ import annotations

from typing import Any

import orjson

from gpbridge.records.gpc_codes import SECTION_LISTS
from gpbridge.store.base import Store

DEMO_NHS = "9990000018"  # patient-1: hypertension, type 2 diabetes, penicillin allergy

NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def gpc_body(nhs_number: str, *parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patientNHSNumber", "valueIdentifier": {"system": NHS_SYSTEM, "value": nhs_number}},
            *parameters,
        ],
    }


def part(name: str, **value: Any) -> dict[str, Any]:
    return {"name": name, **value}


ALL_SECTIONS: tuple[dict[str, Any], ...] = (
    {"name": "includeAllergies", "part": [part("includeResolvedAllergies", valueBoolean=True)]},
    {"name": "includeMedication"},
    {"name": "includeConsultations"},
    {"name": "includeProblems"},
    {"name": "includeImmunisations"},
    {"name": "includeUncategorisedData"},
    {"name": "includeInvestigations"},
    {"name": "includeReferrals"},
    {"name": "includeDiaryEntries"},
)


def lists_by_code(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each requested section's (primary) List by its code. Secondary Lists share their area's code
    but not its title; consultation structure Lists have codes of their own."""
    primary = {title for _, _, title in SECTION_LISTS.values()}
    return {
        r["code"]["coding"][0]["code"]: r
        for e in bundle["entry"]
        if (r := e["resource"])["resourceType"] == "List" and r.get("title") in primary
    }


def resources(bundle: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == type_]


def put(store: Store, resource: dict[str, Any]) -> dict[str, Any]:
    """Store ``resource`` (with its id) and return it as stored."""
    with store.session() as session:
        written = session.update(resource["resourceType"], resource["id"], resource)
    assert written.resource.content is not None
    stored: dict[str, Any] = orjson.loads(written.resource.content)
    return stored
