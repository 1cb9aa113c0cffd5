"""The validator on real UK Core examples, mutations of them, and fhir.resources as a reference.

Every example in UK Core validates against its profile with no errors (two upstream examples are
genuinely invalid and are asserted to fail exactly as they should); mutations made from the
definitions (a required element removed, a wrong datatype, a code outside a required value set, a
bad NHS number, a broken slice, a broken invariant) each give the specific issue at the element.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpbridge.config import Settings
from gpbridge.fhir import profiles, spec
from gpbridge.fhir.core_checks import has_extensions, walk_resource
from gpbridge.fhir.fhir_xml import parse_resource
from gpbridge.fhir.outcome import Issue
from gpbridge.fhir.structure import check_resource
from gpbridge.fhir.validate import validate, validate_resource
from gpbridge.fhir.validation_run import Run

Json = dict[str, Any]
UK = "https://fhir.hl7.org.uk/StructureDefinition/"
NHS = "https://fhir.nhs.uk/Id/nhs-number"

# Examples whose file name does not start with their profile's id.
ALIASES = {
    "UKCore-Observation-Group-FullBloodCount": "UKCore-Observation-Group-Lab",
    "UKCore-Observation-VitalSigns-RespiratoryRate": "UKCore-Observation-VitalSigns-RespirationRate",
    "UKCore-VitalSigns-Observation-OxygenSaturation": "UKCore-Observation-VitalSigns-OxygenSaturation",
}
# Upstream examples that are invalid, and the errors that say why.
KNOWN_INVALID = {
    "Extension-UKCore-ConditionEpisode": {
        ("structure", "Condition.extension[0].valueCodeableConcept"),  # two value[x] in one extension
        ("structure", "Condition.extension[0].valueCode"),  # and the definition allows only CodeableConcept
    },
    "UKCore-Patient-BabyPatient": {("value", "Patient.identifier[0].value")},  # 9912003890 fails Modulus 11
}


def errors(issues: list[Issue]) -> set[tuple[str, str]]:
    return {(i.code, i.expression[0] if i.expression else "") for i in issues if i.severity in ("error", "fatal")}


def profile_for(name: str, resource: Json) -> str:
    """The profile an example illustrates: the one it claims, else the longest UK Core id its name
    starts with (UKCore-Observation-VitalSigns-BMI-Example), else UKCore-<type>."""
    claimed = resource.get("meta", {}).get("profile")
    if claimed:
        return str(claimed[0])
    name = ALIASES.get(name, name)
    ids = sorted((u.rsplit("/", 1)[1] for u in profiles.all_urls() if u.startswith(UK + "UKCore-")), key=len, reverse=True)
    best = next((i for i in ids if name == i or name.startswith(i + "-")), None)
    return UK + (best or f"UKCore-{resource['resourceType']}")


@pytest.fixture(scope="module")
def examples(shared_data: Path) -> dict[str, Json]:
    folder = shared_data / "uk-core" / "examples"
    return {p.name.removesuffix("-Example.xml"): parse_resource(p.read_bytes()) for p in sorted(folder.glob("*.xml"))}


def example(examples: dict[str, Json], name: str) -> Json:
    return copy.deepcopy(examples[name])


# ---------------------------------------------------------------------------------------------- examples


def test_every_uk_core_example_validates_against_its_profile(examples: dict[str, Json]) -> None:
    assert len(examples) == 215
    problems = {}
    for name, resource in examples.items():
        found = errors(validate(resource, profiles=[profile_for(name, resource)]))
        if found != KNOWN_INVALID.get(name, set()):
            problems[name] = found
    assert problems == {}


def test_examples_use_the_specific_profiles(examples: dict[str, Json]) -> None:
    assert profile_for("UKCore-Observation-VitalSigns-BMI", examples["UKCore-Observation-VitalSigns-BMI"]) == (
        UK + "UKCore-Observation-VitalSigns-BMI"
    )
    assert profile_for("UKCore-Patient-RichardSmith", examples["UKCore-Patient-RichardSmith"]) == UK + "UKCore-Patient"


def test_every_issue_has_severity_code_message_and_expression(examples: dict[str, Json]) -> None:
    resource = example(examples, "UKCore-Patient-RichardSmith")
    resource["gender"] = "M"
    resource["birthDate"] = "1970-13-01"
    resource["identifier"][0]["value"] = "9912003889"
    resource["colour"] = "blue"
    issues = validate(resource, profiles=[UK + "UKCore-Patient"])
    assert len([i for i in issues if i.severity == "error"]) == 4
    for issue in issues:
        assert issue.severity in ("error", "warning", "information")
        assert issue.code and issue.diagnostics and issue.expression


# ---------------------------------------------------------------------------------------------- mutations


def _required_root_elements(resource: Json) -> list[str]:
    """Elements of the resource's type with minimum cardinality 1, from spec/types.json."""
    elements = spec.types()[resource["resourceType"]]["elements"]
    return [name for name, el in elements.items() if "." not in name and el.get("min", 0) >= 1]


def test_removing_a_required_element_is_reported_at_it(examples: dict[str, Json]) -> None:
    checked = 0
    for name, resource in examples.items():
        if name in KNOWN_INVALID:
            continue
        for element in _required_root_elements(resource):
            keys = [k for k in resource if k == element or (element.endswith("[x]") and k.startswith(element[:-3]))]
            if not keys:
                continue
            mutated = copy.deepcopy(resource)
            for key in keys:
                del mutated[key]
            stem = element.removesuffix("[x]")
            assert ("required", f"{resource['resourceType']}.{stem}") in errors(validate(mutated)), (name, element)
            checked += 1
    assert checked > 150


def test_removing_an_element_the_profile_requires_is_reported(examples: dict[str, Json]) -> None:
    bmi = example(examples, "UKCore-Observation-VitalSigns-BMI")
    del bmi["subject"]  # 0..1 in R4, 1..1 in UKCore-Observation-VitalSigns
    found = validate(bmi, profiles=[UK + "UKCore-Observation-VitalSigns-BMI"])
    assert ("required", "Observation.subject") in errors(found)
    assert any("UKCoreObservationVitalSigns" in i.diagnostics and "Observation.subject" in i.diagnostics for i in found)


def test_a_wrong_datatype_is_reported_at_the_element(examples: dict[str, Json]) -> None:
    checked = 0
    for name, resource in examples.items():
        if name in KNOWN_INVALID or "status" not in resource:
            continue
        mutated = copy.deepcopy(resource)
        mutated["status"] = 12345
        rtype = resource["resourceType"]
        assert ("value", f"{rtype}.status") in errors(validate(mutated)), name
        checked += 1
    assert checked > 100


def _required_code_elements(rtype: str) -> list[str]:
    elements = spec.types()[rtype]["elements"]
    return [
        name
        for name, el in elements.items()
        if "." not in name and el.get("types") == ["code"] and (el.get("binding") or {}).get("strength") == "required"
    ]


def test_a_code_outside_a_required_value_set_is_reported(examples: dict[str, Json]) -> None:
    checked = 0
    for name, resource in examples.items():
        if name in KNOWN_INVALID:
            continue
        for element in _required_code_elements(resource["resourceType"]):
            if type(resource.get(element)) is not str:
                continue
            mutated = copy.deepcopy(resource)
            mutated[element] = "not-a-code"
            found = validate(mutated)
            assert ("code-invalid", f"{resource['resourceType']}.{element}") in errors(found), (name, element)
            checked += 1
    assert checked > 150


def test_a_coding_outside_a_uk_core_required_binding_is_reported(examples: dict[str, Json]) -> None:
    patient = example(examples, "Extension-UKCore-NHSNumberVerificationStatus")
    coding = patient["identifier"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]
    coding["code"] = "99"
    found = validate(patient, profiles=[UK + "UKCore-Patient"])
    assert ("code-invalid", "Patient.identifier[0].extension[0].valueCodeableConcept") in errors(found)


@pytest.mark.parametrize("value", ["9912003889", "991200388", "99120038881", "991200388A", "991 200 3888"])
def test_a_bad_nhs_number_is_reported(examples: dict[str, Json], value: str) -> None:
    patient = example(examples, "UKCore-Patient-RichardSmith")
    assert patient["identifier"][0]["system"] == NHS
    patient["identifier"][0]["value"] = value
    found = validate(patient)
    assert ("value", "Patient.identifier[0].value") in errors(found)


def test_nhs_numbers_are_checked_wherever_identifiers_appear() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"identifier": {"system": NHS, "value": "9000000008"}},
    }
    assert ("value", "Observation.subject.identifier.value") in errors(validate(observation))
    observation["subject"]["identifier"]["value"] = "9000000009"
    assert errors(validate(observation)) == set()


def test_a_second_nhs_number_breaks_the_slice_cardinality(examples: dict[str, Json]) -> None:
    patient = example(examples, "UKCore-Patient-RichardSmith")
    patient["identifier"].append({"system": NHS, "value": "9000000009"})
    found = validate(patient, profiles=[UK + "UKCore-Patient"])
    assert ("structure", "Patient.identifier") in errors(found)
    assert any("identifier:nhsNumber allows at most 1" in i.diagnostics for i in found)


def test_a_component_outside_a_closed_slicing_is_reported(examples: dict[str, Json]) -> None:
    bp = example(examples, "UKCore-Observation-VitalSigns-BloodPressure")
    bp["component"][0]["code"]["text"] = "Something else"
    found = errors(validate(bp, profiles=[UK + "UKCore-Observation-VitalSigns-BloodPressure"]))
    assert ("structure", "Observation.component[0]") in found  # matches no slice, slicing closed
    assert ("required", "Observation.component") in found  # so the SystolicBP slice is missing


def test_a_missing_required_slice_is_reported(examples: dict[str, Json]) -> None:
    bmi = example(examples, "UKCore-Observation-VitalSigns-BMI")
    bmi["code"]["coding"] = [c for c in bmi["code"]["coding"] if c["system"] != "http://loinc.org"]
    found = validate(bmi, profiles=[UK + "UKCore-Observation-VitalSigns-BMI"])
    assert ("required", "Observation.code.coding") in errors(found)
    assert any("code.coding:loinc requires at least 1" in i.diagnostics for i in found)
    # ...and UK Core's own invariant says the same thing its way.
    assert ("invariant", "Observation") in errors(found)


def test_a_fixed_value_in_a_slice_is_enforced(examples: dict[str, Json]) -> None:
    bmi = example(examples, "UKCore-Observation-VitalSigns-BMI")
    bmi["valueQuantity"]["code"] = "kg"
    found = errors(validate(bmi, profiles=[UK + "UKCore-Observation-VitalSigns-BMI"]))
    assert ("value", "Observation.valueQuantity.code") in found


def test_a_type_the_profile_excludes_is_reported(examples: dict[str, Json]) -> None:
    bmi = example(examples, "UKCore-Observation-VitalSigns-BMI")
    bmi["valueString"] = "46"
    del bmi["valueQuantity"]
    found = errors(validate(bmi, profiles=[UK + "UKCore-Observation-VitalSigns-BMI"]))
    assert ("structure", "Observation.valueString") in found


@pytest.mark.parametrize(
    "name, mutate, expected",
    [
        ("UKCore-Observation-VitalSigns-BMI", lambda r: r.update(dataAbsentReason={"text": "x"}), ("invariant", "Observation")),
        (
            "UKCore-Encounter-InpatientEncounter",
            lambda r: r["period"].update(start="2022-01-02", end="2022-01-01"),
            ("invariant", "Encounter.period"),
        ),
        (
            "UKCore-Immunization-InfluenzaVaccine",
            lambda r: (r.update(status="not-done"), r.pop("statusReason", None)),
            ("invariant", "Immunization"),
        ),
        (
            "UKCore-Observation-VitalSigns-BodyWeight",
            lambda r: r["valueQuantity"].pop("system"),
            ("invariant", "Observation.valueQuantity"),
        ),
    ],
    ids=["obs-6", "per-1", "ukcore-imm-001", "qty-3"],
)
def test_a_broken_invariant_is_reported_at_its_element(examples: dict[str, Json], name: str, mutate: Any, expected: tuple[str, str]) -> None:
    resource = example(examples, name)
    mutate(resource)
    assert expected in errors(validate(resource, profiles=[profile_for(name, resource)]))


# ---------------------------------------------------------------------------------------------- more rules


def test_extensions_are_checked_against_their_definitions_and_contexts(examples: dict[str, Json]) -> None:
    patient = example(examples, "Extension-UKCore-BirthSex")
    patient["extension"][0]["valueString"] = "F"
    del patient["extension"][0]["valueCodeableConcept"]
    assert ("structure", "Patient.extension[0].valueString") in errors(validate(patient))
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "extension": [{"url": UK + "Extension-UKCore-BirthSex", "valueCodeableConcept": {"text": "F"}}],
    }
    found = validate(observation)
    assert ("extension", "Observation.extension[0]") in errors(found)
    assert any("may not be used on Observation" in i.diagnostics for i in found)


def test_unknown_extensions_and_profiles_are_not_errors() -> None:
    patient = {"resourceType": "Patient", "extension": [{"url": "https://example.org/unknown", "valueString": "x"}]}
    issues = validate(patient, profiles=["https://example.org/NoSuchProfile"])
    assert errors(issues) == set()
    assert {(i.severity, i.code) for i in issues} >= {("information", "extension"), ("warning", "not-supported")}
    patient["modifierExtension"] = [{"url": "https://example.org/unknown", "valueString": "x"}]
    assert ("extension", "Patient.modifierExtension[0]") in errors(validate(patient))


def test_a_profile_for_another_type_is_an_error() -> None:
    found = validate({"resourceType": "Patient"}, profiles=[UK + "UKCore-Observation"])
    assert ("invalid", "Patient") in errors(found)


def test_reference_targets_are_checked() -> None:
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Medication/1"}}
    assert ("invalid", "Observation.subject") in errors(validate(observation))
    observation["subject"] = {"reference": "https://example.org/fhir/Patient/1/_history/2"}
    assert errors(validate(observation)) == set()
    observation["subject"] = {"reference": "#m", "type": "Patient"}
    observation["contained"] = [{"resourceType": "Medication", "id": "m"}]
    found = errors(validate(observation))
    assert ("invalid", "Observation.subject") in found  # says Patient, points at a Medication


def test_bundle_entries_are_validated_in_place_with_urn_references() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Medication"}, "request": {"method": "POST", "url": "Medication"}},
            {
                "fullUrl": "urn:uuid:2",
                "resource": {"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}, "subject": {"reference": "urn:uuid:1"}},
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    found = errors(validate(bundle))
    assert ("code-invalid", "Bundle.entry[1].resource.status") in found
    assert ("invalid", "Bundle.entry[1].resource.subject") in found


def test_remembered_references_still_depend_on_where_they_are() -> None:
    """A Reference found clean is remembered by its literal, but not across contexts that change
    its answer: a urn: inside a Bundle, a "#id" without the contained resource, a bad literal."""
    alone = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "urn:uuid:1"}}
    for _ in range(2):
        assert errors(validate(alone)) == set()  # outside a Bundle its target cannot be known
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Medication"}, "request": {"method": "POST", "url": "Medication"}},
                {"fullUrl": "urn:uuid:2", "resource": alone, "request": {"method": "POST", "url": "Observation"}},
            ],
        }
        assert ("invalid", "Bundle.entry[1].resource.subject") in errors(validate(bundle))
    with_contained = dict(alone, subject={"reference": "#p"}, contained=[{"resourceType": "Patient", "id": "p"}])
    assert errors(validate(with_contained)) == set()
    assert errors(validate(dict(alone, subject={"reference": "#p"}))) != set()  # ref-1: nothing contained
    for _ in range(2):
        assert ("invalid", "Observation.subject") in errors(validate(dict(alone, subject={"reference": "Medication/1"})))
        assert errors(validate(dict(alone, subject={"reference": ""}))) != set()  # empty: a structure error
        assert errors(validate(dict(alone, subject={"reference": "Patient/1"}))) == set()


def test_modes() -> None:
    assert ("required", "Patient.id") in errors(validate({"resourceType": "Patient"}, mode="update"))
    assert validate({"resourceType": "Patient"}, mode="create") == [
        i for i in validate({"resourceType": "Patient"}) if i.severity != "error"
    ]
    assert validate({"resourceType": "Nonsense"}, mode="delete") == []
    assert errors(validate({"resourceType": "Patient"}, mode="sideways")) == {("invalid", "")}


_NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}


@pytest.mark.parametrize(("contained", "elsewhere", "orphaned"), [
    ([{"resourceType": "Patient", "id": "p"}], {"subject": {"reference": "#p"}}, False),
    ([{"resourceType": "Patient", "id": "p"}], {}, True),
    ([{"resourceType": "Patient", "id": "p"}, {"resourceType": "Practitioner", "id": "q"}],
     {"subject": {"reference": "#p"}}, True),
    # a contained resource may instead point back at its container ("#")
    ([{"resourceType": "Provenance", "id": "v", "target": [{"reference": "#"}],
       "recorded": "2020-01-01T00:00:00Z", "agent": [{"who": {"display": "GP"}}]}], {}, False),
])
def test_dom3_a_contained_resource_must_be_referred_to(contained: list[Json], elsewhere: Json, orphaned: bool) -> None:
    # dom-3 reads %resource.descendants().as(canonical|uri|url): values whose element types are lost,
    # so it used to end as "could not be evaluated" whatever the resource held.
    observation = {"resourceType": "Observation", "text": _NARRATIVE, "status": "final", "code": {"text": "BP"},
                   "contained": contained, **elsewhere}
    issues = [i for i in validate(observation) if "dom-3" in i.diagnostics]
    assert [(i.severity, i.diagnostics.startswith("Constraint dom-3 failed")) for i in issues] == (
        [("error", True)] if orphaned else [])


def test_dom3_finds_a_canonical_reference_to_a_contained_resource() -> None:
    questionnaire = {"resourceType": "Questionnaire", "text": _NARRATIVE, "status": "draft",
                     "contained": [{"resourceType": "ValueSet", "id": "vs", "status": "draft"}],
                     "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs"}]}
    assert [i for i in validate(questionnaire) if "dom-3" in i.diagnostics] == []
    orphan = dict(questionnaire, item=[{"linkId": "1", "type": "choice", "answerValueSet": "http://x.org/vs"}])
    assert [i.severity for i in validate(orphan) if "dom-3" in i.diagnostics] == ["error"]


def test_best_practice_warnings_are_optional() -> None:
    patient = {"resourceType": "Patient"}
    assert [i.diagnostics for i in validate(patient)] == ["Constraint dom-6 failed: A resource should have narrative for robust management"]
    assert validate(patient, best_practice=False) == []


# ---------------------------------------------------------------------------------------------- write path


def test_the_write_path_hook_skips_structure_and_notes(tmp_path: Path) -> None:
    settings = Settings(var_dir=str(tmp_path))
    resource = {"resourceType": "Patient", "gender": "M", "extension": [{"url": "https://example.org/x", "valueString": "y"}]}
    issues = validate_resource(resource, settings)
    assert [(i.severity, i.code, i.expression) for i in issues] == [("error", "code-invalid", ("Patient.gender",))]


def test_the_write_path_can_require_uk_core(tmp_path: Path) -> None:
    """Types named in ``validation_require_ukcore`` are checked against UKCore-<Type> unclaimed."""
    two_nhs_numbers = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": "9000000009"}, {"system": NHS, "value": "9912003888"}],
    }
    assert validate_resource(two_nhs_numbers, Settings(var_dir=str(tmp_path))) == []
    for wanted in ("Observation,Patient", "*"):
        strict = Settings(var_dir=str(tmp_path), validation_require_ukcore=wanted)
        found = validate_resource(two_nhs_numbers, strict)
        assert [(i.code, i.expression) for i in found] == [("structure", ("Patient.identifier",))]
        assert "UKCorePatient" in found[0].diagnostics
    only_observations = Settings(var_dir=str(tmp_path), validation_require_ukcore="Observation")
    assert validate_resource(two_nhs_numbers, only_observations) == []


# ---------------------------------------------------------------------------------------------- fhir.resources


def _r4b_model(rtype: str) -> Any:
    r4b = pytest.importorskip("fhir.resources.R4B")
    return r4b.get_fhir_model_class(rtype)


def _r4b_accepts(resource: Json) -> bool:
    try:
        _r4b_model(resource["resourceType"]).model_validate(resource)
    except Exception:  # noqa: BLE001 - pydantic's ValidationError and friends
        return False
    return True


# Types whose R4 and R4B definitions agree on the elements these cases touch.
_STABLE = ("Patient", "Practitioner", "Organization", "Condition", "AllergyIntolerance", "Observation", "Immunization")


def _structural_breakages(resource: Json) -> list[tuple[str, Json]]:
    rtype = resource["resourceType"]
    out = []

    def variant(label: str, change: Any) -> None:
        mutated = copy.deepcopy(resource)
        change(mutated)
        out.append((f"{rtype}: {label}", mutated))

    variant("unknown element", lambda r: r.update(colour="blue"))
    variant("id is a number", lambda r: r.update(id=7))
    variant("meta is a list", lambda r: r.update(meta=[{"versionId": "1"}]))
    variant("text.status is an object", lambda r: r.update(text={"status": {"x": 1}, "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}))
    variant("identifier is an object", lambda r: r.update(identifier={"value": "1"}))
    variant("extension without url", lambda r: r.update(extension=[{"valueString": "x"}]))
    if rtype in ("Patient", "Practitioner"):
        variant("birthDate is not a date", lambda r: r.update(birthDate="1970-13-45"))
        # (pydantic coerces "yes" to true, so a list stands in for a wrong boolean here)
        variant("active is a list", lambda r: r.update(active=[True]))
        variant("telecom rank is 0", lambda r: r.update(telecom=[{"system": "phone", "value": "1", "rank": 0}]))
        variant("id has a space", lambda r: r.update(id="a b"))
    if rtype == "Observation":
        variant("two value[x]", lambda r: r.update(valueString="a", valueBoolean=True))
        variant("issued is not an instant", lambda r: r.update(issued="yesterday"))
    return out


def test_structural_errors_agree_with_fhir_resources(examples: dict[str, Json]) -> None:
    """fhir.resources (R4B) as an independent reference: same accept/reject on valid examples and
    on structurally broken variants of them."""
    compared = 0
    for name, resource in examples.items():
        if resource["resourceType"] not in _STABLE or name in KNOWN_INVALID:
            continue
        ours = not any(i.severity == "error" for i in validate(resource))
        assert ours and _r4b_accepts(resource), name
        for label, broken in _structural_breakages(resource):
            ours = not any(i.severity == "error" for i in validate(broken))
            assert ours == _r4b_accepts(broken) == False, label  # noqa: E712
            compared += 1
    assert compared > 100


# ---------------------------------------------------------------------------------------------- robustness

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "x", "#p", "Patient/1", "urn:uuid:1", "2020-01"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["url", "value", "reference", "coding", "code", "system", "extension", "_x"]), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rtype=st.sampled_from(["Patient", "Observation", "Encounter", "Condition", "Bundle"]),
    key=st.sampled_from(["subject", "code", "extension", "identifier", "value", "valueQuantity", "entry", "contained", "component", "period", "meta", "_status"]),
    value=_json,
)
def test_never_crashes_on_malformed_shapes(rtype: str, key: str, value: Any) -> None:
    """Structure reports malformed JSON; the content checks must survive it, not raise."""
    issues = validate({"resourceType": rtype, key: value}, profiles=[UK + f"UKCore-{rtype}"])
    assert all(isinstance(i, Issue) for i in issues)


def _objects(resource: Json) -> list[Json]:
    """Every JSON object in ``resource``, itself included."""
    objects: list[Json] = []
    todo: list[Any] = [resource]
    while todo:
        item = todo.pop()
        if type(item) is dict:
            objects.append(item)
            todo.extend(item.values())
        elif type(item) is list:
            todo.extend(item)
    return objects


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=_json)
def test_never_crashes_on_malformed_examples(examples: dict[str, Json], data: st.DataObject, value: Any) -> None:
    name = data.draw(st.sampled_from(sorted(examples)))
    resource = example(examples, name)
    objects = _objects(resource)
    target = data.draw(st.sampled_from(objects))
    key = data.draw(st.sampled_from(sorted(target) + ["extension", "_value", "reference"]))
    target[key] = value
    issues = validate(resource, profiles=[profile_for(name, resource)])
    assert all(isinstance(i, Issue) for i in issues)


# ---------------------------------------------------------------------------------------------- one walk


def _two_walks(resource: Any, extra: tuple[str, ...]) -> list[Issue]:
    """What ``validate`` reports, computed as two separate walks: structure, then content."""
    issues = check_resource(resource)
    if type(resource) is dict and spec.is_resource_type(str(resource.get("resourceType"))):
        run = Run(resource, True)
        walk_resource(resource, str(resource["resourceType"]), run, extra_profiles=extra)
        issues.extend(run.issues)
    return issues


def test_one_walk_reports_what_two_walks_report(examples: dict[str, Json]) -> None:
    for name, resource in examples.items():
        extra = (profile_for(name, resource),)
        assert validate(resource, profiles=list(extra)) == _two_walks(resource, extra), name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=_json)
def test_one_walk_reports_what_two_walks_report_on_damaged_examples(
    examples: dict[str, Json], data: st.DataObject, value: Any
) -> None:
    """Structure and content share one walk in ``validate``; on any damage (a wrong JSON shape, an
    unknown key, a broken reference, an extension anywhere) the issues, and their order, are those
    of the structure check followed by the content checks."""
    name = data.draw(st.sampled_from(sorted(examples)))
    resource = example(examples, name)
    objects = _objects(resource)
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(objects))
        key = data.draw(st.sampled_from(sorted(target) + ["extension", "_value", "reference", "id", "colour"]))
        target[key] = copy.deepcopy(value) if data.draw(st.booleans()) else None
    extra = (profile_for(name, resource),)
    assert validate(resource, profiles=list(extra)) == _two_walks(resource, extra)


@pytest.mark.parametrize(("resource", "expected"), [
    ({"resourceType": "Patient", "name": [{"family": "Smith"}]}, False),
    ({"resourceType": "Patient", "extension": [{"url": "http://x", "valueString": "a"}]}, True),
    ({"resourceType": "Patient", "birthDate": "2000-01-01", "_birthDate": {"id": "b"}}, True),
    ({"resourceType": "Observation", "component": [{"code": {"text": "x"}, "modifierExtension": []}]}, True),
    ({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "identifier": [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "extension": [{"url": "u"}]}]}}]}, True),
    ({"resourceType": "Patient", "name": [{"text": "extension _given"}]}, False),  # text, not keys
    ({"resourceType": "Patient", "odd": [[{"extension": []}]]}, True),  # invalid nesting still scanned
])
def test_extensions_are_found_at_any_depth(resource: dict, expected: bool) -> None:
    # the walk skips extension-only checks when this says False: it must never miss one
    assert has_extensions(resource) is expected


def test_a_primitives_extension_is_reported_at_its_fhirpath() -> None:
    # FHIRPath reaches JSON's "_status" extensions as status.extension (and _given[1] as given[1])
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "BP"},
                   "_status": {"extension": [{"url": "http://example.org/x", "valueString": 1}]}}
    assert ("value", "Observation.status.extension[0].valueString") in errors(validate(observation))
    patient = {"resourceType": "Patient", "name": [{"given": ["A", "B"], "_given": [
        None, {"extension": [{"url": "http://example.org/x", "valueString": 1}]}]}]}
    assert ("value", "Patient.name[0].given[1].extension[0].valueString") in errors(validate(patient))


@pytest.mark.parametrize(("bundle_type", "target", "unresolved"), [
    ("transaction", "urn:uuid:11111111-1111-4111-8111-111111111111", False),
    ("transaction", "urn:uuid:99999999-1111-4111-8111-111111111111", True),
    ("document", "urn:uuid:99999999-1111-4111-8111-111111111111", True),
    ("batch", "urn:uuid:99999999-1111-4111-8111-111111111111", False),  # entries stand alone
])
def test_a_urn_reference_in_a_transaction_must_resolve_to_an_entry(bundle_type: str, target: str, unresolved: bool) -> None:
    # the write path refuses such a transaction; $validate must say so too
    bundle = {"resourceType": "Bundle", "type": bundle_type, "entry": [
        {"fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111", "resource": {"resourceType": "Patient"}},
        {"fullUrl": "urn:uuid:22222222-2222-4222-8222-222222222222", "resource": {
            "resourceType": "Observation", "status": "final", "code": {"text": "BP"}, "subject": {"reference": target}}},
    ]}
    found = ("not-found", "Bundle.entry[1].resource.subject") in errors(validate(bundle, best_practice=False))
    assert found is unresolved
