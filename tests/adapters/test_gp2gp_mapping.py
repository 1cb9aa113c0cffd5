"""Focused GP2GP mapping behaviour on small hand-written extracts."""

from __future__ import annotations

from typing import Any

from gp2gp_samples import extract, medication, narrative, observation

from gpbridge.adapters.common.codes import DictCodeMapper
from gpbridge.adapters.common.flags import flags_of
from gpbridge.adapters.gp2gp import gp2gp_to_bundle, translate_gp2gp

SNOMED = "http://snomed.info/sct"
READ = "2.16.840.1.113883.2.1.6.2"


def resources(bundle: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == type_]


def test_read_code_is_mapped_and_kept(code_mapper: DictCodeMapper) -> None:
    bundle = gp2gp_to_bundle(extract(observation("A1", "H33..00", READ, "Asthma")), mapper=code_mapper)
    (obs,) = resources(bundle, "Observation")
    codings = obs["code"]["coding"]
    assert codings[0] == {"system": SNOMED, "code": "195967001", "display": "Asthma"}
    assert {"system": "http://read.info/readv2", "code": "H33..00", "display": "Asthma"} in codings
    assert flags_of(obs) == set()


def test_unmapped_code_is_kept_and_flagged() -> None:
    translation = translate_gp2gp(extract(observation("A1", "XYZ..00", READ, "Local thing")))
    (obs,) = resources(translation.builder.bundle(), "Observation")
    assert obs["code"]["coding"] == [{"system": "http://read.info/readv2", "code": "XYZ..00", "display": "Local thing"}]
    assert "unmapped-code" in flags_of(obs)
    assert [(u.system, u.code) for u in translation.quality.unmapped] == [("http://read.info/readv2", "XYZ..00")]


def test_description_id_is_kept_and_resolved_when_the_mapper_knows_it(code_mapper: DictCodeMapper) -> None:
    unresolved = resources(gp2gp_to_bundle(extract(observation("A1", "30676010", display="Jaundice"))), "Observation")[0]
    coding = unresolved["code"]["coding"][0]
    assert "code" not in coding and coding["extension"][0]["extension"][0]["valueIdentifier"]["value"] == "30676010"
    assert "sct-description-only" in flags_of(unresolved)
    resolved = resources(gp2gp_to_bundle(extract(observation("A1", "30676010", display="Jaundice")),
                                         mapper=code_mapper), "Observation")[0]
    assert resolved["code"]["coding"][0]["code"] == "18165001"
    assert flags_of(resolved) == set()


def test_uncoded_statement_keeps_its_text_with_a_flag() -> None:
    statement = """<ObservationStatement classCode="OBS" moodCode="EVN"><id root="U1"/>
      <code nullFlavor="UNK"><originalText>Felt dizzy on stairs</originalText></code>
      <statusCode code="COMPLETE"/><availabilityTime value="20230615"/></ObservationStatement>"""
    (obs,) = resources(gp2gp_to_bundle(extract(statement)), "Observation")
    assert obs["code"] == {"text": "Felt dizzy on stairs"}
    assert "uncoded-text" in flags_of(obs)


def test_values_ranges_interpretation_and_local_time() -> None:
    extra = """<value xsi:type="PQ" value="5.4" unit="mmol/L"/>
      <interpretationCode code="HI" codeSystem="2.16.840.1.113883.2.1.6.5" displayName="Above high reference limit"/>
      <referenceRange typeCode="REFV"><referenceInterpretationRange classCode="OBS" moodCode="EVN.CRT">
        <value><low value="3.5" unit="mmol/L"/><high value="5.0" unit="mmol/L"/></value>
      </referenceInterpretationRange></referenceRange>"""
    (obs,) = resources(gp2gp_to_bundle(extract(observation("V1", "1005671000000105", when="20230615093000",
                                                            extra=extra))), "Observation")
    assert obs["valueQuantity"] == {"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org",
                                    "code": "mmol/L"}
    assert obs["referenceRange"][0]["low"]["value"] == 3.5 and obs["referenceRange"][0]["high"]["value"] == 5.0
    assert obs["interpretation"][0]["coding"][0]["code"] == "H"
    assert obs["effectiveDateTime"] == "2023-06-15T09:30:00+01:00"  # BST: UK local time carries its offset


def test_confidentiality_becomes_meta_security() -> None:
    nopat = '<confidentialityCode code="NOPAT" codeSystem="2.16.840.1.113883.4.642.3.47" displayName="no disclosure to patient"/>'
    statement = observation("C1", "195967001", extra=nopat)
    (obs,) = resources(gp2gp_to_bundle(extract(statement)), "Observation")
    assert obs["meta"]["security"][0]["code"] == "NOPAT"
    (inherited,) = resources(gp2gp_to_bundle(extract(observation("C2", "195967001"),
                                                     composition_confidentiality=nopat)), "Observation")
    assert inherited["meta"]["security"][0]["code"] == "NOPAT"


def test_medication_authorisation_and_issue() -> None:
    bundle = gp2gp_to_bundle(extract(medication("M1", "AUTH-1", "ISSUE-1")))
    requests = {r["intent"]: r for r in resources(bundle, "MedicationRequest")}
    (statement,) = resources(bundle, "MedicationStatement")
    (drug,) = resources(bundle, "Medication")
    plan_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is requests["plan"])
    assert requests["order"]["basedOn"] == [{"reference": plan_url}]
    assert statement["basedOn"] == [{"reference": plan_url}]
    assert drug["code"]["coding"][0]["code"] == "322236009"
    assert requests["plan"]["dispenseRequest"]["numberOfRepeatsAllowed"] == 6
    assert requests["plan"]["dispenseRequest"]["expectedSupplyDuration"]["value"] == 28
    assert requests["order"]["dosageInstruction"] == [{"text": "Two tablets four times a day"}]


def test_problem_links_its_statements() -> None:
    linkset = """<LinkSet classCode="OBS" moodCode="EVN"><id root="P1"/>
      <code code="394774009" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="Active Problem">
        <qualifier inverted="false"><name code="386134007" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"/></qualifier></code>
      <statusCode code="COMPLETE"/><effectiveTime><low value="20200101"/></effectiveTime>
      <availabilityTime value="20200101"/>
      <component typeCode="COMP"><statementRef classCode="OBS" moodCode="EVN"><id root="N1"/></statementRef></component>
      <conditionNamed typeCode="NAME" inversionInd="true"><namedStatementRef classCode="OBS" moodCode="EVN">
        <id root="A1"/></namedStatementRef></conditionNamed></LinkSet>"""
    bundle = gp2gp_to_bundle(extract(linkset, observation("A1", "195967001", display="Asthma"),
                                     narrative("N1", "Uses inhaler daily")))
    (condition,) = resources(bundle, "Condition")
    urls = {e["resource"]["resourceType"] + ":" + (e["resource"].get("valueString") or e["resource"]["code"].get("text", "")):
            e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"}
    assert condition["code"]["coding"][0]["code"] == "195967001"
    extensions = {e["url"].rsplit("-", 1)[-1]: e for e in condition["extension"]}
    assert extensions["ActualProblem"]["valueReference"]["reference"] == urls["Observation:Asthma"]
    assert extensions["RelatedClinicalContent"]["valueReference"]["reference"] == urls["Observation:Uses inhaler daily"]
    assert extensions["ProblemSignificance"]["valueCode"] == "major"
    assert condition["onsetDateTime"] == "2020-01-01"


def test_consultation_becomes_encounter_and_list() -> None:
    bundle = gp2gp_to_bundle(extract(observation("A1", "195967001"), narrative("N1", "Seen today")))
    (encounter,) = resources(bundle, "Encounter")
    (listing,) = resources(bundle, "List")
    encounter_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is encounter)
    assert listing["encounter"] == {"reference": encounter_url}
    assert len(listing["entry"]) == 2
    assert encounter["period"]["start"] == "2023-06-15T09:30:00+01:00"
    (practitioner,) = resources(bundle, "Practitioner")
    assert practitioner["name"][0]["family"] == "Lovelace"


def test_an_undated_statement_is_issued_when_its_composition_was_recorded() -> None:
    undated = """<ObservationStatement classCode="OBS" moodCode="EVN"><id root="U1"/>
      <code code="76880004" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="Angelman syndrome"/>
      <statusCode code="COMPLETE"/><effectiveTime><center nullFlavor="UNK"/></effectiveTime>
      <availabilityTime nullFlavor="UNK"/></ObservationStatement>"""
    xml = extract(undated, observation("D1", "195967001", display="Asthma", when="20230601"))
    xml = xml.replace(b'<author typeCode="AUT"><time value="20230615"/>', b'<author typeCode="AUT"><time value="20231118094149"/>')
    obs = {o["code"]["coding"][0].get("display"): o
           for o in resources(gp2gp_to_bundle(xml), "Observation")}
    angelman, asthma = obs["Angelman syndrome"], obs["Asthma"]
    # the entry reached the record when the composition was committed; its clinical date stays unknown
    assert angelman["issued"] == "2023-11-18T09:41:49+00:00"
    assert "effectiveDateTime" not in angelman and "effectivePeriod" not in angelman
    assert asthma["effectiveDateTime"] == "2023-06-01" and "issued" not in asthma  # its own date wins
