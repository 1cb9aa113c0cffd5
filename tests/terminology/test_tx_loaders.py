"""Loaders: what each release format puts in the tables, re-loading, and clear errors."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from tx_fixtures import DMD, FHIR, MAPS, RF2

from gpbridge.fhir.outcome import FhirError
from gpbridge.terminology import systems as sx
from gpbridge.terminology.dmd import load_dmd
from gpbridge.terminology.fhirload import load_fhir_terminology, load_resources
from gpbridge.terminology.readmaps import load_ctv3_map, load_read_v2_map
from gpbridge.terminology.rf2 import load_snomed_rf2, strip_semantic_tag
from gpbridge.terminology.service import Terminology


def rows(store: Any, sql: str, *params: Any) -> list[tuple]:
    with store._read_cursor() as cur:
        cur.execute(store.dialect_obj.sql(sql), params)
        return [tuple(r) for r in cur.fetchall()]


# -- SNOMED CT RF2 ----------------------------------------------------------------------------------
def test_rf2_load_counts_and_version(tx_store: Any) -> None:
    report = load_snomed_rf2(tx_store, RF2)
    assert report.counts["concepts"] == 21
    assert report.counts["is-a relationships"] == 21  # active inferred is-a only
    # 21 self rows + every ancestor pair of the fixture hierarchy
    assert report.counts["closure rows"] == 81
    (version,) = rows(tx_store, "SELECT version FROM tx_system WHERE url = ?", sx.SNOMED)[0]
    assert version == "http://snomed.info/sct/900000000000207008/version/20240101"


def test_rf2_display_is_the_gb_preferred_synonym(tx_store: Any) -> None:
    load_snomed_rf2(tx_store, RF2)
    tx = Terminology(tx_store)
    # US English prefers "Renal disease"; GB English (ranked higher) prefers "Kidney disease".
    assert tx.concept(sx.SNOMED, "90708001").display == "Kidney disease"
    assert tx.concept(sx.SNOMED, "127013003").display == "Diabetic renal disease"


def test_rf2_without_language_refset_falls_back_to_fsn_without_tag(tx_store: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"
    shutil.copytree(RF2, release)
    shutil.rmtree(release / "Snapshot" / "Refset")
    report = load_snomed_rf2(tx_store, release)
    assert any("language reference set" in n for n in report.notes)
    assert Terminology(tx_store).concept(sx.SNOMED, "38341003").display == "Hypertensive disorder, systemic arterial"


def test_rf2_ignores_stated_and_inactive_relationships_and_inactive_descriptions(tx_store: Any) -> None:
    load_snomed_rf2(tx_store, RF2)
    tx = Terminology(tx_store)
    # the stated file says asthma is-a diabetes; only the inferred file counts
    assert tx.subsumes(sx.SNOMED, "73211009", "195967001") == "not-subsumed"
    retired = tx.lookup(sx.SNOMED, "9990001007")
    assert retired.concept.active is False
    assert not [p for p in retired.properties if p.code == "parent"]
    terms = [d.value for d in tx.lookup(sx.SNOMED, "73211009").designations]
    assert "Sugar diabetes" not in terms and "Diabetes mellitus (disorder)" in terms


def test_rf2_reload_replaces_without_duplicates(tx_store: Any) -> None:
    first = load_snomed_rf2(tx_store, RF2)
    second = load_snomed_rf2(tx_store, RF2)
    assert first.counts == second.counts
    assert rows(tx_store, "SELECT COUNT(*) FROM tx_description")[0][0] == first.counts["descriptions"]
    assert rows(tx_store, "SELECT COUNT(*) FROM tx_closure")[0][0] == first.counts["closure rows"]


def test_rf2_loads_from_a_zip(tx_store: Any, tmp_path: Path) -> None:
    archive = tmp_path / "SnomedCT_Test_PRODUCTION_20240101T120000Z.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in RF2.rglob("*.txt"):
            zf.write(path, "SnomedCT_Test/" + str(path.relative_to(RF2)))
    assert load_snomed_rf2(tx_store, archive).counts["concepts"] == 21


def test_rf2_errors_name_the_problem(tx_store: Any, tmp_path: Path) -> None:
    with pytest.raises(FhirError, match="no sct2_Concept"):
        load_snomed_rf2(tx_store, tmp_path)
    bad = tmp_path / "sct2_Concept_Snapshot_INT_20240101.txt"
    bad.write_text("code\tdisplay\r\n1\tx\r\n")
    with pytest.raises(FhirError, match="no column"):
        load_snomed_rf2(tx_store, tmp_path)
    assert rows(tx_store, "SELECT COUNT(*) FROM tx_concept")[0][0] == 0  # nothing half-loaded


def test_strip_semantic_tag() -> None:
    assert strip_semantic_tag("Asthma (disorder)") == "Asthma"
    assert strip_semantic_tag("Pharmaceutical / biologic product (product)") == "Pharmaceutical / biologic product"
    assert strip_semantic_tag("No tag") == "No tag"


# -- Read v2 / CTV3 maps ----------------------------------------------------------------------------
def test_read_v2_map_keeps_latest_active_revision(tx_store: Any) -> None:
    report = load_read_v2_map(tx_store, MAPS)
    assert report.counts["rows read"] == 10
    assert report.counts["maps"] == 7
    assert report.counts["inactive (skipped)"] == 2
    codes = {r[0] for r in rows(tx_store, "SELECT source_code FROM tx_map WHERE source_system = ?", sx.READ_V2)}
    assert "C10F." not in codes  # its latest revision has MapStatus 0
    assert "K0..." not in codes


def test_ctv3_map_skips_drug_rows_and_records_assurance(tx_store: Any) -> None:
    report = load_ctv3_map(tx_store, MAPS)
    assert report.counts["maps"] == 5
    assert report.counts["mapped to _DRUG (skipped)"] == 1
    found = rows(tx_store, "SELECT source_code, target_code, equivalence, assured, effective FROM tx_map "
                 "WHERE source_code = ? ORDER BY source_term", "X40J4")
    assert found == [("X40J4", "73211009", "equivalent", 1, "2020-04-01")] * 2


def test_map_header_spelling_isassured_is_accepted(tx_store: Any, tmp_path: Path) -> None:
    source = next(MAPS.rglob("ctv3sctmap2_uk_*.txt")).read_text()
    variant = tmp_path / "ctv3sctmap2_uk_20200401000002.txt"
    variant.write_text(source.replace("IS_ASSURED", "ISASSURED"))
    load_ctv3_map(tx_store, variant)
    assert rows(tx_store, "SELECT assured FROM tx_map WHERE source_code = 'X40J5'") == [(1,)]


def test_map_loader_rejects_another_table(tx_store: Any) -> None:
    wrong = next(RF2.rglob("sct2_Concept_*.txt"))
    with pytest.raises(FhirError, match="MapId"):
        load_read_v2_map(tx_store, wrong)


# -- dm+d -------------------------------------------------------------------------------------------
VTM_PARACETAMOL, VMP_PARA_TABS, AMP_ACME = "900011000001106", "900041000001107", "900071000001103"


def test_dmd_products_links_and_classes(tx_store: Any) -> None:
    report = load_dmd(tx_store, DMD)
    assert (report.counts["VTMs"], report.counts["VMPs"], report.counts["AMPs"]) == (3, 3, 3)
    tx = Terminology(tx_store)
    amp = tx.lookup(sx.DMD, AMP_ACME)
    assert amp.concept.display == "Paracetamol 500mg tablets (Acme Generics Ltd)"
    assert amp.concept.kind == "AMP"
    assert ("VMP", VMP_PARA_TABS) in {(p.code, p.value) for p in amp.properties}
    # an AMP is a kind of its VMP, which is a kind of its VTM: under both systems
    for system in (sx.DMD, sx.SNOMED):
        assert tx.subsumes(system, VTM_PARACETAMOL, AMP_ACME) == "subsumes"
    assert tx.concept(sx.DMD, "900031000001100").active is False  # INVALID 1
    previous = {(p.code, p.value) for p in tx.lookup(sx.DMD, VTM_PARACETAMOL).properties}
    assert ("previous", "900101000001105") in previous


def test_dmd_under_snomed_keeps_rf2_content(tx_store: Any) -> None:
    load_snomed_rf2(tx_store, RF2)
    load_dmd(tx_store, DMD)
    tx = Terminology(tx_store)
    assert tx.concept(sx.SNOMED, "73211009").display == "Diabetes mellitus"
    assert tx.concept(sx.SNOMED, VMP_PARA_TABS).kind == "VMP"
    assert rows(tx_store, "SELECT content FROM tx_system WHERE url = ?", sx.SNOMED) == [("complete",)]
    load_snomed_rf2(tx_store, RF2)  # a new SNOMED release keeps the dm+d links
    assert Terminology(tx_store).subsumes(sx.SNOMED, VTM_PARACETAMOL, AMP_ACME) == "subsumes"


# -- FHIR resources -----------------------------------------------------------------------------------
def test_fhir_bundle_and_code_system(tx_store: Any) -> None:
    report = load_fhir_terminology(tx_store, FHIR)
    assert report.counts["CodeSystems"] == 1
    assert report.counts["ValueSets"] == 4
    assert report.counts["ConceptMaps"] == 1
    assert report.counts["other resources (skipped)"] == 1
    tx = Terminology(tx_store)
    url = "https://fhir.example.org/CodeSystem/follow-up-priority"
    assert tx.subsumes(url, "soon", "soon-2w") == "subsumes"
    days = {p.value for p in tx.lookup(url, "soon-1w").properties if p.code == "days"}
    assert days == {7}
    assert tx.concept(url, "obsolete").active is False


def test_not_present_code_system_never_wipes_loaded_concepts(tx_store: Any) -> None:
    load_snomed_rf2(tx_store, RF2)
    load_resources(tx_store, [{"resourceType": "CodeSystem", "url": sx.SNOMED, "content": "not-present",
                               "status": "active", "name": "SNOMED_CT"}])
    assert Terminology(tx_store).concept(sx.SNOMED, "73211009") is not None


def test_fhir_cycle_in_a_code_system_is_a_clear_error(tx_store: Any) -> None:
    cs = {"resourceType": "CodeSystem", "url": "https://example.org/cs/loop", "status": "active",
          "content": "complete", "concept": [
              {"code": "a", "property": [{"code": "parent", "valueCode": "b"}]},
              {"code": "b", "property": [{"code": "parent", "valueCode": "a"}]}]}
    with pytest.raises(FhirError, match="cycle") as caught:
        load_resources(tx_store, [cs])
    assert caught.value.status == 422 and "a, b" in caught.value.message
