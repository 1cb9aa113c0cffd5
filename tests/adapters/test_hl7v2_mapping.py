"""HL7 v2 → FHIR: ADT (Patient, Encounter, merge) and ORU^R01 (DiagnosticReport + Observations)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hl7v2_samples import NHS_NUMBER, adt, merge, msh, oru, pid, segment

from gpbridge.adapters.common.codes import DictCodeMapper
from gpbridge.adapters.hl7v2 import Hl7v2Error, handle_message, hl7v2_to_bundle
from gpbridge.config import Settings
from gpbridge.identity.golden import is_person_reference, person_of_source
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store
from identity_helpers import NOT_GOLDEN


def resources(bundle: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == type_]


def stored(store: Store, type_: str, *params: tuple[str, str]) -> list[dict[str, Any]]:
    found = store.search(parse_search(type_, list(params)))
    return [orjson.loads(m.content) for m in found.matches]


def test_admit_builds_patient_and_encounter() -> None:
    bundle = hl7v2_to_bundle(adt("A01", extra=("ZPI|local|stuff",)))
    (patient,) = resources(bundle, "Patient")
    (encounter,) = resources(bundle, "Encounter")
    assert patient["identifier"][0] == {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS_NUMBER,
                                        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                             "code": "NH"}]}}
    assert patient["name"][0]["family"] == "SMITH" and patient["gender"] == "male"
    assert patient["birthDate"] == "1980-01-01"
    assert {"url": "https://gpbridge.dev/StructureDefinition/hl7v2-segment", "valueString": "ZPI|local|stuff"} \
        in patient["extension"]
    assert encounter["status"] == "in-progress" and encounter["class"]["code"] == "IMP"
    assert encounter["period"]["start"] == "2024-01-01T11:00:00+00:00"


def test_results_carry_units_ranges_and_flags(code_mapper: DictCodeMapper) -> None:
    bundle = hl7v2_to_bundle(oru(results=(
        ("NM", "2823-3^Potassium^LN", "5.9", "mmol/L^mmol/L^UCUM", "3.5-5.3", "H", "F"),
        ("SN", "42W5.00^HbA1c^READ", "<^5", "mmol/mol^mmol/mol^UCUM", ">20", "L", "F"),
        ("ST", "XYZ^Lab comment^L", "Haemolysed sample", "", "", "", "C"),
    )), mapper=code_mapper)
    (report,) = resources(bundle, "DiagnosticReport")
    potassium, hba1c, comment = resources(bundle, "Observation")
    assert report["status"] == "final" and len(report["result"]) == 3
    assert report["extension"][0]["valueAnnotation"]["text"] == "Report comment"
    assert potassium["valueQuantity"] == {"value": 5.9, "unit": "mmol/L", "system": "http://unitsofmeasure.org",
                                          "code": "mmol/L"}
    assert potassium["referenceRange"][0]["low"]["value"] == 3.5
    assert potassium["referenceRange"][0]["high"]["value"] == 5.3
    assert potassium["interpretation"][0]["coding"][0]["code"] == "H"
    assert hba1c["valueQuantity"]["comparator"] == "<" and hba1c["referenceRange"][0]["low"]["value"] == 20
    assert hba1c["code"]["coding"][0]["code"] == "1049301000000100"  # Read mapped, original kept
    assert hba1c["code"]["coding"][1]["code"] == "42W5.00"
    assert comment["status"] == "corrected" and comment["valueString"] == "Haemolysed sample"
    assert "unmapped-code" in {t["code"] for t in comment["meta"]["tag"]}


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"])
def test_versions_2_3_to_2_5_1_are_tolerated(version: str) -> None:
    assert resources(hl7v2_to_bundle(adt("A28", version=version)), "Patient")


def test_other_versions_are_rejected() -> None:
    with pytest.raises(Hl7v2Error) as caught:
        hl7v2_to_bundle(adt("A28", version="2.7"))
    assert caught.value.place == "MSH-12" and caught.value.reject


def source_links(patient: dict[str, Any]) -> list[dict[str, Any]]:
    """The links a source system made (not linkage's ``seealso`` to the person)."""
    return [lk for lk in patient.get("link", ()) if not is_person_reference(lk["other"]["reference"])]


def test_adt_flow_updates_one_patient_and_one_encounter(store: Store, settings: Settings) -> None:
    for raw in (adt("A01", "M1"), adt("A08", "M2", family="SMYTHE"), adt("A03", "M3", family="SMYTHE")):
        ack, result = handle_message(store, settings, raw)
        assert b"MSA|AA|" in ack, result.error
    (patient,) = stored(store, "Patient", NOT_GOLDEN)  # and the golden Patient linkage made of it
    assert patient["name"][0]["family"] == "SMYTHE"
    assert {i["value"] for i in patient["identifier"]} == {NHS_NUMBER, "12345"}
    (encounter,) = stored(store, "Encounter")
    assert encounter["status"] == "finished" and encounter["period"]["end"] == "2024-01-05T10:00:00+00:00"


def test_a40_merge_links_the_two_records(store: Store, settings: Settings) -> None:
    old = ("\r".join([msh("ADT^A28", "OLD1"), segment("EVN", {1: "A28"}), pid(nhs="", mrn="777")]) + "\r").encode()
    assert handle_message(store, settings, old)[1].ok
    assert handle_message(store, settings, adt("A28", "NEW1"))[1].ok
    ack, result = handle_message(store, settings, merge(NHS_NUMBER, "777"))
    assert b"MSA|AA|" in ack, result.error
    survivor = stored(store, "Patient", ("identifier", f"https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}"))[0]
    merged = stored(store, "Patient", ("identifier", "777"))[0]
    assert source_links(survivor) == [{"other": {"reference": f"Patient/{merged['id']}"}, "type": "replaces"}]
    assert source_links(merged) == [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]
    assert person_of_source(merged) == person_of_source(survivor) is not None  # linkage: one person
    assert merged["active"] is False and merged["name"][0]["family"] == "SMITH"  # the old record is kept
    # a later update of the survivor keeps the link
    assert handle_message(store, settings, adt("A31", "NEW2", family="JONES"))[1].ok
    survivor = stored(store, "Patient", ("identifier", f"https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}"))[0]
    assert survivor["name"][0]["family"] == "JONES" and source_links(survivor)[0]["type"] == "replaces"
