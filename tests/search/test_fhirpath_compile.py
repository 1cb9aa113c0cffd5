"""The FHIRPath compiler: coverage of the R4 SearchParameter expressions, the semantics of each
construct they use, and equivalence with fhirpathpy on many realistic resources."""

from __future__ import annotations

import copy
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import orjson
import pytest
from fhirpathpy import evaluate as fhirpathpy_evaluate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpbridge.fhir.fhirpath_parse import FhirPathSyntaxError, parse, unparse
from gpbridge.fhir.spec import search_parameters_for
from gpbridge.search.fhirpath_compile import compile_expression
from gpbridge.search.fhirpath_fallback import fhirpathpy_options
from gpbridge.search.fhirpath_model import fhir_model, resource_types

from . import (
    GENERATED_TYPES,
    NO_DATA_REASON,
    ResourceGenerator,
    have_search_parameters,
    raw_search_parameters,
    real_world_resources,
)

needs_data = pytest.mark.skipif(not have_search_parameters(), reason=NO_DATA_REASON)


def values(expression: str, resource: dict[str, Any], context_type: str | None = None) -> list[Any]:
    return compile_expression(expression, context_type or resource["resourceType"]).evaluate(resource)


# --- parser ---------------------------------------------------------------------------------------


def test_parser_precedence_matches_the_specification() -> None:
    # ``as`` binds tighter than ``|``, which binds tighter than ``=`` and ``and``.
    assert unparse(parse("Observation.value as Quantity | Observation.code")) == (
        "((Observation.value as Quantity) | Observation.code)"
    )
    assert unparse(parse("a.exists() and b != false")) == "(a.exists() and (b != False))"
    assert unparse(parse("x.where(system='a\\'b').value")) == 'x.where((system = "a\'b")).value'


def test_parser_reads_indexers_variables_and_quoted_names() -> None:
    assert unparse(parse("Bundle.entry[0].resource")) == "Bundle.entry[0].resource"
    assert unparse(parse("%resource.referenceSeq.chromosome")) == "%resource.referenceSeq.chromosome"
    assert unparse(parse("Patient.`name`.given")) == "Patient.name.given"


@pytest.mark.parametrize("text", ["Patient.name.(", "Patient..name", "@2020-01-01", "Patient.name)"])
def test_parser_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(FhirPathSyntaxError):
        parse(text)


# --- semantics of each construct ----------------------------------------------------------------

OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}], "text": "BP"},
    "subject": {"reference": "Patient/1"},
    "valueQuantity": {"value": 5.5, "unit": "mg"},
    "component": [
        {"code": {"text": "a"}, "valueString": "hello"},
        {"code": {"text": "b"}, "valueQuantity": {"value": 1}},
    ],
    "extension": [{"url": "http://e/1", "valueString": "x"}, {"url": "http://e/2", "valueBoolean": True}],
    "meta": {"tag": [{"code": "t"}]},
}


def test_choice_elements_are_found_under_their_typed_keys() -> None:
    assert values("Observation.value", OBSERVATION) == [{"value": 5.5, "unit": "mg"}]
    assert multiset(values("Observation.component.value", OBSERVATION)) == multiset([{"value": 1}, "hello"])


def test_as_narrows_a_choice_at_compile_time() -> None:
    compiled = compile_expression("(Observation.value as Quantity)", "Observation")
    assert [b.key for b in compiled.branches] == ["valueQuantity"]
    assert values("Observation.value.as(CodeableConcept)", OBSERVATION) == []
    assert values("Observation.component.value.ofType(string)", OBSERVATION) == ["hello"]
    # Search parameters write value.as(DateTime) meaning the FHIR dateTime.
    assert values(
        "Observation.value.as(DateTime)", {"resourceType": "Observation", "valueDateTime": "2020"}
    ) == ["2020"]
    # Age is a Quantity.
    assert values(
        "Condition.onset.as(Quantity)", {"resourceType": "Condition", "onsetAge": {"value": 4}}
    ) == [{"value": 4}]


def test_is_tests_the_static_type() -> None:
    assert values("Observation.value is Quantity", OBSERVATION) == [True]
    assert values("Observation.value is string", OBSERVATION) == [False]
    assert values("Observation.component.value is string", OBSERVATION) == []  # not a singleton


@pytest.mark.parametrize(
    ("reference", "matches"),
    [
        ({"reference": "Patient/1"}, True),
        ({"reference": "https://server.example/fhir/Patient/1"}, True),
        ({"reference": "Patient/1/_history/3"}, True),
        ({"reference": "urn:uuid:9d5f8a6e-0d3e-4d4b-8f5b-3c6b2f1e7a11", "type": "Patient"}, True),
        ({"identifier": {"value": "x"}, "type": "http://hl7.org/fhir/StructureDefinition/Patient"}, True),
        ({"reference": "Group/1"}, False),
        ({"reference": "Group/1", "type": "Patient"}, False),  # the reference itself wins
        ({"reference": "#contained"}, False),
        ({"display": "no reference"}, False),
        ("Patient/1", False),  # malformed: a string where a Reference belongs
    ],
)
def test_where_resolve_is_reads_the_reference_type(reference: Any, matches: bool) -> None:
    resource = {"resourceType": "Observation", "subject": reference}
    assert values("Observation.subject.where(resolve() is Patient)", resource) == (
        [reference] if matches else []
    )


def test_where_with_equality_and_conjunction() -> None:
    patient = {
        "resourceType": "Patient",
        "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}, "junk"],
    }
    assert values("Patient.telecom.where(system='email')", patient) == [{"system": "email", "value": "a@b"}]
    assert values("Patient.telecom.where(system='phone' and value='1').value", patient) == ["1"]
    assert values("Patient.telecom.where(system='phone' and value='2')", patient) == []


def test_extension_functions() -> None:
    assert values("Observation.extension('http://e/2')", OBSERVATION) == [
        {"url": "http://e/2", "valueBoolean": True}
    ]
    assert values("Observation.extension.where(url='http://e/1').value", OBSERVATION) == ["x"]
    assert values("Observation.hasExtension('http://e/1')", OBSERVATION) == [True]
    assert values("Observation.hasExtension('http://e/3')", OBSERVATION) == [False]


def test_exists_and_three_valued_logic() -> None:
    expression = "Patient.deceased.exists() and Patient.deceased != false"
    assert values(expression, {"resourceType": "Patient"}) == [False]
    assert values(expression, {"resourceType": "Patient", "deceasedBoolean": False}) == [False]
    assert values(expression, {"resourceType": "Patient", "deceasedBoolean": True}) == [True]
    assert values(expression, {"resourceType": "Patient", "deceasedDateTime": "2020"}) == [True]
    assert (
        values("Patient.active and Patient.gender.exists()", {"resourceType": "Patient", "gender": "x"}) == []
    )


def test_union_removes_duplicates() -> None:
    assert values("Observation.status | Observation.status", OBSERVATION) == ["final"]


def test_root_type_names_and_resource() -> None:
    assert values("Resource.meta.tag", OBSERVATION) == [{"code": "t"}]
    assert values("DomainResource.meta.tag.code", OBSERVATION) == ["t"]
    assert values("Patient.name | Observation.status", OBSERVATION) == ["final"]  # other roots: nothing


def test_indexer_and_percent_resource() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": {"resourceType": "Composition", "id": "c"}}, {"resource": {}}],
    }
    assert values("Bundle.entry[0].resource", bundle) == [{"resourceType": "Composition", "id": "c"}]
    assert values("Bundle.entry.resource.ofType(Composition).id", bundle) == ["c"]
    assert values("Bundle.entry.resource as Patient", bundle) == []
    sequence = {
        "resourceType": "MolecularSequence",
        "referenceSeq": {"chromosome": {"text": "1"}},
        "variant": [{"start": 3}],
    }
    component = compile_expression(
        "%resource.referenceSeq.chromosome", "MolecularSequence.variant", "MolecularSequence"
    )
    assert component.native
    assert component.evaluate(sequence["variant"][0], root=sequence) == [{"text": "1"}]


def test_navigation_skips_malformed_shapes() -> None:
    resource = {
        "resourceType": "Observation",
        "code": "not a concept",
        "component": ["x", 3, None, {"code": {"coding": "nope"}}, [{"code": {}}]],
        "subject": [{"reference": 7}],
    }
    assert values("Observation.code.coding", resource) == []
    assert values("Observation.component.code.coding", resource) == ["nope"]
    assert values("Observation.subject.where(resolve() is Patient)", resource) == []


def test_unsupported_expressions_fall_back_to_fhirpathpy() -> None:
    compiled = compile_expression("Patient.name.select(given)", "Patient")
    assert not compiled.native and "select" in (compiled.reason or "")
    assert compiled.evaluate({"resourceType": "Patient", "name": [{"given": ["a", "b"]}]}) == ["a", "b"]
    unreadable = compile_expression("$$$", "Patient")  # not even fhirpathpy reads it: index nothing
    assert not unreadable.native and unreadable.branches == []
    assert unreadable.evaluate({"resourceType": "Patient", "name": [{"given": ["a"]}]}) == []


# --- coverage of the R4 SearchParameters ------------------------------------------------------------


@needs_data
def test_native_compile_ratio_over_all_r4_search_parameters() -> None:
    total, fallbacks = 0, []
    for sp in raw_search_parameters():
        expression = sp.get("expression")
        if not expression:
            continue
        total += 1
        reasons = []
        for base in sp["base"]:
            compiled = compile_expression(expression, base)
            if not compiled.native:
                reasons.append(f"{base}: {compiled.reason}")
            for branch in compiled.branches:
                for component in sp.get("component", []):
                    part = compile_expression(component["expression"], branch.type or base, base)
                    if not part.native:
                        reasons.append(f"{base} component {component['expression']}: {part.reason}")
        if reasons:
            fallbacks.append(f"{sp['id']} ({expression}): {'; '.join(reasons)}")
    ratio = (total - len(fallbacks)) / total
    print(
        f"natively compiled: {total - len(fallbacks)}/{total} = {ratio:.1%}; fallbacks: {fallbacks or 'none'}"
    )
    assert total > 1300
    assert ratio >= 0.95, fallbacks


@needs_data
def test_every_expression_applies_to_its_bases() -> None:
    # A root type that never matches would silently index nothing; the only R4 parameter whose
    # expression does not mention its base is the example-extension one (base Patient, path on
    # DocumentReference).
    empty = [
        (sp["id"], base)
        for sp in raw_search_parameters()
        if sp.get("expression")
        for base in sp["base"]
        if not compile_expression(sp["expression"], base).branches
    ]
    assert empty == [("example-extension", "Patient")]


# --- equivalence with fhirpathpy ---------------------------------------------------------------------


def _as_filter(expression: str) -> str:
    """fhirpathpy enforces FHIRPath's singleton rule for ``as``; SearchParameters use ``as`` as a
    filter over many values, which is ``ofType``."""
    expression = re.sub(r"\s+as\s+([A-Za-z.]+)", r".ofType(\1)", expression)
    return expression.replace(".as(", ".ofType(")


def oracle(resource: dict[str, Any], expression: str, base: str | None = None, root: Any = None) -> list[Any]:
    # fhirpathpy takes DateTime as System.DateTime, which a FHIR dateTime is not; search parameters
    # mean the FHIR type (see fhirpath_model.type_specifier), so ask fhirpathpy for that.
    expression = expression.replace("as(DateTime)", "as(dateTime)")
    # fhirpathpy only recognises the exact resource type as a path root, not its supertypes; the
    # FHIRPath spec (and every server) reads ``Resource.meta`` on a Patient as its meta.
    if base is None:
        expression = re.sub(r"\b(?:Resource|DomainResource)\.", f"{resource['resourceType']}.", expression)
    path: Any = expression if base is None else {"expression": expression, "base": base}
    variables = {"resource": root or resource, "rootResource": root or resource}
    try:
        return fhirpathpy_evaluate(
            copy.deepcopy(resource), path, variables, fhir_model(), fhirpathpy_options()
        )
    except ValueError as exc:
        if "singleton" not in str(exc):
            raise
    path = _as_filter(expression) if base is None else {"expression": _as_filter(expression), "base": base}
    return fhirpathpy_evaluate(copy.deepcopy(resource), path, variables, fhir_model(), fhirpathpy_options())


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return str(value)


def multiset(items: list[Any]) -> Counter[bytes]:
    return Counter(orjson.dumps(_canonical(v), option=orjson.OPT_SORT_KEYS) for v in items if v is not None)


def _compare(got: list[Any], evaluate_oracle: Any, label: str, out: list[str]) -> None:
    try:
        want = oracle_values = evaluate_oracle()
    except (KeyError, TypeError, AttributeError):
        # fhirpathpy itself crashes on some malformed shapes (an extension without url); there is
        # nothing to compare against, and test_extract checks the native side never raises.
        return
    if multiset(got) != multiset(want):
        out.append(f"{label}: native {dict(multiset(got))} fhirpathpy {dict(multiset(oracle_values))}")


def _differences(resource: dict[str, Any]) -> list[str]:
    """Every expression of the resource's type (and every composite component, per base element)
    evaluated natively and by fhirpathpy; the descriptions of those that disagree."""
    type_ = resource["resourceType"]
    out: list[str] = []
    for code, spec in search_parameters_for(type_).items():
        expression = spec["expression"]
        if not expression or spec["type"] == "special":
            continue
        compiled = compile_expression(expression, type_)
        _compare(
            compiled.evaluate(resource),
            lambda e=expression: oracle(resource, e),
            f"{type_}.{code} {expression!r}",
            out,
        )
        for branch in compiled.branches:
            for element in branch.evaluate([resource]):
                for component in spec["components"]:
                    part = compile_expression(component["expression"], branch.type or type_, type_)
                    _compare(
                        part.evaluate(element, root=resource),
                        lambda e=element, c=component, b=branch: oracle(
                            e, c["expression"], base=b.type, root=resource
                        ),
                        f"{type_}.{code}/{component['code']} on {branch.type}",
                        out,
                    )
    return out


@pytest.mark.parametrize("type_", GENERATED_TYPES)
def test_compiled_expressions_agree_with_fhirpathpy_on_generated_resources(type_: str) -> None:
    differences = []
    for seed in range(40):
        differences += _differences(ResourceGenerator(seed).resource(type_))
    assert not differences, "\n".join(differences[:20])


def _mutate(value: Any, rng: Any, depth: int = 0) -> Any:
    """Variants a generator would not write: elements dropped, singletons given as lists, and
    malformed shapes (a string, a number or a list where an object belongs)."""
    if isinstance(value, list):
        return [_mutate(v, rng, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        roll = rng.random()
        if key == "resourceType" or roll >= 0.4:
            out[key] = _mutate(item, rng, depth + 1)
        elif roll < 0.1:
            continue
        elif roll < 0.2 and isinstance(item, dict):
            out[key] = [_mutate(item, rng, depth + 1)]
        elif roll < 0.3:
            out[key] = rng.choice(["junk", 7, True, [["nested"]], {}])
        else:
            out[key] = _mutate(item, rng, depth + 1)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False), type_=st.sampled_from(GENERATED_TYPES))
def test_compiled_expressions_agree_with_fhirpathpy_on_hypothesis_variants(rng: Any, type_: str) -> None:
    resource = _mutate(ResourceGenerator(rng).resource(type_), rng)
    differences = _differences(resource)
    assert not differences, "\n".join(differences[:20])


def test_compiled_expressions_agree_with_fhirpathpy_on_shared_examples() -> None:
    # GP Connect is STU3: its ProcedureRequest, ReferralRequest... are not R4 types and have no R4
    # parameters; the rest are R4-shaped enough to be evaluated by both.
    resources = [r for r in real_world_resources() if r["resourceType"] in resource_types()]
    if not resources:
        pytest.skip("no PDS / GP Connect examples under ../shared/data")
    differences = []
    for resource in resources:
        differences += _differences(resource)
    assert not differences, "\n".join(differences[:20])
