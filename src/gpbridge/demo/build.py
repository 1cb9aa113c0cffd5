"""Small constructors for the FHIR datatypes the demo generator writes again and again.

Each call returns fresh dicts: generated resources are handed to code that may mutate them (the
transaction path rewrites references in place), so no sub-object is ever shared between resources.
"""

from __future__ import annotations

from typing import Any

from gpbridge.demo.codes import SNOMED, UCUM, Concept

JSON = dict[str, Any]


def sct(concept: Concept) -> JSON:
    """A CodeableConcept with one SNOMED CT coding."""
    return {"coding": [{"system": SNOMED, "code": concept.code, "display": concept.display}]}


def sct_coding(concept: Concept) -> JSON:
    return {"system": SNOMED, "code": concept.code, "display": concept.display}


def codeable(system: str, code: str, display: str) -> JSON:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def ucum(value: float, code: str, unit: str) -> JSON:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def ref(target: str) -> JSON:
    return {"reference": target}
