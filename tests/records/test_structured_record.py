"""``structured_record``: the GP Connect structured record Bundle from the demo patient's record."""

from __future__ import annotations

from typing import Any

import pytest
from records_helpers import ALL_SECTIONS, DEMO_NHS, gpc_body, lists_by_code, part, resources

from gpbridge.fhir.outcome import FhirError
from gpbridge.records.access import TRUSTED
from gpbridge.records.gpc_codes import SPINE_ERROR_SYSTEM
from gpbridge.records.structured import structured_record
from gpbridge.store.base import Store

ALLERGIES, ENDED, MEDS, PROBLEMS = "886921000000105", "1103671000000101", "933361000000108", "717711000000103"
CONSULTATIONS, IMMUNISATIONS, MISC, INVESTIGATIONS = "1149501000000101", "1102181000000102", "826501000000100", "887191000000108"
REFERRALS, DIARY = "886721000000107", "714311000000108"


def _record(store: Store, *parameters: dict[str, Any], nhs: str = DEMO_NHS) -> dict[str, Any]:
    return structured_record(store, gpc_body(nhs, *parameters), base_url="https://gpbridge.test/fhir", access=TRUSTED)


def _spine(call: Any) -> tuple[int, str]:
    with pytest.raises(FhirError) as caught:
        call()
    details = caught.value.issues[0].details or {}
    coding = details["coding"][0]
    assert coding["system"] == SPINE_ERROR_SYSTEM
    return caught.value.status, coding["code"]


def test_all_sections_give_one_list_each_and_the_care_providers(demo_store: Store) -> None:
    bundle = _record(demo_store, *ALL_SECTIONS)
    assert bundle["type"] == "collection"
    lists = lists_by_code(bundle)
    assert set(lists) == {ALLERGIES, ENDED, MEDS, PROBLEMS, CONSULTATIONS, IMMUNISATIONS, MISC,
                          INVESTIGATIONS, REFERRALS, DIARY}
    patient = resources(bundle, "Patient")[0]
    assert patient["identifier"][0]["value"] == DEMO_NHS
    assert [o["id"] for o in resources(bundle, "Organization")] == ["practice-a"]
    assert resources(bundle, "Practitioner") and resources(bundle, "PractitionerRole")
    allergy = resources(bundle, "AllergyIntolerance")[0]
    assert allergy["code"]["coding"][0]["code"] == "91936005"  # penicillin
    assert lists[ALLERGIES]["entry"] == [{"item": {"reference": f"AllergyIntolerance/{allergy['id']}"}}]
    problem_codes = {c["code"]["coding"][0]["code"] for c in resources(bundle, "Condition")}
    assert {"38341003", "44054006"} <= problem_codes  # hypertension, type 2 diabetes
    for entry in bundle["entry"]:  # every List item is in the Bundle, every entry claims UK Core
        resource = entry["resource"]
        assert entry["fullUrl"].endswith(f"/{resource['resourceType']}/{resource['id']}")
        if resource["resourceType"] != "OperationOutcome":
            assert resource["meta"]["profile"][0].startswith("https://fhir.hl7.org.uk/StructureDefinition/UKCore-")
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for listed in lists.values():
        for item in listed.get("entry", ()):
            assert item["item"]["reference"] in present


def test_an_empty_section_says_so(demo_store: Store) -> None:
    lists = lists_by_code(_record(demo_store, {"name": "includeReferrals"}))
    assert lists[REFERRALS]["emptyReason"]["coding"][0]["code"] == "no-content-recorded"
    assert "entry" not in lists[REFERRALS]


def test_only_requested_sections_come_back(demo_store: Store) -> None:
    bundle = _record(demo_store, {"name": "includeImmunisations"})
    assert set(lists_by_code(bundle)) == {IMMUNISATIONS}
    assert not resources(bundle, "AllergyIntolerance") and not resources(bundle, "Condition")


def test_resolved_allergies_only_on_request(demo_store: Store) -> None:
    bundle = _record(demo_store, {"name": "includeAllergies", "part": [part("includeResolvedAllergies", valueBoolean=False)]})
    assert set(lists_by_code(bundle)) == {ALLERGIES}


def test_most_recent_consultations_are_the_newest(demo_store: Store) -> None:
    everything = resources(_record(demo_store, {"name": "includeConsultations"}), "Encounter")
    newest = resources(_record(demo_store, {"name": "includeConsultations", "part": [
        part("includeNumberOfMostRecent", valuePositiveInt=2)]}), "Encounter")
    starts = sorted((e["period"]["start"] for e in everything), reverse=True)
    assert [e["period"]["start"] for e in newest] == starts[:2]


def test_search_period_filters_investigations(demo_store: Store) -> None:
    # GP Connect filters investigations by DiagnosticReport.issued
    everything = resources(_record(demo_store, {"name": "includeInvestigations"}), "DiagnosticReport")
    dates = sorted(r["issued"][:10] for r in everything)
    window = {"start": dates[-1], "end": dates[-1]}
    recent = resources(_record(demo_store, {"name": "includeInvestigations", "part": [
        part("investigationSearchPeriod", valuePeriod=window)]}), "DiagnosticReport")
    assert recent and all(r["issued"][:10] == dates[-1] for r in recent)
    assert len(recent) < len(everything)


def test_problem_status_filter(demo_store: Store) -> None:
    active = resources(_record(demo_store, {"name": "includeProblems", "part": [
        part("filterStatus", valueCode="active")]}), "Condition")
    assert active and all(c["clinicalStatus"]["coding"][0]["code"] == "active" for c in active)


def test_unknown_parameters_are_accepted_with_a_warning(demo_store: Store) -> None:
    bundle = _record(demo_store, {"name": "includeImmunisations", "part": [part("includeSomething", valueBoolean=True)]},
                     {"name": "includeEverything"})
    outcome = resources(bundle, "OperationOutcome")[0]
    assert [i["severity"] for i in outcome["issue"]] == ["warning", "warning"]
    assert {i["diagnostics"] for i in outcome["issue"]} == {"includeImmunisations.includeSomething", "includeEverything"}
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "NOT_IMPLEMENTED"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"resourceType": "Patient"}, 422, "INVALID_RESOURCE"),
        ({"resourceType": "Parameters", "parameter": [{"name": "includeAllergies"}]}, 422, "INVALID_PARAMETER"),
        (gpc_body("9990000019", {"name": "includeMedication"}), 400, "INVALID_NHS_NUMBER"),
        (gpc_body("12345", {"name": "includeMedication"}), 400, "INVALID_NHS_NUMBER"),
        (gpc_body(DEMO_NHS), 422, "INVALID_PARAMETER"),  # no section at all
        (gpc_body(DEMO_NHS, {"name": "includeAllergies"}), 422, "INVALID_PARAMETER"),  # part missing
        (gpc_body(DEMO_NHS, {"name": "includeMedication"}, {"name": "includeMedication"}), 422, "INVALID_PARAMETER"),
        (gpc_body(DEMO_NHS, {"name": "includeAllergies", "part": [
            part("includeResolvedAllergies", valueString="yes")]}), 422, "INVALID_PARAMETER"),
        (gpc_body(DEMO_NHS, {"name": "includeConsultations", "part": [  # the specification's error table
            part("includeNumberOfMostRecent", valuePositiveInt=3),
            part("consultationSearchPeriod", valuePeriod={"start": "2020-01-01"})]}), 422, "INVALID_RESOURCE"),
        (gpc_body(DEMO_NHS, {"name": "includeMedication", "part": [
            part("medicationSearchFromDate", valueDate="2999-01-01")]}), 422, "INVALID_PARAMETER"),
        (gpc_body(DEMO_NHS, {"name": "includeInvestigations", "part": [
            part("investigationSearchPeriod", valuePeriod={"start": "2020-02-01", "end": "2020-01-01"})]}),
         422, "INVALID_PARAMETER"),
        (gpc_body(DEMO_NHS, {"name": "includeInvestigations", "part": [
            part("investigationSearchPeriod", valuePeriod={"start": "2020-13-45"})]}), 422, "INVALID_PARAMETER"),
        (gpc_body(DEMO_NHS, {"name": "includeProblems", "part": [
            part("filterStatus", valueCode="ACTIVE")]}), 422, "INVALID_PARAMETER"),
        (gpc_body("9990000026", {"name": "includeMedication"}), 404, "PATIENT_NOT_FOUND"),
    ],
)
def test_parameter_rules_and_errors(demo_store: Store, body: dict[str, Any], status: int, code: str) -> None:
    assert _spine(lambda: structured_record(demo_store, body, access=TRUSTED)) == (status, code)


def test_wrong_identifier_system_is_refused(demo_store: Store) -> None:
    body = gpc_body(DEMO_NHS, {"name": "includeMedication"})
    body["parameter"][0]["valueIdentifier"]["system"] = "https://example.org/not-nhs"
    assert _spine(lambda: structured_record(demo_store, body, access=TRUSTED)) == (422, "INVALID_IDENTIFIER_SYSTEM")


def test_every_entry_passes_the_validator_against_its_uk_core_profile(demo_store: Store) -> None:
    from gpbridge.fhir.validate import validate

    bundle = _record(demo_store, *ALL_SECTIONS, {"name": "includeUnknown"})
    problems = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        profiles = (resource.get("meta") or {}).get("profile", [])[:1]
        for issue in validate(resource, profiles=profiles):
            if issue.severity in ("error", "fatal"):
                problems.append(f"{resource['resourceType']}/{resource.get('id')}: {issue.diagnostics}")
    assert problems == []
