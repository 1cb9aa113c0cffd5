"""No silent drops: every clinical statement of every UAT extract lands in a translated resource,
and every piece of free text in the extract survives somewhere in the Bundle."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from gp2gp_samples import uat_extract
from lxml import etree

from gpbridge.adapters.gp2gp import translate_gp2gp

V3 = "{urn:hl7-org:v3}"
STATEMENTS = ("ObservationStatement", "NarrativeStatement", "CompoundStatement", "LinkSet", "MedicationStatement",
              "PlanStatement", "RequestStatement", "ehrSupplyAuthorise", "ehrSupplyPrescribe",
              "ehrSupplyDiscontinue", "ehrComposition")
# report fields the translation lifts out of their "Label: value" comment into the FHIR element
LIFTED_PREFIXES = ("Interpretation: ", "Lab Diagnosis: ")
PROBLEM_STAND_IN = "55607006"


def test_every_statement_is_accounted_for(gp2gp_pairs: list[tuple[Path, Path]]) -> None:
    checked = 0
    for xml_path, _ in gp2gp_pairs:
        raw = uat_extract(xml_path)
        translation = translate_gp2gp(raw)
        urls = {e["fullUrl"] for e in translation.builder.entries}
        root = etree.fromstring(raw)
        ids = [e.find(f"{V3}id").get("root") for name in STATEMENTS for e in root.iter(f"{V3}{name}")]
        assert ids, xml_path
        unaccounted = [i for i in ids if translation.accounted.get(i) not in urls]
        assert unaccounted == [], f"{xml_path.name}: {len(unaccounted)} statements dropped"
        checked += len(ids)
    assert checked > 7_000  # sanity: the UAT set holds about 7,100 statements


def test_every_text_survives(gp2gp_pairs: list[tuple[Path, Path]]) -> None:
    for xml_path, _ in gp2gp_pairs:
        raw = uat_extract(xml_path)
        blob = orjson.dumps(translate_gp2gp(raw).builder.bundle()).decode()
        for element in etree.fromstring(raw).iter(f"{V3}text"):
            text = "".join(element.itertext()).strip()
            if text.startswith("CommentType:"):
                text = text.partition("\n\n")[2].strip()
            for prefix in LIFTED_PREFIXES:
                text = text.removeprefix(prefix)
            if text:
                assert orjson.dumps(text).decode()[1:-1] in blob, f"{xml_path.name}: lost {text[:60]!r}"


def test_a_statement_folded_into_another_resource_is_that_resource(gp2gp_pairs: list[tuple[Path, Path]]) -> None:
    """Accounting a statement to a resource built from another (a test group's own result, an
    allergy's observation) is only right when it records the same thing: same code and term.
    Otherwise a result has been swallowed. "Problem" (55607006) stand-ins fold into their
    Condition by design."""
    folded = 0
    for xml_path, _ in gp2gp_pairs:
        raw = uat_extract(xml_path)
        translation = translate_gp2gp(raw)
        resources = {e["fullUrl"]: e["resource"] for e in translation.builder.bundle()["entry"]}
        for statement in etree.fromstring(raw).iter(f"{V3}ObservationStatement"):
            sid = statement.find(f"{V3}id").get("root")
            resource = resources[translation.accounted[sid]]
            if any(i["value"].endswith(f"/{sid}") for i in resource.get("identifier") or ()):
                continue
            code = statement.find(f"{V3}code")
            if code.get("code") == PROBLEM_STAND_IN and resource["resourceType"] == "Condition":
                continue
            blob = orjson.dumps(resource).decode()
            term = "".join(code.find(f"{V3}originalText").itertext()) if code.find(f"{V3}originalText") is not None else ""
            assert f'"{code.get("code")}"' in blob and orjson.dumps(term).decode()[1:-1] in blob, (
                f"{xml_path.name}: {sid} ({term or code.get('displayName')}) folded into a "
                f"{resource['resourceType']} coded {resource.get('code', {}).get('text')!r}")
            folded += 1
    assert folded > 300  # sanity: groups' own results and allergies' observations


@pytest.mark.parametrize("kind", ["ObservationStatement", "LinkSet", "MedicationStatement"])
def test_accounting_is_not_vacuous(gp2gp_pairs: list[tuple[Path, Path]], kind: str) -> None:
    """A statement the translator never saw must show up as unaccounted."""
    xml_path = next(p for p, _ in gp2gp_pairs if "Magre" in p.name)
    raw = uat_extract(xml_path)
    translation = translate_gp2gp(raw)
    root = etree.fromstring(raw)
    sid = next(root.iter(f"{V3}{kind}")).find(f"{V3}id").get("root")
    assert sid in translation.accounted
    assert "00000000-dead-beef-0000-000000000000" not in translation.accounted
