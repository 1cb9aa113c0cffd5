"""The structural checker every write runs: well-formed resources pass, each kind of damage is reported where it is."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpbridge.fhir import spec
from gpbridge.fhir.outcome import Issue
from gpbridge.fhir.structure import check_resource, forget_valid_objects, primitive_checker, table

Resource = dict[str, Any]


def patient() -> Resource:
    return {
        "resourceType": "Patient",
        "id": "9000000009",
        "meta": {
            "versionId": "2",
            "lastUpdated": "2024-03-01T10:00:00.123+00:00",
            "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"],
        },
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Jo Smith</div>'},
        "extension": [
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
                "valueCodeableConcept": {
                    "coding": [
                        {"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory", "code": "A"}
                    ]
                },
            }
        ],
        "identifier": [
            {
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": "9000000009",
                "extension": [
                    {
                        "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
                                    "code": "01",
                                }
                            ]
                        },
                    }
                ],
            }
        ],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": "Smith",
                "given": ["Jo", "Anne"],
                "prefix": ["Ms"],
                "period": {"start": "2001"},
            },
            {"use": "nickname", "given": ["Jojo"]},
        ],
        "telecom": [{"system": "phone", "value": "01632 960123", "use": "home", "rank": 1}],
        "gender": "female",
        "birthDate": "1980-05-04",
        "_birthDate": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                    "valueDateTime": "1980-05-04T10:11:00+01:00",
                }
            ]
        },
        "deceasedBoolean": False,
        "address": [
            {
                "use": "home",
                "line": ["1 High Street", "Flat 2"],
                "city": "Leeds",
                "postalCode": "LS1 4AP",
                "country": "GB",
            }
        ],
        "multipleBirthInteger": 2,
        "contact": [{"relationship": [{"text": "mother"}], "name": {"family": "Smith", "given": ["Mary"]}}],
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-GB"}]}, "preferred": True}
        ],
        "generalPractitioner": [{"reference": "Organization/Y12345", "display": "The Surgery"}],
        "managingOrganization": {
            "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}
        },
    }


def observation() -> Resource:
    return {
        "resourceType": "Observation",
        "id": "obs.1-a",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "75367002", "display": "Blood pressure"}]
        },
        "subject": {"reference": "Patient/9000000009"},
        "effectiveDateTime": "2024-03-01T10:15:00Z",
        "issued": "2024-03-01T10:16:00.000+00:00",
        "performer": [{"reference": "Practitioner/G8123456"}],
        "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        "interpretation": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "N",
                    }
                ]
            }
        ],
        "note": [{"text": "Taken **seated**", "time": "2024-03-01"}],
        "referenceRange": [{"low": {"value": 50}, "high": {"value": 90}, "text": "normal"}],
        "component": [
            {
                "code": {"text": "systolic"},
                "valueQuantity": {"value": 120, "comparator": "<"},
                "referenceRange": [{"low": {"value": 90}}],
            },
            {
                "code": {"text": "device note"},
                "valueString": "cuff size L",
                "dataAbsentReason": {"text": "n/a"},
            },
        ],
    }


def condition() -> Resource:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "verificationStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "44054006"},
                {"system": "http://read.info/readv2", "code": "C10F.", "userSelected": True},
            ],
            "text": "Type 2 diabetes",
        },
        "subject": {"reference": "Patient/9000000009"},
        "onsetAge": {"value": 52, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"},
        "recordedDate": "2019-06",
        "evidence": [{"detail": [{"reference": "Observation/obs.1-a"}]}],
    }


def medication_request() -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "contained": [
            {
                "resourceType": "Medication",
                "id": "med",
                "code": {"coding": [{"system": "https://dmd.nhs.uk", "code": "39720311000001101"}]},
                "form": {"text": "tablet"},
            }
        ],
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "#med"},
        "subject": {"reference": "Patient/9000000009"},
        "authoredOn": "2024-02-29T09:00:00+00:00",
        "dosageInstruction": [
            {
                "sequence": 1,
                "text": "One tablet twice a day",
                "timing": {
                    "repeat": {
                        "frequency": 2,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsDuration": {"value": 28, "code": "d"},
                    }
                },
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": 0,
            "quantity": {"value": 56},
            "expectedSupplyDuration": {"value": 28, "unit": "days"},
        },
        "substitution": {"allowedBoolean": True},
    }


def bundle() -> Resource:
    return {
        "resourceType": "Bundle",
        "id": "b1",
        "type": "transaction",
        "timestamp": "2024-03-01T10:00:00+00:00",
        "entry": [
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "resource": patient(),
                "request": {"method": "PUT", "url": "Patient/9000000009"},
            },
            {
                "fullUrl": "urn:uuid:8d5a2e4c-2d1f-4a55-9e57-7d1e0f7c1a11",
                "resource": medication_request(),
                "request": {"method": "POST", "url": "MedicationRequest"},
            },
        ],
    }


VALID = {
    "Patient": patient,
    "Observation": observation,
    "Condition": condition,
    "MedicationRequest": medication_request,
    "Bundle": bundle,
}


@pytest.mark.parametrize("make", VALID.values(), ids=VALID.keys())
def test_realistic_resources_pass(make: Callable[[], Resource]) -> None:
    resource = make()
    assert check_resource(resource) == []
    assert check_resource(resource, resource["resourceType"]) == []


def expressions(issues: list[Issue]) -> list[str]:
    return [e for issue in issues for e in issue.expression]


def _set(path: list[Any], value: Any) -> Callable[[Resource], None]:
    def mutate(resource: Resource) -> None:
        target = resource
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Callable[[Resource], None]:
    def mutate(resource: Resource) -> None:
        target = resource
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return mutate


MUTATIONS: list[tuple[str, Callable[[], Resource], Callable[[Resource], None], str, str]] = [
    ("unknown element", patient, _set(["nickname"], "Jo"), "Patient.nickname", "structure"),
    (
        "unknown nested element",
        patient,
        _set(["name", 0, "middle"], "X"),
        "Patient.name[0].middle",
        "structure",
    ),
    (
        "unknown element in datatype",
        observation,
        _set(["valueQuantity", "units"], "kg"),
        "Observation.valueQuantity.units",
        "structure",
    ),
    (
        "unknown element in backbone",
        observation,
        _set(["component", 1, "flag"], True),
        "Observation.component[1].flag",
        "structure",
    ),
    (
        "unknown element via contentReference",
        observation,
        _set(["component", 0, "referenceRange", 0, "top"], 1),
        "Observation.component[0].referenceRange[0].top",
        "structure",
    ),
    (
        "repeating element not an array",
        patient,
        _set(["name"], {"family": "Smith"}),
        "Patient.name",
        "structure",
    ),
    ("single element as array", patient, _set(["gender"], ["female"]), "Patient.gender", "structure"),
    (
        "single complex element as array",
        observation,
        _set(["code"], [{"text": "x"}]),
        "Observation.code",
        "structure",
    ),
    ("bad date", patient, _set(["birthDate"], "1980-13-01"), "Patient.birthDate", "value"),
    ("bad date format", patient, _set(["birthDate"], "04/05/1980"), "Patient.birthDate", "value"),
    (
        "dateTime without timezone",
        observation,
        _set(["effectiveDateTime"], "2024-03-01T10:15:00"),
        "Observation.effectiveDateTime",
        "value",
    ),
    (
        "instant without seconds",
        observation,
        _set(["issued"], "2024-03-01T10:16Z"),
        "Observation.issued",
        "value",
    ),
    ("bad id", observation, _set(["id"], "obs/1"), "Observation.id", "value"),
    ("too long id", observation, _set(["id"], "a" * 65), "Observation.id", "value"),
    ("empty string", patient, _set(["name", 0, "family"], ""), "Patient.name[0].family", "value"),
    (
        "empty string in array",
        patient,
        _set(["name", 0, "given", 1], ""),
        "Patient.name[0].given[1]",
        "value",
    ),
    ("empty object", patient, _set(["contact", 0, "name"], {}), "Patient.contact[0].name", "structure"),
    ("empty array", patient, _set(["telecom"], []), "Patient.telecom", "structure"),
    ("only an id", patient, _set(["address", 0], {"id": "a1"}), "Patient.address[0]", "structure"),
    ("number for string", patient, _set(["name", 0, "family"], 42), "Patient.name[0].family", "value"),
    ("string for boolean", patient, _set(["active"], "true"), "Patient.active", "value"),
    (
        "string for decimal",
        observation,
        _set(["valueQuantity", "value"], "72.5"),
        "Observation.valueQuantity.value",
        "value",
    ),
    (
        "boolean for integer",
        patient,
        _set(["multipleBirthInteger"], True),
        "Patient.multipleBirthInteger",
        "value",
    ),
    (
        "fraction for integer",
        patient,
        _set(["multipleBirthInteger"], 2.5),
        "Patient.multipleBirthInteger",
        "value",
    ),
    (
        "integer beyond 32 bits",
        patient,
        _set(["multipleBirthInteger"], 2**31),
        "Patient.multipleBirthInteger",
        "value",
    ),
    ("zero positiveInt", patient, _set(["telecom", 0, "rank"], 0), "Patient.telecom[0].rank", "value"),
    (
        "negative unsignedInt",
        medication_request,
        _set(["dispenseRequest", "numberOfRepeatsAllowed"], -1),
        "MedicationRequest.dispenseRequest.numberOfRepeatsAllowed",
        "value",
    ),
    ("code with double space", patient, _set(["gender"], "fe  male"), "Patient.gender", "value"),
    (
        "uri with space",
        patient,
        _set(["identifier", 0, "system"], "https://fhir.nhs.uk/Id/nhs number"),
        "Patient.identifier[0].system",
        "value",
    ),
    ("object for primitive", patient, _set(["gender"], {"value": "female"}), "Patient.gender", "value"),
    ("null element", patient, _set(["gender"], None), "Patient.gender", "structure"),
    (
        "null in array without extension",
        patient,
        _set(["name", 0, "given", 0], None),
        "Patient.name[0].given[0]",
        "structure",
    ),
    ("null in complex array", patient, _set(["address", 0], None), "Patient.address[0]", "structure"),
    (
        "choice type with wrong suffix",
        observation,
        _set(["valueText"], "x"),
        "Observation.valueText",
        "structure",
    ),
    (
        "choice type in lower case",
        condition,
        _set(["onsetdateTime"], "2019"),
        "Condition.onsetdateTime",
        "structure",
    ),
    ("two choice types", observation, _set(["valueString"], "x"), "Observation.valueString", "structure"),
    (
        "unknown element in _primitive",
        patient,
        _set(["_birthDate", "value"], "1980"),
        "Patient._birthDate.value",
        "structure",
    ),
    (
        "unknown element in extension",
        patient,
        _set(["extension", 0, "valueFoo"], 1),
        "Patient.extension[0].valueFoo",
        "structure",
    ),
    ("missing required element", observation, _delete(["status"]), "Observation.status", "required"),
    (
        "missing required choice",
        medication_request,
        _delete(["medicationReference"]),
        "MedicationRequest.medication",
        "required",
    ),
    (
        "missing required in backbone",
        bundle,
        _delete(["entry", 0, "request", "method"]),
        "Bundle.entry[0].request.method",
        "required",
    ),
    (
        "bad element in contained",
        medication_request,
        _set(["contained", 0, "colour"], "red"),
        "MedicationRequest.contained[0].colour",
        "structure",
    ),
    (
        "unknown type contained",
        medication_request,
        _set(["contained", 0, "resourceType"], "Medicine"),
        "MedicationRequest.contained[0].resourceType",
        "structure",
    ),
    (
        "bad value in bundle entry",
        bundle,
        _set(["entry", 0, "resource", "birthDate"], "1980-5-4"),
        "Bundle.entry[0].resource.birthDate",
        "value",
    ),
    (
        "resourceType inside a datatype",
        observation,
        _set(["code", "resourceType"], "CodeableConcept"),
        "Observation.code.resourceType",
        "structure",
    ),
    ("bad xhtml type", patient, _set(["text", "div"], ["<div/>"]), "Patient.text.div", "structure"),
]


@pytest.mark.parametrize(
    ("make", "mutate", "expression", "code"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_each_mutation_is_reported_where_it_is(
    make: Callable[[], Resource], mutate: Callable[[Resource], None], expression: str, code: str
) -> None:
    resource = make()
    mutate(resource)
    issues = check_resource(resource)
    assert [(i.code, i.expression) for i in issues] == [(code, (expression,))], [i.to_json() for i in issues]
    assert all(i.severity == "error" and i.diagnostics for i in issues)


def test_all_issues_are_reported_not_just_the_first() -> None:
    resource = patient()
    resource["birthDate"] = "1980-02-30x"
    resource["gender"] = ""
    resource["name"][1]["given"] = "Jojo"
    resource["colour"] = "blue"
    assert sorted(expressions(check_resource(resource))) == [
        "Patient.birthDate",
        "Patient.colour",
        "Patient.gender",
        "Patient.name[1].given",
    ]


def test_resource_type_problems() -> None:
    assert expressions(check_resource({"resourceType": "Patiant"})) == ["resourceType"]
    assert check_resource({"resourceType": "Resource"})[0].diagnostics == "Unknown resourceType 'Resource'"
    assert check_resource({"id": "x"})[0].code == "required"
    assert check_resource(["Patient"])[0].diagnostics == "A resource must be a JSON object, not an array"
    wrong = check_resource(observation(), "Patient")
    assert [(i.code, i.expression) for i in wrong] == [("invalid", ("Observation",))]


def test_primitive_extension_arrays_must_line_up() -> None:
    resource = patient()
    resource["name"][0]["given"] = ["Jo", None]
    resource["name"][0]["_given"] = [
        None,
        {"extension": [{"url": "http://example.org/initial", "valueBoolean": True}]},
    ]
    assert check_resource(resource) == []
    resource["name"][0]["_given"] = [None]
    assert "Patient.name[0]._given" in expressions(check_resource(resource))
    resource["name"][0]["_given"] = [None, None]
    assert expressions(check_resource(resource)) == ["Patient.name[0].given[1]", "Patient.name[0]._given[1]"]


def test_primitive_with_only_an_extension_satisfies_a_required_element() -> None:
    resource = observation()
    del resource["status"]
    resource["_status"] = {
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
        ]
    }
    assert check_resource(resource) == []


def test_no_underscore_sibling_for_xml_attributes() -> None:
    resource = patient()
    resource["extension"][0]["_url"] = {"extension": [{"url": "http://example.org", "valueString": "x"}]}
    assert expressions(check_resource(resource)) == ["Patient.extension[0]._url"]


def test_checking_does_not_modify_the_resource() -> None:
    resource = bundle()
    before = copy.deepcopy(resource)
    check_resource(resource)
    assert resource == before


def test_every_resource_type_compiles() -> None:
    for rtype in spec.resource_types():
        assert "resourceType" in table(rtype).elements
        assert check_resource({"resourceType": rtype, "id": "x"}) == [] or rtype in _HAS_REQUIRED


# Types whose minimal instance lacks a required element; the rest accept {"resourceType", "id"}.
_HAS_REQUIRED = {
    name
    for name, d in spec.types().items()
    if d["kind"] == "resource" and any(e["min"] >= 1 and "." not in p for p, e in d["elements"].items())
}


def test_minimal_instances_report_exactly_their_required_elements() -> None:
    for rtype in sorted(_HAS_REQUIRED & spec.resource_types()):
        required = {
            p.removesuffix("[x]")
            for p, e in spec.type_def(rtype)["elements"].items()
            if e["min"] >= 1 and "." not in p
        }
        found = {e.removeprefix(f"{rtype}.") for e in expressions(check_resource({"resourceType": rtype}))}
        assert found == required, rtype


# ------------------------------------------------------------------------------------ primitives, by property


def _regex(name: str) -> re.Pattern[str]:
    return re.compile(spec.type_def(name)["regex"], re.ASCII)


@pytest.mark.parametrize(
    "name", ["string", "markdown", "code", "uri", "url", "canonical", "id", "oid", "uuid", "base64Binary"]
)
@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(st.text(), st.text(alphabet=st.sampled_from(list(" \t\r\n\x0b\x0c\u00a0\u2028ab-.:/"))))
)
def test_string_checkers_agree_with_the_r4_regex(name: str, value: str) -> None:
    valid = bool(value) and _regex(name).fullmatch(value) is not None
    assert (primitive_checker(name)(value) is None) == valid


@pytest.mark.parametrize("name", ["date", "dateTime", "instant", "time"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_date_checkers_accept_what_the_regex_generates(name: str, data: st.DataObject) -> None:
    value = data.draw(st.from_regex(_regex(name), fullmatch=True))
    assert primitive_checker(name)(value) is None


@settings(max_examples=300, deadline=None)
@given(value=st.integers(min_value=-(2**40), max_value=2**40))
def test_integer_family_ranges(value: int) -> None:
    in_range = -(2**31) <= value < 2**31
    assert (primitive_checker("integer")(value) is None) == in_range
    assert (primitive_checker("unsignedInt")(value) is None) == (in_range and value >= 0)
    assert (primitive_checker("positiveInt")(value) is None) == (in_range and value >= 1)


@settings(max_examples=100, deadline=None)
@given(
    given_names=st.lists(st.text(min_size=1).filter(str.isprintable), min_size=1, max_size=4),
    family=st.text(min_size=1).filter(str.isprintable),
)
def test_any_printable_name_is_structurally_valid(given_names: list[str], family: str) -> None:
    resource = patient()
    resource["name"] = [{"family": family, "given": given_names}]
    assert check_resource(resource) == []


def test_remembered_valid_objects_never_hide_a_problem() -> None:
    """check_subtree remembers the JSON of objects found valid; anything that is not that JSON
    exactly (another value, a str subclass or a datetime that would serialise the same) is checked."""
    forget_valid_objects()

    def with_coding(**coding: Any) -> Resource:
        return {"resourceType": "Observation", "status": "final", "code": {"coding": [coding]}}

    good = with_coding(system="http://snomed.info/sct", code="27113001")
    assert check_resource(good) == [] and check_resource(copy.deepcopy(good)) == []
    assert table("Coding").hits + table("CodeableConcept").hits >= 1

    class Text(str):
        pass

    bad = [
        with_coding(system="http://snomed.info/sct", code="27113001 "),
        with_coding(system=Text("http://snomed.info/sct"), code="27113001"),
        with_coding(system="http://snomed.info/sct", code="27113001", version=dt.datetime(2024, 1, 2)),
        with_coding(system="http://snomed.info/sct", code="27113001", userSelected=1),
    ]
    for resource in bad:
        assert expressions(check_resource(resource)), resource
    assert check_resource(good) == []
