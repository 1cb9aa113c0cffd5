"""The compiled FHIR definitions: what the server's search, validation and compartments are built on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import orjson
import pytest

from gpbridge.fhir import spec

SPEC_DIR = Path(spec.__file__).parent
ARTEFACTS = [
    "search_parameters.json",
    "types.json",
    "valuesets.json",
    "compartments.json",
    "resource_types.json",
]


# ------------------------------------------------------------------------------------ loaders


def test_resource_types_are_the_concrete_r4_resources() -> None:
    names = spec.resource_types()
    assert len(names) == 146
    assert {"Patient", "Observation", "Bundle", "Binary", "Parameters"} <= names
    assert spec.is_resource_type("Patient")
    assert not spec.is_resource_type("Resource")
    assert not spec.is_resource_type("DomainResource")
    assert not spec.is_resource_type("HumanName")


def test_type_def_and_unknown_names() -> None:
    assert spec.type_def("HumanName")["kind"] == "complex-type"
    assert spec.type_def("NoSuchType") is None
    assert spec.search_parameters_for("NoSuchType") == {}


def test_loaders_share_one_parsed_copy() -> None:
    assert spec.types() is spec.types()
    assert spec.search_parameters_for("Patient") is spec.search_parameters()["Patient"]


# ------------------------------------------------------------------------------------ search parameters


def test_union_expression_is_split_per_base() -> None:
    observation = spec.search_parameters_for("Observation")["patient"]
    assert observation["expression"] == "Observation.subject.where(resolve() is Patient)"
    assert observation["type"] == "reference"
    assert observation["url"] == "http://hl7.org/fhir/SearchParameter/clinical-patient"
    allergy = spec.search_parameters_for("AllergyIntolerance")["patient"]
    assert allergy["expression"] == "AllergyIntolerance.patient"


def test_parenthesised_expression_parts_are_kept() -> None:
    context = spec.search_parameters_for("ActivityDefinition")["context"]
    assert context["expression"] == "(ActivityDefinition.useContext.value as CodeableConcept)"


def test_resource_level_parameters_reach_every_type() -> None:
    for rtype in spec.resource_types() | {"Resource"}:
        params = spec.search_parameters_for(rtype)
        assert params["_id"]["expression"] == "Resource.id", rtype
        assert params["_lastUpdated"]["type"] == "date", rtype
    # DomainResource parameters skip the three resources that are not DomainResources.
    assert spec.search_parameters_for("Patient")["_text"]["expression"] == ""
    for rtype in ("Bundle", "Binary", "Parameters", "Resource"):
        assert "_text" not in spec.search_parameters_for(rtype)


def test_composite_components_name_their_parameters() -> None:
    combo = spec.search_parameters_for("Observation")["code-value-quantity"]
    assert combo["type"] == "composite"
    assert combo["components"] == [
        {"code": "code", "type": "token", "expression": "code"},
        {"code": "value-quantity", "type": "quantity", "expression": "value.as(Quantity)"},
    ]


def test_comparators_and_targets() -> None:
    date = spec.search_parameters_for("Observation")["date"]
    assert {"eq", "lt", "ge", "ap"} <= set(date["comparators"])
    subject = spec.search_parameters_for("Observation")["subject"]
    assert "Patient" in subject["targets"]


def test_every_package_search_parameter_is_registered_for_each_base(
    r4_package: Path, compile_spec: ModuleType
) -> None:
    registry = spec.search_parameters()
    concrete = spec.resource_types()
    checked = 0
    for path in sorted(r4_package.glob("SearchParameter-*.json")):
        sp = orjson.loads(path.read_bytes())
        if compile_spec.is_example(sp):
            continue
        bases = sp.get("base") or [compile_spec.expression_root(sp["xpath"].removeprefix("f:"))]
        for base in bases:
            if base == "Resource":
                targets = concrete | {"Resource"}
            elif base == "DomainResource":
                targets = concrete - {"Bundle", "Binary", "Parameters"}
            else:
                targets = {base}
            for rtype in targets:
                entry = registry[rtype][sp["code"]]
                assert entry["url"] == sp["url"], (rtype, sp["code"])
                assert entry["type"] == sp["type"]
                checked += 1
    assert checked > 1400


def test_split_union_respects_parentheses_and_strings(compile_spec: ModuleType) -> None:
    split = compile_spec.split_union
    assert split("A.b | C.d.where(e | f) | (G.h as X)") == ["A.b", "C.d.where(e | f)", "(G.h as X)"]
    assert split("A.extension('http://x|y') | B.c") == ["A.extension('http://x|y')", "B.c"]
    assert split("Observation") == ["Observation"]


def test_expression_for_roots_relative_parts(compile_spec: ModuleType) -> None:
    report = compile_spec.Report()
    assert (
        compile_spec.expression_for("name | alias", "InsurancePlan", report, "x")
        == "InsurancePlan.name | InsurancePlan.alias"
    )
    assert compile_spec.expression_for("A.x | B.y | (A.z as T)", "A", report, "x") == "A.x | (A.z as T)"
    assert compile_spec.expression_for("B.y", "A", report, "x") == ""


# ------------------------------------------------------------------------------------ types


def test_observation_value_choice_types() -> None:
    value = spec.type_def("Observation")["elements"]["value[x]"]
    assert value["types"] == [
        "Quantity",
        "CodeableConcept",
        "string",
        "boolean",
        "integer",
        "Range",
        "Ratio",
        "SampledData",
        "time",
        "dateTime",
        "Period",
    ]
    assert (value["min"], value["max"]) == (0, "1")


def test_elements_include_inherited_and_backbone_children() -> None:
    patient = spec.type_def("Patient")
    elements = patient["elements"]
    for inherited in (
        "id",
        "meta",
        "implicitRules",
        "language",
        "text",
        "contained",
        "extension",
        "modifierExtension",
    ):
        assert inherited in elements
    assert elements["id"]["types"] == ["id"]
    assert elements["contact.name"]["types"] == ["HumanName"]
    assert elements["contact.id"]["types"] == ["string"]
    assert elements["name"]["max"] == "*"
    assert patient["base"] == "DomainResource"


def test_content_reference_binding_and_targets() -> None:
    obs = spec.type_def("Observation")["elements"]
    assert obs["component.referenceRange"]["contentReference"] == "referenceRange"
    assert obs["status"]["binding"] == {
        "strength": "required",
        "valueSet": "http://hl7.org/fhir/ValueSet/observation-status",
    }
    assert obs["subject"]["targets"] == ["Device", "Group", "Location", "Patient"]


def test_primitive_facts() -> None:
    date = spec.type_def("date")
    assert date["kind"] == "primitive-type" and date["json"] == "string"
    assert date["regex"].startswith("([0-9]([0-9]([0-9][1-9]")
    assert spec.type_def("positiveInt")["json"] == "number"  # though R4 labels its value System.String
    assert spec.type_def("boolean")["json"] == "boolean"
    assert spec.type_def("decimal")["json"] == "number"
    assert spec.type_def("positiveInt")["elements"]["value"]["types"] == ["positiveInt"]
    assert spec.type_def("Extension")["elements"]["url"]["types"] == ["uri"]
    assert spec.type_def("Extension")["elements"]["url"]["xmlAttr"] is True


# ------------------------------------------------------------------------------------ value sets, compartments


def test_required_value_sets_are_expanded() -> None:
    vs = spec.valuesets()
    assert vs["http://hl7.org/fhir/ValueSet/observation-status"] == {
        "http://hl7.org/fhir/observation-status": [
            "amended",
            "cancelled",
            "corrected",
            "entered-in-error",
            "final",
            "preliminary",
            "registered",
            "unknown",
        ],
    }
    assert (
        "female"
        in vs["http://hl7.org/fhir/ValueSet/administrative-gender"][
            "http://hl7.org/fhir/administrative-gender"
        ]
    )
    assert vs["http://hl7.org/fhir/ValueSet/ucum-units"] == {"incomplete": True}


def test_is_a_filter_includes_descendants_but_not_abstract_groupings() -> None:
    parents = spec.valuesets()["http://hl7.org/fhir/ValueSet/parent-relationship-codes"]
    codes = parents["http://terminology.hl7.org/CodeSystem/v3-RoleCode"]
    assert {"PRN", "MTH", "FTH", "STPMTH", "TWIN", "TWINSIS"} <= set(codes)
    item_types = spec.valuesets()["http://hl7.org/fhir/ValueSet/item-type"]["http://hl7.org/fhir/item-type"]
    assert "group" in item_types and "string" in item_types
    assert "question" not in item_types  # notSelectable in the CodeSystem


def test_patient_compartment() -> None:
    patient = spec.compartments()["Patient"]
    assert patient["Observation"] == ["subject", "performer"]
    assert "ActivityDefinition" not in patient  # listed without parameters: not in the compartment
    assert set(spec.compartments()) == {"Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"}
    assert len(spec.compartments()["Device"]) > 2  # the spec's two-resource example did not replace it


# ------------------------------------------------------------------------------------ generated files


def test_generated_files_are_up_to_date(r4_package: Path, tmp_path: Path) -> None:
    tool = Path(__file__).resolve().parents[2] / "tools" / "compile_spec.py"
    subprocess.run(
        [sys.executable, str(tool), "--package", str(r4_package), "--out", str(tmp_path), "--quiet"],
        check=True,
    )
    for name in ARTEFACTS:
        assert (tmp_path / name).read_bytes() == (SPEC_DIR / name).read_bytes(), (
            f"{name} is stale: rerun tools/compile_spec.py"
        )


def test_compiler_refuses_a_missing_package(tmp_path: Path) -> None:
    tool = Path(__file__).resolve().parents[2] / "tools" / "compile_spec.py"
    result = subprocess.run(
        [sys.executable, str(tool), "--package", str(tmp_path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no FHIR package" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ARTEFACTS)
def test_artefacts_are_compact(name: str) -> None:
    data = (SPEC_DIR / name).read_bytes()
    assert b"\n" not in data
    assert len(data) < 2_000_000
