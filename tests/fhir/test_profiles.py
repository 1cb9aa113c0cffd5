"""Profiles compiled from definitions: the FHIR XML reader, tools/compile_profiles.py, the compiled
UK Core and core profiles, and user IG packages installed with ``gpbridge ig install``."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from gpbridge.config import Settings
from gpbridge.fhir import profiles, spec
from gpbridge.fhir.conformance import plan_for
from gpbridge.fhir.fhir_xml import FhirXmlError, parse_resource
from gpbridge.fhir.packages import PackageError, ig_install_command, install_package, read_package
from gpbridge.fhir.structure import check_resource
from gpbridge.fhir.validate import validate

SPEC_DIR = Path(spec.__file__).parent
REPO = Path(__file__).resolve().parents[2]
UK = "https://fhir.hl7.org.uk/StructureDefinition/"
CORE = "http://hl7.org/fhir/StructureDefinition/"
Json = dict[str, Any]


# ---------------------------------------------------------------------------------------------- XML reader


def test_xml_arrays_follow_the_cardinality_in_the_definitions() -> None:
    patient = parse_resource(
        """<Patient xmlns="http://hl7.org/fhir">
             <id value="p1"/>
             <active value="true"/>
             <name><family value="Smith"/><given value="Jo"/></name>
             <gender value="female"/>
             <multipleBirthInteger value="2"/>
           </Patient>"""
    )
    # name and given repeat (0..*), so they are arrays even with one value; gender does not.
    assert patient == {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "name": [{"family": "Smith", "given": ["Jo"]}],
        "gender": "female",
        "multipleBirthInteger": 2,
    }


def test_xml_primitive_extensions_and_ids_go_to_the_underscore_sibling() -> None:
    patient = parse_resource(
        """<Patient xmlns="http://hl7.org/fhir">
             <birthDate id="b" value="1970-01-01">
               <extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime">
                 <valueDateTime value="1970-01-01T10:00:00Z"/>
               </extension>
             </birthDate>
             <name><given value="A"/><given><extension url="http://x"><valueString value="no value"/></extension></given></name>
           </Patient>"""
    )
    assert patient["birthDate"] == "1970-01-01"
    assert patient["_birthDate"]["id"] == "b"
    assert patient["_birthDate"]["extension"][0]["valueDateTime"] == "1970-01-01T10:00:00Z"
    # Arrays stay aligned: a given with only an extension is null in "given".
    assert patient["name"][0]["given"] == ["A", None]
    assert patient["name"][0]["_given"] == [None, {"extension": [{"url": "http://x", "valueString": "no value"}]}]
    assert check_resource(patient) == []


def test_xml_narrative_contained_resources_and_decimals() -> None:
    observation = parse_resource(
        """<Observation xmlns="http://hl7.org/fhir">
             <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>Hi &amp; bye</p></div></text>
             <contained><Patient><id value="p"/></Patient></contained>
             <status value="final"/>
             <code><text value="weight"/></code>
             <subject><reference value="#p"/></subject>
             <valueQuantity><value value="72.50"/><unit value="kg"/></valueQuantity>
           </Observation>"""
    )
    assert observation["text"]["div"] == '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi &amp; bye</p></div>'
    assert observation["contained"] == [{"resourceType": "Patient", "id": "p"}]
    assert observation["valueQuantity"]["value"] == 72.5
    assert check_resource(observation) == []


@pytest.mark.parametrize(
    "xml, message",
    [
        ('<Patient xmlns="http://hl7.org/fhir"><colour value="red"/></Patient>', "unknown element <colour>"),
        ('<Patient xmlns="http://hl7.org/fhir"><gender value="male"/><gender value="female"/></Patient>', "only once"),
        ('<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>', "not a boolean"),
        ("<Patient><id value='x'/></Patient>", "namespace"),
        ('<Nonsense xmlns="http://hl7.org/fhir"/>', "not a FHIR R4 resource type"),
        ('<Patient xmlns="http://hl7.org/fhir"><id value="x"', "not well-formed"),
    ],
)
def test_xml_that_the_definitions_do_not_allow_is_refused(xml: str, message: str) -> None:
    with pytest.raises(FhirXmlError, match=message):
        parse_resource(xml)


def test_every_uk_core_file_reads_as_structurally_valid_fhir(shared_data: Path) -> None:
    files = sorted((shared_data / "uk-core").rglob("*.xml"))
    assert len(files) > 500
    broken = {}
    for file in files:
        issues = check_resource(parse_resource(file.read_bytes()))
        if issues:
            broken[file.name] = [i.diagnostics for i in issues]
    # Upstream's ConditionEpisode example carries both valueCode and valueCodeableConcept.
    assert broken == {
        "Extension-UKCore-ConditionEpisode-Example.xml": [
            "Only one of value[x] may be present, found valueCode and valueCodeableConcept"
        ]
    }


# ---------------------------------------------------------------------------------------------- compiler


def test_generated_profiles_are_up_to_date(shared_data: Path, tmp_path: Path) -> None:
    core = shared_data / "fhir-r4-core" / "package"
    ukcore = shared_data / "uk-core"
    tool = REPO / "tools" / "compile_profiles.py"
    subprocess.run(
        [sys.executable, str(tool), "--core", str(core), "--ukcore", str(ukcore), "--out", str(tmp_path), "--quiet"],
        check=True,
    )
    for name in ("profiles.json", "valuesets_ukcore.json"):
        assert (tmp_path / name).read_bytes() == (SPEC_DIR / name).read_bytes(), f"{name} is stale: rerun the tool"


@pytest.mark.parametrize("name", ["profiles.json", "valuesets_ukcore.json"])
def test_profile_artefacts_are_compact(name: str) -> None:
    data = (SPEC_DIR / name).read_bytes()
    assert b"\n" not in data
    assert len(data) < 2_000_000


def test_uk_core_patient_slices_identifiers_by_system() -> None:
    patient = profiles.get(UK + "UKCore-Patient")
    assert patient is not None and patient["type"] == "Patient" and patient["derivation"] == "constraint"
    elements = patient["elements"]
    assert elements["identifier"]["slicing"]["discriminator"] == [{"type": "value", "path": "system"}]
    assert elements["identifier:nhsNumber"]["max"] == "1"
    assert elements["identifier:nhsNumber.system"]["fixed"] == "https://fhir.nhs.uk/Id/nhs-number"
    assert elements["extension:ethnicCategory"]["types"][0]["profiles"] == [UK + "Extension-UKCore-EthnicCategory"]


def test_derived_profiles_carry_their_parents_slices() -> None:
    """UK Core publishes differentials only: BMI refers to slices VitalSigns declared."""
    bmi = profiles.get(UK + "UKCore-Observation-VitalSigns-BMI")
    assert bmi is not None
    elements = bmi["elements"]
    assert elements["code.coding"]["slicing"]["discriminator"] == [{"type": "value", "path": "system"}]  # parent
    assert elements["code.coding:loinc.system"]["fixed"] == "http://loinc.org"  # parent
    assert elements["code.coding:loinc.code"]["fixed"] == "39156-5"  # own
    assert {c["key"] for c in elements[""]["constraints"]} == {"ukcore-obs-vs-001"}
    assert elements["value[x]"]["types"] == [{"code": "Quantity"}]
    assert elements["value[x].code"]["fixed"] == "kg/m2"


def test_base_types_keep_their_invariants_and_datatype_profiles() -> None:
    observation = profiles.get(CORE + "Observation")
    assert observation is not None and observation["derivation"] == "specialization"
    keys = {c["key"] for c in observation["elements"][""]["constraints"]}
    assert {"obs-6", "obs-7", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6"} <= keys
    assert "ele-1" not in keys  # fhir.structure checks it natively
    assert observation["elements"]["referenceRange.low"]["types"][0]["profiles"] == [CORE + "SimpleQuantity"]
    assert [c["key"] for c in profiles.get(CORE + "Extension")["elements"][""]["constraints"]] == ["ext-1"]


def test_extension_definitions_have_contexts_and_value_types() -> None:
    birth_sex = profiles.get(UK + "Extension-UKCore-BirthSex")
    assert birth_sex is not None and birth_sex["type"] == "Extension"
    assert birth_sex["context"] == [{"type": "element", "expression": "Patient"}]
    assert [t["code"] for t in birth_sex["elements"]["value[x]"]["types"]] == ["CodeableConcept"]
    core = profiles.get(CORE + "patient-birthTime")
    assert core is not None and core["context"][0]["expression"] == "Patient.birthDate"


def test_uk_core_value_sets_are_expanded_or_marked_with_their_systems() -> None:
    extra = profiles.builtin_valuesets()
    ethnic = extra["https://fhir.hl7.org.uk/ValueSet/UKCore-EthnicCategory"]
    assert "G" in ethnic["https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"]
    snomed = [v for v in extra.values() if v.get("incomplete") and v.get("systems") == ["http://snomed.info/sct"]]
    assert len(snomed) > 50  # SNOMED CT ECL value sets: left to the terminology service


def test_every_uk_core_profile_builds_a_plan() -> None:
    urls = [u for u in profiles.all_urls() if u.startswith(UK)]
    assert len(urls) > 130
    # UK Core also defines R5 backport extensions under their HL7 URLs.
    assert profiles.get("http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.triggeredBy") is not None
    notes = {}
    for url in urls:
        plan = plan_for(url)
        assert plan is not None, url
        if plan.notes:
            notes[url.rsplit("/", 1)[-1]] = plan.notes
    # Lab slices code.coding by type, but both slices are Codings: upstream gives them nothing to
    # tell them apart, so they are reported (and their extensible bindings not applied).
    assert list(notes) == ["UKCore-Observation-Lab"]
    assert all("discriminator $this" in n for n in notes["UKCore-Observation-Lab"])


# ---------------------------------------------------------------------------------------------- IG packages


def _structure(url: str, name: str, type_: str, base: str, elements: list[Json], **extra: Any) -> Json:
    return {
        "resourceType": "StructureDefinition",
        "url": url,
        "name": name,
        "status": "active",
        "kind": "complex-type" if type_ == "Extension" else "resource",
        "abstract": False,
        "type": type_,
        "baseDefinition": base,
        "derivation": "constraint",
        "differential": {"element": elements},
        **extra,
    }


EXAMPLE_PROFILE = "https://example.org/fhir/StructureDefinition/GPPatient"
EXAMPLE_EXTENSION = "https://example.org/fhir/StructureDefinition/registration-type"


def _package_files() -> dict[str, Json]:
    return {
        "package.json": {"name": "example.gp.ig", "version": "0.1.0", "fhirVersions": ["4.0.1"]},
        "StructureDefinition-GPPatient.json": _structure(
            EXAMPLE_PROFILE,
            "GPPatient",
            "Patient",
            UK + "UKCore-Patient",
            [
                {
                    "id": "Patient",
                    "path": "Patient",
                    "constraint": [
                        {"key": "gp-1", "severity": "error", "human": "A GP patient has a birth date", "expression": "birthDate.exists()"}
                    ],
                },
                {"id": "Patient.identifier:nhsNumber", "path": "Patient.identifier", "sliceName": "nhsNumber", "min": 1},
                {
                    "id": "Patient.extension:registrationType",
                    "path": "Patient.extension",
                    "sliceName": "registrationType",
                    "max": "1",
                    "type": [{"code": "Extension", "profile": [EXAMPLE_EXTENSION]}],
                },
            ],
        ),
        "StructureDefinition-registration-type.json": _structure(
            EXAMPLE_EXTENSION,
            "RegistrationType",
            "Extension",
            CORE + "Extension",
            [
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": EXAMPLE_EXTENSION},
                {
                    "id": "Extension.value[x]",
                    "path": "Extension.value[x]",
                    "min": 1,
                    "type": [{"code": "Coding"}],
                    "binding": {"strength": "required", "valueSet": "https://example.org/fhir/ValueSet/registration-type"},
                },
            ],
            context=[{"type": "element", "expression": "Patient"}],
        ),
        "ValueSet-registration-type.json": {
            "resourceType": "ValueSet",
            "url": "https://example.org/fhir/ValueSet/registration-type",
            "status": "active",
            "compose": {"include": [{"system": "https://example.org/fhir/CodeSystem/registration-type"}]},
        },
        "CodeSystem-registration-type.json": {
            "resourceType": "CodeSystem",
            "url": "https://example.org/fhir/CodeSystem/registration-type",
            "status": "active",
            "content": "complete",
            "concept": [{"code": "R", "display": "Regular"}, {"code": "T", "display": "Temporary"}],
        },
        "SearchParameter-registration.json": {"resourceType": "SearchParameter", "url": "https://example.org/sp", "status": "active"},
    }


def _folder(tmp_path: Path) -> Path:
    package = tmp_path / "ig" / "package"
    package.mkdir(parents=True)
    for name, content in _package_files().items():
        (package / name).write_bytes(orjson.dumps(content))
    return tmp_path / "ig"


def _tgz(tmp_path: Path) -> Path:
    path = tmp_path / "example.gp.ig-0.1.0.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, content in _package_files().items():
            data = orjson.dumps(content)
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _gp_patient(code: str = "R", **extra: Any) -> Json:
    return {
        "resourceType": "Patient",
        "meta": {"profile": [EXAMPLE_PROFILE]},
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
        "birthDate": "1970-01-01",
        "extension": [
            {
                "url": EXAMPLE_EXTENSION,
                "valueCoding": {"system": "https://example.org/fhir/CodeSystem/registration-type", "code": code},
            }
        ],
        **extra,
    }


@pytest.mark.parametrize("make", [_folder, _tgz], ids=["folder", "tgz"])
def test_install_compiles_a_package_into_the_store(tmp_path: Path, make: Any) -> None:
    store = tmp_path / "store"
    summary = install_package(make(tmp_path), store)
    assert (summary.package, summary.version) == ("example.gp.ig", "0.1.0")
    assert (summary.profiles, summary.extensions, summary.valuesets) == (1, 1, 1)
    assert summary.skipped == {"SearchParameter": 1}
    stored = orjson.loads(Path(summary.store_file).read_bytes())
    assert EXAMPLE_PROFILE in stored["profiles"]
    assert stored["valuesets"]["https://example.org/fhir/ValueSet/registration-type"] == {
        "https://example.org/fhir/CodeSystem/registration-type": ["R", "T"]
    }
    assert "1 profiles, 1 extension definitions" in summary.describe()


def test_installed_profiles_are_validated_like_uk_core(tmp_path: Path) -> None:
    install_package(_folder(tmp_path), tmp_path / "store")
    assert [i for i in validate(_gp_patient()) if i.severity == "error"] == []
    found = {(i.code, i.expression, i.diagnostics.split(":")[0]) for i in validate(_gp_patient("X", birthDate=None)) if i.severity == "error"}
    assert ("code-invalid", ("Patient.extension[0].valueCoding",), "RegistrationType") in found
    # birthDate None is a structural error (null) and also breaks the package's own invariant.
    assert ("invariant", ("Patient",), "GPPatient") in found
    no_nhs = _gp_patient()
    no_nhs["identifier"] = [{"system": "https://example.org/mrn", "value": "1"}]
    errors = [i for i in validate(no_nhs) if i.severity == "error"]
    assert [(i.code, i.expression) for i in errors] == [("required", ("Patient.identifier",))]
    assert "Patient.identifier:nhsNumber" in errors[0].diagnostics


def test_ig_install_command_uses_the_var_dir(tmp_path: Path) -> None:
    text = ig_install_command(_folder(tmp_path), Settings(var_dir=str(tmp_path / "var")))
    assert text.startswith("Installed example.gp.ig#0.1.0 into ")
    assert list((tmp_path / "var" / "profiles").glob("*.profiles.json"))


def test_a_profile_whose_base_is_unknown_is_skipped_with_a_note(tmp_path: Path) -> None:
    package = tmp_path / "p" / "package"
    package.mkdir(parents=True)
    (package / "package.json").write_bytes(orjson.dumps({"name": "orphan", "version": "1"}))
    sd = _structure("https://example.org/x", "X", "Patient", "https://nowhere.example/Base", [])
    (package / "StructureDefinition-x.json").write_bytes(orjson.dumps(sd))
    summary = install_package(tmp_path / "p", tmp_path / "store")
    assert summary.profiles == 0
    assert any("base https://nowhere.example/Base is unknown" in n for n in summary.notes)


def test_not_a_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(PackageError, match="neither a package folder nor a .tgz"):
        read_package(tmp_path / "file.txt")
    with pytest.raises(PackageError, match="does not exist"):
        read_package(tmp_path / "missing")
