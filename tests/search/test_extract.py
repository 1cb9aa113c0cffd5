"""Index extraction: FHIR values -> index rows per the R4 search spec, and robustness on any input."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpbridge.fhir.spec import search_parameters_for
from gpbridge.search.dates import OPEN_HIGH, OPEN_LOW, date_range
from gpbridge.search.extract import SKIPPED_PARAMETERS, Extractor, IndexValues, extractor_for
from gpbridge.search.references import parse_reference
from gpbridge.search.text import normalise

from . import GENERATED_TYPES, ResourceGenerator


def epoch(*args: int, tz: Any = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


def extract(type_: str, params: dict[str, tuple[str, str]], resource: dict[str, Any]) -> IndexValues:
    """Extraction with a hand-written registry: ``{code: (type, expression)}``."""
    registry = {code: {"type": kind, "expression": expression} for code, (kind, expression) in params.items()}
    return Extractor(type_, registry).extract({"resourceType": type_, **resource})


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lo", "hi"),
    [
        ("2020", epoch(2020, 1, 1), epoch(2021, 1, 1)),
        ("2020-02", epoch(2020, 2, 1), epoch(2020, 3, 1)),  # leap year: 29 days
        ("2019-02", epoch(2019, 2, 1), epoch(2019, 3, 1)),
        ("2020-12", epoch(2020, 12, 1), epoch(2021, 1, 1)),
        ("2020-02-29", epoch(2020, 2, 29), epoch(2020, 3, 1)),
        ("2000-02-29", epoch(2000, 2, 29), epoch(2000, 3, 1)),  # divisible by 400: leap
        ("2020-03-04T10:00:00+01:00", epoch(2020, 3, 4, 9), epoch(2020, 3, 4, 9, 0, 1)),
        ("2020-03-04T10:00:00-05:30", epoch(2020, 3, 4, 15, 30), epoch(2020, 3, 4, 15, 30, 1)),
        ("2020-03-04T10:00:00Z", epoch(2020, 3, 4, 10), epoch(2020, 3, 4, 10, 0, 1)),
        ("2020-03-04T10:00:00", epoch(2020, 3, 4, 10), epoch(2020, 3, 4, 10, 0, 1)),  # no zone: UTC
        ("2020-03-04T10:00", epoch(2020, 3, 4, 10), epoch(2020, 3, 4, 10, 1)),
        ("2020-12-31T23:59:59+14:00", epoch(2020, 12, 31, 9, 59, 59), epoch(2020, 12, 31, 10)),
        ("1850-06-01", epoch(1850, 6, 1), epoch(1850, 6, 2)),
    ],
)
def test_date_precision_ranges(text: str, lo: float, hi: float) -> None:
    assert date_range(text) == (lo, hi)


def test_fractional_seconds_narrow_the_range() -> None:
    lo, hi = date_range("2020-03-04T10:00:00.123Z")  # type: ignore[misc]
    assert math.isclose(lo, epoch(2020, 3, 4, 10) + 0.123, abs_tol=1e-6)
    assert math.isclose(hi - lo, 0.001, abs_tol=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "2019-02-29",
        "1900-02-29",
        "2020-13",
        "2020-00-10",
        "2020-04-31",
        "20",
        "2020-1-1",
        "2020-01-01T25:00:00Z",
        "",
        "tomorrow",
    ],
)
def test_invalid_dates_are_not_indexed(text: str) -> None:
    assert date_range(text) is None
    assert extract("Patient", {"birthdate": ("date", "Patient.birthDate")}, {"birthDate": text}).dates == []


def test_period_ends_are_open_when_missing() -> None:
    param = {"date": ("date", "Encounter.period")}
    start_only = extract("Encounter", param, {"period": {"start": "2020-01-01"}})
    assert start_only.dates == [("date", epoch(2020, 1, 1), OPEN_HIGH)]
    end_only = extract("Encounter", param, {"period": {"end": "2020-01"}})
    assert end_only.dates == [("date", OPEN_LOW, epoch(2020, 2, 1))]
    both = extract("Encounter", param, {"period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-02"}})
    assert both.dates == [("date", epoch(2020, 1, 1, 10), epoch(2020, 1, 3))]
    assert extract("Encounter", param, {"period": {}}).dates == []


def test_timing_indexes_its_outer_limits() -> None:
    param = {"date": ("date", "MedicationRequest.dosageInstruction.timing")}
    timing = {
        "event": ["2020-03-01", "2020-01-15"],
        "repeat": {"boundsPeriod": {"start": "2019-12-01", "end": "2020-02"}},
    }
    got = extract("MedicationRequest", param, {"dosageInstruction": [{"timing": timing}]})
    assert got.dates == [("date", epoch(2019, 12, 1), epoch(2020, 3, 2))]


# --- strings -------------------------------------------------------------------------------------


def test_normalisation_folds_case_accents_and_whitespace() -> None:
    assert normalise("  José\tÁLVAREZ  ") == "jose alvarez"
    assert normalise("Zoë Ó Briain") == "zoe o briain"
    assert normalise("ﬁnn") == "finn"  # compatibility decomposition of the ligature


def test_human_name_indexes_every_part() -> None:
    name = {
        "family": "Ó Briain",
        "given": ["Zoë", "Anne"],
        "prefix": ["Dr"],
        "suffix": ["MBE"],
        "text": "Dr Zoë Ó Briain",
    }
    got = extract("Patient", {"name": ("string", "Patient.name")}, {"name": [name]})
    assert sorted(got.strings) == sorted(
        [
            ("name", "o briain", "Ó Briain"),
            ("name", "zoe", "Zoë"),
            ("name", "anne", "Anne"),
            ("name", "dr", "Dr"),
            ("name", "mbe", "MBE"),
            ("name", "dr zoe o briain", "Dr Zoë Ó Briain"),
        ]
    )


def test_address_indexes_every_part() -> None:
    address = {
        "line": ["1 Trevelyan Square", "Boar Lane"],
        "city": "Leeds",
        "district": "West Yorkshire",
        "state": "England",
        "postalCode": "LS1 6AE",
        "country": "GBR",
        "use": "home",
    }
    got = extract("Patient", {"address": ("string", "Patient.address")}, {"address": [address]})
    assert {exact for _, _, exact in got.strings} == {
        "1 Trevelyan Square",
        "Boar Lane",
        "Leeds",
        "West Yorkshire",
        "England",
        "LS1 6AE",
        "GBR",
    }


# --- tokens --------------------------------------------------------------------------------------


def test_codeable_concept_tokens_and_text() -> None:
    concept = {
        "coding": [
            {"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"},
            {"system": "http://read.info/readv2", "code": "G20..", "display": "Essential hypertension"},
        ],
        "text": "High blood pressure",
    }
    got = extract("Condition", {"code": ("token", "Condition.code")}, {"code": concept})
    assert got.tokens == [
        ("code", "http://snomed.info/sct", "38341003", "Hypertension"),
        ("code", "http://read.info/readv2", "G20..", "Essential hypertension"),
        ("code", None, None, "High blood pressure"),
    ]


def test_identifier_tokens_carry_type_text() -> None:
    identifier = {
        "system": "https://fhir.nhs.uk/Id/nhs-number",
        "value": "9000000009",
        "type": {"text": "NHS number"},
    }
    got = extract(
        "Patient",
        {"identifier": ("token", "Patient.identifier")},
        {"identifier": [identifier, {"use": "old"}]},
    )
    assert got.tokens == [("identifier", "https://fhir.nhs.uk/Id/nhs-number", "9000000009", "NHS number")]


def test_contact_point_tokens_have_no_system() -> None:
    # The spec's token table: ContactPoint matches on ContactPoint.value only.
    telecom = [{"system": "phone", "value": "01632 960587"}, {"system": "email", "value": "a@b.nhs.uk"}]
    params = {
        "telecom": ("token", "Patient.telecom"),
        "phone": ("token", "Patient.telecom.where(system='phone')"),
        "email": ("token", "Patient.telecom.where(system='email')"),
    }
    got = extract("Patient", params, {"telecom": telecom})
    assert sorted(got.tokens) == sorted(
        [
            ("telecom", None, "01632 960587", None),
            ("telecom", None, "a@b.nhs.uk", None),
            ("phone", None, "01632 960587", None),
            ("email", None, "a@b.nhs.uk", None),
        ]
    )


def test_code_and_boolean_tokens() -> None:
    params = {"gender": ("token", "Patient.gender"), "active": ("token", "Patient.active")}
    got = extract("Patient", params, {"gender": "female", "active": False})
    assert sorted(got.tokens) == [("active", None, "false", None), ("gender", None, "female", None)]


def test_deceased_token_is_false_for_the_living() -> None:
    param = {"deceased": ("token", "Patient.deceased.exists() and Patient.deceased != false")}
    assert extract("Patient", param, {}).tokens == [("deceased", None, "false", None)]
    assert extract("Patient", param, {"deceasedDateTime": "2020"}).tokens == [
        ("deceased", None, "true", None)
    ]


# --- references ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "row"),
    [
        ("Patient/123", ("Patient", "123", None)),
        ("Patient/123/_history/4", ("Patient", "123", None)),
        (
            "https://fhir.example.nhs.uk/R4/Patient/123",
            ("Patient", "123", "https://fhir.example.nhs.uk/R4/Patient/123"),
        ),
        (
            "urn:uuid:9d5f8a6e-0d3e-4d4b-8f5b-3c6b2f1e7a11",
            (None, None, "urn:uuid:9d5f8a6e-0d3e-4d4b-8f5b-3c6b2f1e7a11"),
        ),
        ("http://hl7.org/fhir/ValueSet/x|4.0.1", (None, None, "http://hl7.org/fhir/ValueSet/x|4.0.1")),
        ("Unknown/1", (None, None, "Unknown/1")),
        ("#contained", None),
    ],
)
def test_reference_forms(reference: str, row: tuple[Any, ...] | None) -> None:
    assert parse_reference(reference) == row
    got = extract(
        "Observation",
        {"subject": ("reference", "Observation.subject")},
        {"subject": {"reference": reference}},
    )
    assert got.references == ([("subject", *row)] if row else [])


def test_reference_identifier_is_a_token_under_param_identifier() -> None:
    subject = {
        "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"},
        "type": "Patient",
    }
    got = extract("Observation", {"subject": ("reference", "Observation.subject")}, {"subject": subject})
    assert got.references == []
    assert got.tokens == [("subject:identifier", "https://fhir.nhs.uk/Id/nhs-number", "9000000009", None)]


def test_where_resolve_selects_the_patient_references() -> None:
    params = {
        "subject": ("reference", "Observation.subject"),
        "patient": ("reference", "Observation.subject.where(resolve() is Patient)"),
    }
    group = extract("Observation", params, {"subject": {"reference": "Group/g"}})
    assert group.references == [("subject", "Group", "g", None)]
    patient = extract("Observation", params, {"subject": {"reference": "Patient/p"}})
    assert sorted(patient.references) == [
        ("patient", "Patient", "p", None),
        ("subject", "Patient", "p", None),
    ]


def test_canonical_and_uri_values() -> None:
    params = {
        "profile": ("uri", "Resource.meta.profile"),
        "source": ("reference", "(ConceptMap.source as canonical)"),
    }
    got = extract(
        "ConceptMap",
        params,
        {
            "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
            "sourceCanonical": "http://x/vs",
        },
    )
    assert got.uris == [("profile", "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient")]
    assert got.references == [("source", None, None, "http://x/vs")]


# --- numbers, quantities, choice types ------------------------------------------------------------


def test_quantities_use_code_else_unit() -> None:
    params = {
        "value-quantity": ("quantity", "(Observation.value as Quantity) | (Observation.value as SampledData)")
    }
    coded = extract(
        "Observation",
        params,
        {
            "valueQuantity": {
                "value": 4.1,
                "system": "http://unitsofmeasure.org",
                "code": "mmol/L",
                "unit": "mmol per litre",
            }
        },
    )
    # the unit too, under no system: ``4.1||mmol per litre`` finds it, ``4.1|ucum|mmol per litre`` does not
    assert coded.quantities == [("value-quantity", "http://unitsofmeasure.org", "mmol/L", 4.1),
                                ("value-quantity", None, "mmol per litre", 4.1)]  # fmt: skip
    unit_only = extract("Observation", params, {"valueQuantity": {"value": 2, "unit": "tablets"}})
    assert unit_only.quantities == [("value-quantity", None, "tablets", 2.0)]
    same = extract("Observation", params, {"valueQuantity": {"value": 2, "unit": "kg", "code": "kg"}})
    assert same.quantities == [("value-quantity", None, "kg", 2.0)]
    sampled = extract(
        "Observation", params, {"valueSampledData": {"origin": {"value": 0}, "period": 1, "dimensions": 1}}
    )
    assert sampled.quantities == []


def test_money_and_range_quantities() -> None:
    money = extract(
        "Invoice",
        {"total": ("quantity", "Invoice.totalGross")},
        {"totalGross": {"value": 12.5, "currency": "GBP"}},
    )
    assert money.quantities == [("total", "urn:iso:std:iso:4217", "GBP", 12.5)]
    got = extract(
        "Condition",
        {"onset-age": ("quantity", "Condition.onset.as(Age) | Condition.onset.as(Range)")},
        {"onsetRange": {"low": {"value": 1, "code": "a"}, "high": {"value": 5, "code": "a"}}},
    )
    assert sorted(got.quantities) == [("onset-age", None, "a", 1.0), ("onset-age", None, "a", 5.0)]


def test_numbers() -> None:
    got = extract(
        "RiskAssessment",
        {"probability": ("number", "RiskAssessment.prediction.probability")},
        {
            "prediction": [
                {"probabilityDecimal": 0.25},
                {"probabilityRange": {"low": {"value": 1}}},
                {"probabilityDecimal": True},
            ]
        },
    )
    assert got.numbers == [("probability", 0.25)]


def test_choice_types_route_each_form_to_its_parameter() -> None:
    params = {
        "value-quantity": ("quantity", "(Observation.value as Quantity)"),
        "value-date": ("date", "(Observation.value as dateTime) | (Observation.value as Period)"),
        "value-string": (
            "string",
            "(Observation.value as string) | (Observation.value as CodeableConcept).text",
        ),
        "value-concept": ("token", "(Observation.value as CodeableConcept)"),
        "date": ("date", "Observation.effective"),
    }
    concept = extract(
        "Observation",
        params,
        {"valueCodeableConcept": {"text": "Positive"}, "effectivePeriod": {"start": "2020"}},
    )
    assert concept.tokens == [("value-concept", None, None, "Positive")]
    assert concept.strings == [("value-string", "positive", "Positive")]
    assert concept.dates == [("date", epoch(2020, 1, 1), OPEN_HIGH)]
    assert concept.quantities == []
    dated = extract(
        "Observation", params, {"valueDateTime": "2021-06", "effectiveInstant": "2021-06-01T00:00:00Z"}
    )
    assert sorted(dated.dates) == [
        ("date", epoch(2021, 6, 1), epoch(2021, 6, 1, 0, 0, 1)),
        ("value-date", epoch(2021, 6, 1), epoch(2021, 7, 1)),
    ]


def test_extension_parameters_index_the_extension_value() -> None:
    url = "http://hl7.org/fhir/StructureDefinition/patient-extensions-Patient-mothersMaidenName"
    got = extract(
        "Patient",
        {"mothersMaidenName": ("string", f"Patient.extension('{url}')")},
        {"extension": [{"url": url, "valueString": "Hamilton"}, {"url": "other", "valueString": "no"}]},
    )
    assert got.strings == [("mothersMaidenName", "hamilton", "Hamilton")]


# --- composites, sharing, skipping, fallback ------------------------------------------------------

BLOOD_PRESSURE = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
            "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        },
    ],
}

COMPONENT_CODE_VALUE_QUANTITY = {
    "type": "composite",
    "expression": "Observation.component",
    "components": [
        {"code": "component-code", "type": "token", "expression": "code"},
        {"code": "component-value-quantity", "type": "quantity", "expression": "value.as(Quantity)"},
    ],
}


def test_composites_pair_values_within_one_element() -> None:
    extractor = Extractor("Observation", {"component-code-value-quantity": COMPONENT_CODE_VALUE_QUANTITY})
    got = extractor.extract(BLOOD_PRESSURE)
    assert sorted(got.composites) == [
        (
            "component-code-value-quantity",
            ("http://loinc.org", "8462-4"),
            ("quantity", "http://unitsofmeasure.org", "mm[Hg]", 80.0),
        ),
        (
            "component-code-value-quantity",
            ("http://loinc.org", "8480-6"),
            ("quantity", "http://unitsofmeasure.org", "mm[Hg]", 120.0),
        ),
    ]


def test_composite_with_three_components_nests_the_rest() -> None:
    spec = {
        "type": "composite",
        "expression": "MolecularSequence.variant",
        "components": [
            {"code": "chromosome", "type": "token", "expression": "%resource.referenceSeq.chromosome"},
            {"code": "variant-start", "type": "number", "expression": "start"},
            {"code": "variant-end", "type": "number", "expression": "end"},
        ],
    }
    sequence = {
        "resourceType": "MolecularSequence",
        "referenceSeq": {
            "chromosome": {"coding": [{"system": "http://hl7.org/fhir/chromosome-human", "code": "1"}]}
        },
        "variant": [{"start": 10, "end": 12}, {"start": 20}],
    }
    got = Extractor("MolecularSequence", {"chromosome-variant-coordinate": spec}).extract(sequence)
    assert got.composites == [
        (
            "chromosome-variant-coordinate",
            ("http://hl7.org/fhir/chromosome-human", "1"),
            ("composite", ("number", 10.0), ("number", 12.0)),
        )
    ]


def test_parameters_sharing_an_expression_both_get_rows() -> None:
    got = extract(
        "Patient",
        {"name": ("string", "Patient.name"), "phonetic": ("string", "Patient.name")},
        {"name": [{"family": "Smith"}]},
    )
    assert sorted(got.strings) == [("name", "smith", "Smith"), ("phonetic", "smith", "Smith")]


def test_skipped_parameters_are_listed() -> None:
    registry = {
        "_id": {"type": "token", "expression": "Resource.id"},
        "_lastUpdated": {"type": "date", "expression": "Resource.meta.lastUpdated"},
        "_text": {"type": "string", "expression": None},
        "near": {"type": "special", "expression": "Location.position"},
        "name": {"type": "string", "expression": "Location.name"},
    }
    extractor = Extractor("Location", registry)
    assert sorted(extractor.skipped) == ["_id", "_lastUpdated", "_text", "near"]
    got = extractor.extract(
        {"resourceType": "Location", "id": "x", "meta": {"lastUpdated": "2020"}, "name": "Surgery"}
    )
    assert got.strings == [("name", "surgery", "Surgery")] and got.tokens == [] and got.dates == []


def test_fallback_parameters_are_reported_and_still_indexed() -> None:
    extractor = Extractor(
        "Patient", {"given-name": {"type": "string", "expression": "Patient.name.select(given)"}}
    )
    assert extractor.fallbacks == ["given-name"]
    got = extractor.extract({"resourceType": "Patient", "name": [{"given": ["Jane", "Anne"]}]})
    assert sorted(got.strings) == [("given-name", "anne", "Anne"), ("given-name", "jane", "Jane")]


def test_fallback_values_are_converted_by_their_shape() -> None:
    # fhirpathpy hands back untyped JSON: the converter recognises a Reference, a canonical, a date.
    registry = {
        "ref": {"type": "reference", "expression": "Observation.select(subject | focus)"},
        "canonical": {"type": "reference", "expression": "Observation.select(instantiatesCanonical)"},
        "when": {"type": "date", "expression": "Observation.select(issued)"},
    }
    extractor = Extractor("Observation", registry)
    assert sorted(extractor.fallbacks) == ["canonical", "ref", "when"]
    got = extractor.extract(
        {
            "resourceType": "Observation",
            "subject": {"reference": "Patient/1"},
            "focus": [{"reference": "Condition/2"}],
            "instantiatesCanonical": "http://x/Questionnaire/q",
            "issued": "2020-01-01T00:00:00Z",
        }
    )
    assert sorted(got.references) == [
        ("canonical", None, None, "http://x/Questionnaire/q"),
        ("ref", "Condition", "2", None),
        ("ref", "Patient", "1", None),
    ]
    assert got.dates == [("when", epoch(2020, 1, 1), epoch(2020, 1, 1, 0, 0, 1))]


def test_duplicate_rows_are_removed() -> None:
    coding = {"system": "http://snomed.info/sct", "code": "1"}
    got = extract(
        "Condition",
        {"code": ("token", "Condition.code | Condition.code")},
        {"code": {"coding": [coding, dict(coding)]}},
    )
    assert got.tokens == [("code", "http://snomed.info/sct", "1", None)]


# --- the R4 registry compiled into gpbridge.fhir.spec ------------------------------------------


@pytest.mark.parametrize("type_", GENERATED_TYPES)
def test_realistic_resources_extract_with_the_r4_registry(type_: str) -> None:
    extractor = extractor_for(type_)
    assert extractor is extractor_for(type_)  # built once per type
    assert extractor.fallbacks == []
    assert {"_id", "_lastUpdated"} <= set(extractor.skipped)
    indexed = set()
    for seed in range(100):
        got = extractor.extract(ResourceGenerator(seed).resource(type_))
        for rows in (
            got.tokens,
            got.strings,
            got.dates,
            got.numbers,
            got.quantities,
            got.references,
            got.uris,
            got.composites,
        ):
            indexed.update(row[0].split(":")[0] for row in rows)
    assert not indexed & SKIPPED_PARAMETERS
    # Most of the type's parameters should have been exercised by the generator.
    assert len(indexed) >= 0.5 * len(set(search_parameters_for(type_)) - set(extractor.skipped)), indexed


def test_blood_pressure_with_the_r4_registry() -> None:
    got = extractor_for("Observation").extract(BLOOD_PRESSURE)
    codes = {row[0] for row in got.composites}
    assert codes == {"combo-code-value-quantity", "component-code-value-quantity"}
    assert ("combo-code", "http://loinc.org", "8480-6", None) in got.tokens
    assert ("code", "http://loinc.org", "85354-9", None) in got.tokens


def test_patient_with_the_r4_registry() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
        "name": [{"family": "Smith", "given": ["Jane"]}],
        "gender": "female",
        "birthDate": "1980-02-29",
        "generalPractitioner": [{"reference": "Organization/Y12345"}],
    }
    got = extractor_for("Patient").extract(patient)
    assert ("identifier", "https://fhir.nhs.uk/Id/nhs-number", "9000000009", None) in got.tokens
    assert ("gender", None, "female", None) in got.tokens
    assert ("deceased", None, "false", None) in got.tokens
    assert ("birthdate", epoch(1980, 2, 29), epoch(1980, 3, 1)) in got.dates
    assert {("family", "smith", "Smith"), ("given", "jane", "Jane"), ("name", "smith", "Smith")} <= set(
        got.strings
    )
    assert ("general-practitioner", "Organization", "Y12345", None) in got.references


# --- never raises ---------------------------------------------------------------------------------

_KEYS = [
    "code",
    "coding",
    "system",
    "display",
    "text",
    "value",
    "valueQuantity",
    "valueString",
    "valueCodeableConcept",
    "valueDateTime",
    "valuePeriod",
    "valueBoolean",
    "subject",
    "reference",
    "identifier",
    "type",
    "name",
    "given",
    "family",
    "address",
    "line",
    "city",
    "telecom",
    "start",
    "end",
    "effectiveDateTime",
    "effectivePeriod",
    "component",
    "meta",
    "tag",
    "profile",
    "extension",
    "url",
    "period",
    "unit",
    "birthDate",
    "gender",
    "deceasedBoolean",
    "deceasedDateTime",
    "onsetAge",
    "onsetDateTime",
    "low",
    "high",
    "event",
    "repeat",
    "boundsPeriod",
    "participant",
    "individual",
    "medicationCodeableConcept",
    "medicationReference",
    "patient",
    "vaccineCode",
    "occurrenceDateTime",
    "performer",
    "actor",
    "result",
    "category",
    "status",
    "active",
]

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "2020",
            "2020-02-29",
            "2020-01-01T10:00:00+01:00",
            "Patient/1",
            "#x",
            "urn:uuid:1",
            "http://x/Patient/1",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    type_=st.sampled_from(GENERATED_TYPES), body=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=10)
)
def test_extraction_never_raises_on_arbitrary_json(type_: str, body: dict[str, Any]) -> None:
    got = extractor_for(type_).extract({**body, "resourceType": type_})
    for row in got.dates:
        assert row[1] <= row[2]
    for _, normalised, exact in got.strings:
        assert isinstance(normalised, str) and isinstance(exact, str)


@pytest.mark.parametrize(
    "resource", [None, "Patient", [], 3, {"resourceType": "Patient", "name": "x", "telecom": {"value": 1}}]
)
def test_extraction_of_non_resources_is_empty(resource: Any) -> None:
    got = Extractor(
        "Patient",
        {
            "name": {"type": "string", "expression": "Patient.name"},
            "telecom": {"type": "token", "expression": "Patient.telecom"},
        },
    ).extract(resource)
    assert got.strings == [] and got.tokens == []
