"""The synthetic GP population: deterministic, valid-looking transactions, consistent references and dates."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from gpbridge.demo import DEMO_USERS, PRACTICE_A, PRACTICE_B, generate_population, write_population
from gpbridge.demo.timeline import REFERENCE_DATE

NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
REF_DATE = REFERENCE_DATE.isoformat()


def nhs_number_is_valid(number: str) -> bool:
    """Modulus 11, written here independently of the generator: weights 10..2, 11 -> 0, 10 is invalid."""
    if not re.fullmatch(r"\d{10}", number):
        return False
    check = 11 - sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True)) % 11
    if check == 10:
        return False
    return (0 if check == 11 else check) == int(number[9])


def walk(node: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every (key, value) pair in a JSON tree, lists included."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield key, v
            yield from walk(v, key)


def resources(bundles: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for bundle in bundles:
        for entry in bundle["entry"]:
            yield entry["resource"]


def patient_of(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


@pytest.fixture(scope="module")
def population() -> list[dict[str, Any]]:
    return list(generate_population(120, seed=7, entries_per_patient=40))


@pytest.fixture(scope="module")
def large_light() -> list[dict[str, Any]]:
    """Many patients with small records: enough to see the 1% and 10% features."""
    return list(generate_population(2500, seed=11, entries_per_patient=4))


def test_same_seed_gives_identical_bytes_and_another_seed_does_not() -> None:
    first = [orjson.dumps(b) for b in generate_population(25, seed=3, entries_per_patient=30)]
    again = [orjson.dumps(b) for b in generate_population(25, seed=3, entries_per_patient=30)]
    other = [orjson.dumps(b) for b in generate_population(25, seed=4, entries_per_patient=30)]
    assert first == again
    assert first[0] == other[0]  # the shared resources do not depend on the seed
    assert first[1:] != other[1:]
    assert sum(a != b for a, b in zip(first[2:], other[2:], strict=True)) == 24


def test_nhs_numbers_are_valid_test_numbers_and_unique(large_light: list[dict[str, Any]]) -> None:
    numbers = []
    for bundle in large_light[1:]:
        identifiers = [i for i in patient_of(bundle)["identifier"] if i["system"] == NHS]
        assert len(identifiers) == 1
        number = identifiers[0]["value"]
        assert number.startswith("999") and nhs_number_is_valid(number), number
        status = identifiers[0]["extension"][0]
        assert status["url"].endswith("Extension-UKCore-NHSNumberVerificationStatus")
        assert status["valueCodeableConcept"]["coding"][0]["code"] == "01"
        numbers.append(number)
    assert len(set(numbers)) == len(numbers)
    assert not nhs_number_is_valid("9990000019") and nhs_number_is_valid(
        "9990000018"
    )  # the check itself bites


def test_every_bundle_is_a_well_formed_transaction(population: list[dict[str, Any]]) -> None:
    shared, patients = population[0], population[1:]
    for entry in shared["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        assert entry["fullUrl"].startswith("urn:uuid:")
    for bundle in population:
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        full_urls = [e["fullUrl"] for e in bundle["entry"]]
        assert len(set(full_urls)) == len(full_urls)
    for bundle in patients:
        for entry in bundle["entry"]:
            assert entry["request"]["method"] == "POST"
            assert entry["request"]["url"] == entry["resource"]["resourceType"]
            assert re.fullmatch(
                r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                entry["fullUrl"],
            )
            assert "id" not in entry["resource"]
        patient_entry = bundle["entry"][0]
        nhs = patient_entry["resource"]["identifier"][0]["value"]
        assert patient_entry["request"]["ifNoneExist"] == f"identifier={NHS}|{nhs}"


def test_every_reference_resolves_inside_the_bundle_or_to_a_shared_resource(
    population: list[dict[str, Any]],
) -> None:
    shared = population[0]
    shared_ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in shared["entry"]}
    for key, value in walk(shared):
        if key == "reference":
            assert value in shared_ids
    for bundle in population[1:]:
        full_urls = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}
        patient_urn = bundle["entry"][0]["fullUrl"]
        for entry in bundle["entry"][1:]:
            resource = entry["resource"]
            refs = [v for k, v in walk(resource) if k == "reference"]
            assert refs, f"{resource['resourceType']} references nothing"
            for target in refs:
                assert target in full_urls or target in shared_ids, target
            subject = (resource.get("subject") or resource.get("patient") or {}).get("reference")
            assert subject == patient_urn
        # typed references point at the right kind of resource
        for resource in (e["resource"] for e in bundle["entry"]):
            for result in resource.get("result", []):
                assert full_urls[result["reference"]] == "Observation"
            if "encounter" in resource:
                assert full_urls[resource["encounter"]["reference"]] == "Encounter"
            for based_on in resource.get("basedOn", []):
                assert full_urls[based_on["reference"]] == "MedicationRequest"


def test_dates_lie_within_the_patients_life_and_never_after_the_reference_date(
    population: list[dict[str, Any]],
) -> None:
    checked = 0
    for bundle in population[1:]:
        patient = patient_of(bundle)
        birth = patient["birthDate"]
        last = patient.get("deceasedDateTime", REF_DATE)[:10]
        assert last <= REF_DATE
        for key, value in walk(bundle):
            if isinstance(value, str) and DATE.match(value) and key != "fullUrl":
                assert birth <= value[:10] <= last, (key, value, birth, last)
                checked += 1
    assert checked > 1000


def test_resource_counts_scale_with_entries_per_patient() -> None:
    def counts(entries: int) -> Counter[str]:
        return Counter(r["resourceType"] for r in resources(list(generate_population(150, 5, entries))[1:]))

    small, large = counts(20), counts(60)
    assert 0.85 * 150 * 20 <= sum(small.values()) <= 1.15 * 150 * 20
    assert 0.9 * 150 * 60 <= sum(large.values()) <= 1.1 * 150 * 60
    assert 2.4 <= sum(large.values()) / sum(small.values()) <= 3.6
    for kind in ("Observation", "Encounter", "MedicationRequest", "Condition"):
        assert large[kind] > 1.5 * small[kind], kind
    assert small["Patient"] == large["Patient"] == 150


def test_population_shape(large_light: list[dict[str, Any]]) -> None:
    patients = [patient_of(b) for b in large_light[1:]]
    n = len(patients)
    restricted = [p for p in patients if "security" in p["meta"]]
    assert 0.003 * n <= len(restricted) <= 0.025 * n
    for p in restricted:
        assert p["meta"]["security"] == [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                "code": "R",
                "display": "restricted",
            }
        ]
    assert all(
        p["meta"]["profile"] == ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]
        for p in patients
    )
    deceased = [p for p in patients if "deceasedDateTime" in p]
    assert 0.004 * n <= len(deceased) <= 0.03 * n
    at_b = [p for p in patients if p["managingOrganization"]["reference"] == f"Organization/{PRACTICE_B.id}"]
    assert 0.06 * n <= len(at_b) <= 0.14 * n
    for p in patients:
        org, gp = (g["reference"] for g in p["generalPractitioner"])
        assert org == p["managingOrganization"]["reference"]
        assert gp.startswith("Practitioner/gp-" + org.rsplit("-", 1)[1])
    ages = [REFERENCE_DATE.year - int(p["birthDate"][:4]) for p in patients]
    assert min(ages) <= 1 and max(ages) >= 90
    assert sum(a < 18 for a in ages) > 0.15 * n and sum(a >= 75 for a in ages) > 0.05 * n
    assert sum(len(p["name"][0]["given"]) > 1 for p in patients) > 0.25 * n
    assert sum(any(name["use"] == "old" for name in p["name"]) for p in patients) > 0.05 * n
    assert len({p["name"][0]["family"] for p in patients}) > 100
    postcodes = [a["postalCode"] for p in patients for a in p["address"]]
    assert all(re.fullmatch(r"(LS|WF)\d{1,2} \d[ABD-HJLNP-UW-Z]{2}", pc) for pc in postcodes)
    assert sum(any(t["system"] == "email" for t in p.get("telecom", [])) for p in patients) > 0.15 * n


def test_clinical_content_is_age_appropriate_and_coded(population: list[dict[str, Any]]) -> None:
    by_type: Counter[str] = Counter()
    no_known_allergy = children = immunised_children = 0
    for bundle in population[1:]:
        patient = patient_of(bundle)
        age = REFERENCE_DATE.year - int(patient["birthDate"][:4])
        kinds = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
        by_type.update(kinds)
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] == "AllergyIntolerance" and r["code"]["coding"][0]["code"] == "716186003":
                no_known_allergy += 1
            if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "75367002":
                codes = [c["code"]["coding"][0]["code"] for c in r["component"]]
                assert codes == ["271649006", "271650006"]
                assert all(c["valueQuantity"]["code"] == "mm[Hg]" for c in r["component"])
            if r["resourceType"] == "Observation" and "laboratory" in str(r["category"]):
                assert r["valueQuantity"]["system"] == "http://unitsofmeasure.org"
                assert r["referenceRange"]
            if r["resourceType"] == "Condition" and age < 18:
                assert r["code"]["coding"][0]["code"] not in ("44054006", "13645005", "49436004", "53741008")
        if 2 <= age <= 10:
            children += 1
            immunised_children += kinds["Immunization"] > 0
    assert children > 5 and immunised_children >= 0.8 * children
    for kind in (
        "Encounter",
        "Condition",
        "Observation",
        "MedicationRequest",
        "MedicationStatement",
        "AllergyIntolerance",
        "Immunization",
        "DiagnosticReport",
    ):
        assert by_type[kind] > 0, kind
    assert 0.3 * 120 <= no_known_allergy <= 0.7 * 120
    codings = [
        c for r in resources(population[1:]) for k, c in walk(r) if k == "coding" and isinstance(c, dict)
    ]
    systems = {c["system"] for c in codings}
    assert "http://loinc.org" not in systems  # England GP records are coded in SNOMED CT


def test_the_record_is_internally_consistent(population: list[dict[str, Any]]) -> None:
    statins = {"320030001", "320000009"}
    amoxicillin = "39732411000001106"
    for bundle in population[1:]:
        by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
        found = list(by_url.values())
        allergic = any(
            r["resourceType"] == "AllergyIntolerance" and r["code"]["coding"][0]["code"] == "91936005"
            for r in found
        )
        requests = [r for r in found if r["resourceType"] == "MedicationRequest"]
        drugs = {r["medicationCodeableConcept"]["coding"][0]["code"] for r in requests}
        if allergic:
            assert amoxicillin not in drugs, "penicillin allergy, yet amoxicillin prescribed"
        plans = {
            r["medicationCodeableConcept"]["coding"][0]["code"] for r in requests if r["intent"] == "plan"
        }
        assert len(plans & statins) <= 1, "two statins authorised"
        for order in (r for r in requests if r.get("basedOn")):
            plan = by_url[order["basedOn"][0]["reference"]]
            assert (
                plan["intent"] == "plan"
                and plan["medicationCodeableConcept"] == order["medicationCodeableConcept"]
            )
        # BMI is computed from the weight and height recorded beside it
        measured: dict[tuple[str, str], float] = {}
        for r in found:
            if r["resourceType"] == "Observation" and "valueQuantity" in r and "encounter" in r:
                measured[(r["encounter"]["reference"], r["code"]["coding"][0]["code"])] = r["valueQuantity"][
                    "value"
                ]
        for (visit, code), bmi in measured.items():
            if code == "60621009":
                weight, height = measured[(visit, "27113001")], measured[(visit, "50373000")]
                assert abs(bmi - weight / (height / 100) ** 2) < 0.1


def test_a_penicillin_allergic_patient_is_never_prescribed_amoxicillin() -> None:
    # patient-1 has a penicillin allergy whatever the seed, and a long record with chest infections
    antibiotics: Counter[str] = Counter()
    for seed in range(40):
        bundle = list(generate_population(1, seed=seed, entries_per_patient=60))[1]
        for r in resources([bundle]):
            if (
                r["resourceType"] == "MedicationRequest"
                and r["courseOfTherapyType"]["coding"][0]["code"] == "acute"
            ):
                antibiotics[r["medicationCodeableConcept"]["coding"][0]["display"]] += 1
    assert antibiotics["Doxycycline 100mg capsules"] + antibiotics["Clarithromycin 500mg tablets"] > 0
    assert antibiotics["Amoxicillin 500mg capsules"] == 0


def test_demo_users_exist_in_the_data(population: list[dict[str, Any]]) -> None:
    shared = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
        for e in population[0]["entry"]
    }
    for user_id, practice in (("clinician-a", PRACTICE_A), ("clinician-b", PRACTICE_B)):
        user = DEMO_USERS[user_id]
        practitioner = shared[f"Practitioner/{user.practitioner_id}"]
        assert practitioner["identifier"][0] == {
            "system": "https://fhir.nhs.uk/Id/sds-user-id",
            "value": user.sds_user_id,
        }
        role = shared[f"PractitionerRole/{user.practitioner_role_id}"]
        assert role["organization"]["reference"] == f"Organization/{practice.id}"
        org = shared[f"Organization/{practice.id}"]
        assert (
            org["identifier"][0]
            == {"use": "official", "system": ODS, "value": practice.ods_code}
            == {"use": "official", "system": ODS, "value": user.ods_code}
        )
    first = population[1]
    patient = patient_of(first)
    assert patient["identifier"][0]["value"] == DEMO_USERS["patient-1"].nhs_number
    assert (
        patient["generalPractitioner"][1]["reference"]
        == f"Practitioner/{DEMO_USERS['clinician-a'].practitioner_id}"
    )
    proxies = [e for e in first["entry"] if e["resource"]["resourceType"] == "RelatedPerson"]
    assert len(proxies) == 1
    proxy = proxies[0]["resource"]
    assert proxy["patient"]["reference"] == first["entry"][0]["fullUrl"]
    assert {"system": NHS, "value": DEMO_USERS["proxy-1"].nhs_number} in proxy["identifier"]
    assert DEMO_USERS["proxy-1"].acts_for_nhs_number == DEMO_USERS["patient-1"].nhs_number
    assert not any(
        e["resource"]["resourceType"] == "RelatedPerson" for b in population[2:] for e in b["entry"]
    )


@pytest.mark.parametrize("ndjson", [False, True])
def test_write_population_writes_what_generate_yields(tmp_path: Any, ndjson: bool) -> None:
    summary = write_population(tmp_path, patients=6, seed=2, entries_per_patient=15, ndjson=ndjson)
    expected = [orjson.dumps(b) for b in generate_population(6, 2, 15)]
    if ndjson:
        assert (tmp_path / "population.ndjson").read_bytes() == b"".join(e + b"\n" for e in expected)
    else:
        files = sorted(tmp_path.glob("bundle-*.json"))
        assert [f.name for f in files] == [f"bundle-{i:05d}.json" for i in range(7)]
        assert [f.read_bytes() for f in files] == expected
    assert summary.bundles == 7 and summary.patients == 6
    counts = Counter(r["resourceType"] for r in resources([orjson.loads(e) for e in expected]))
    assert summary.resources_by_type == dict(sorted(counts.items()))
    assert summary.resources == sum(counts.values())
    assert summary.to_json()["resourcesByType"]["Patient"] == 6


def test_write_population_refuses_to_mix_with_an_earlier_population(tmp_path: Any) -> None:
    write_population(tmp_path, patients=8, seed=1, entries_per_patient=5)
    with pytest.raises(FileExistsError):
        write_population(tmp_path, patients=3, seed=1, entries_per_patient=5)
    summary = write_population(tmp_path, patients=3, seed=1, entries_per_patient=5, overwrite=True)
    assert (
        sorted(p.name for p in tmp_path.iterdir())
        == summary.files
        == [f"bundle-{i:05d}.json" for i in range(4)]
    )


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        next(generate_population(-1))
    with pytest.raises(ValueError):
        next(generate_population(5, entries_per_patient=0))


def test_every_resource_passes_the_structural_check(population: list[dict[str, Any]]) -> None:
    structure = pytest.importorskip("gpbridge.fhir.structure", reason="fhir/structure.py is not written yet")
    failures = []
    for resource in resources(population):
        for issue in structure.check_resource(resource):
            if issue.severity in ("error", "fatal"):
                failures.append((resource["resourceType"], issue.expression, issue.diagnostics))
    for bundle in population[:3]:
        failures += [
            (i.expression, i.diagnostics) for i in structure.check_resource(bundle) if i.severity == "error"
        ]
    assert failures == []


def test_every_resource_is_valid_uk_core() -> None:
    """The demo population is what suppliers see first: it must pass the UK Core profiles."""
    from gpbridge.fhir.validate import validate

    problems = []
    for bundle in generate_population(15, seed=4, entries_per_patient=40):
        for entry in bundle["entry"]:
            resource = entry["resource"]
            profile = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-" + resource["resourceType"]
            problems += [f"{resource['resourceType']} {i.expression}: {i.diagnostics}"
                         for i in validate(resource, profiles=[profile]) if i.severity in ("error", "fatal")]
    assert problems == []
