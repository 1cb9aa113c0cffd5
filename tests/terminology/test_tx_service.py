"""The in-process service the validator and adapters use: lookup, validate, subsumes, expand, translate."""

from __future__ import annotations

from typing import Any

import pytest
from tx_fixtures import RF2

from gpbridge.fhir.outcome import FhirError
from gpbridge.terminology import systems as sx
from gpbridge.terminology.results import TerminologyUnavailable
from gpbridge.terminology.rf2 import load_snomed_rf2
from gpbridge.terminology.service import Terminology, expand_value_set_codes

SCT = sx.SNOMED
VS = "https://fhir.example.org/ValueSet/"
PRIORITY = "https://fhir.example.org/CodeSystem/follow-up-priority"


def codes(expansion: Any) -> set[str]:
    return {c.code for c in expansion.contains}


# -- lookup ---------------------------------------------------------------------------------------
def test_lookup_gives_display_designations_and_hierarchy(tx: Terminology) -> None:
    result = tx.lookup(SCT, "73211009")
    assert result.concept.display == "Diabetes mellitus"
    assert result.system_name == "SNOMED CT"
    uses = {(d.use, d.value) for d in result.designations}
    assert ("fsn", "Diabetes mellitus (disorder)") in uses and ("synonym", "DM - Diabetes mellitus") in uses
    props = {(p.code, p.value) for p in result.properties}
    assert ("parent", "362969004") in props
    assert {("child", c) for c in ("46635009", "44054006", "11687002", "127013003")} <= props
    assert ("inactive", False) in props


def test_lookup_property_filter(tx: Terminology) -> None:
    result = tx.lookup(SCT, "127013003", properties=["parent"])
    assert sorted(p.value for p in result.properties) == ["73211009", "90708001"]
    assert result.designations == ()


def test_lookup_errors(tx: Terminology) -> None:
    with pytest.raises(TerminologyUnavailable) as unknown:
        tx.lookup("http://example.org/unknown", "1")
    assert unknown.value.status == 404 and "not known" in unknown.value.message
    with pytest.raises(FhirError) as missing:
        tx.lookup(SCT, "12345")
    assert missing.value.status == 404 and "'12345'" in missing.value.message
    with pytest.raises(TerminologyUnavailable, match="only through maps"):
        tx.lookup(sx.READ_V2, "C10..")
    with pytest.raises(TerminologyUnavailable, match="version '20990101'"):
        tx.lookup(SCT, "73211009", version="20990101")
    assert tx.lookup(SCT, "73211009", version="20240101").concept.code == "73211009"


# -- validate-code -------------------------------------------------------------------------------------
def test_validate_code_in_code_system(tx: Terminology) -> None:
    ok = tx.validate_code("44054006", SCT, "Non-insulin dependent diabetes mellitus")
    assert ok.result and ok.display == "Type 2 diabetes mellitus"
    wrong = tx.validate_code("44054006", SCT, "Asthma")
    assert not wrong.result and wrong.code_ok and "Type 2 diabetes mellitus" in (wrong.message or "")
    absent = tx.validate_code("99999", SCT)
    assert not absent.result and absent.known
    inactive = tx.validate_code("9990001007", SCT)
    assert inactive.result and inactive.inactive and "inactive" in (inactive.message or "")


def test_validate_code_never_raises_for_unknown_things(tx: Terminology) -> None:
    system = tx.validate_code("x", "http://example.org/unknown")
    assert not system.result and not system.known
    value_set = tx.validate_code("73211009", SCT, url="http://example.org/ValueSet/none")
    assert not value_set.result and not value_set.known


def test_validate_code_in_value_set(tx: Terminology) -> None:
    url = VS + "diabetes-disorders"
    assert tx.validate_code("127013003", SCT, url=url).result  # a kind of diabetes (two parents)
    assert not tx.validate_code("11687002", SCT, url=url).result  # excluded: gestational
    assert not tx.validate_code("195967001", SCT, url=url).result
    assert tx.validate_code("46635009", None, url=url).result  # the one system is inferred
    vitals = VS + "vital-signs-lite"
    heart = tx.validate_code("8867-4", "http://loinc.org", "Heart rate", url=vitals)
    assert heart.result and heart.known  # LOINC is not loaded: the value set's own list decides


# -- subsumes ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("a", "b", "outcome"), [
    ("73211009", "73211009", "equivalent"),
    ("73211009", "127013003", "subsumes"),
    ("64572001", "11687002", "subsumes"),  # through both parents
    ("46635009", "73211009", "subsumed-by"),
    ("46635009", "44054006", "not-subsumed"),
])
def test_subsumes(tx: Terminology, a: str, b: str, outcome: str) -> None:
    assert tx.subsumes(SCT, a, b) == outcome


def test_subsumes_unknown_code(tx: Terminology) -> None:
    with pytest.raises(FhirError) as caught:
        tx.subsumes(SCT, "73211009", "1")
    assert caught.value.status == 404 and caught.value.issues[0].expression == ("codeB",)


# -- expand -----------------------------------------------------------------------------------------
def test_expand_intensional_with_exclude(tx: Terminology) -> None:
    expansion = tx.expand(VS + "diabetes-disorders")
    assert codes(expansion) == {"73211009", "46635009", "44054006", "127013003"}
    assert expansion.total == 4
    assert expansion.value_set["url"] == VS + "diabetes-disorders"


def test_expand_filter_paging_and_total(tx: Terminology) -> None:
    everything = tx.expand(f"{SCT}?fhir_vs=isa/64572001", filter="diab")
    assert codes(everything) == {"73211009", "46635009", "44054006", "11687002", "127013003"}
    assert everything.contains[0].code == "73211009"  # the shortest match first
    typed = tx.expand(f"{SCT}?fhir_vs=isa/64572001", filter="non-insulin")
    assert codes(typed) == {"44054006"}  # a synonym matches, the display is still the preferred term
    assert typed.contains[0].display == "Type 2 diabetes mellitus"
    first = tx.expand(f"{SCT}?fhir_vs=isa/64572001", count=3)
    second = tx.expand(f"{SCT}?fhir_vs=isa/64572001", count=3, offset=3)
    assert first.total == second.total == 13
    assert len(first.contains) == 3 and not codes(first) & codes(second)


def test_expand_refuses_an_unpaged_huge_expansion(tx: Terminology) -> None:
    with pytest.raises(FhirError) as caught:
        tx.expand(f"{SCT}?fhir_vs", limit=5)
    assert caught.value.status == 422 and caught.value.issues[0].code == "too-costly"
    assert tx.expand(f"{SCT}?fhir_vs", limit=5, count=5).total == 30  # 21 RF2 + 9 dm+d


def test_expand_active_only_and_ecl(tx: Terminology) -> None:
    everything = tx.expand(f"{SCT}?fhir_vs")
    assert "9990001007" in codes(everything)
    assert next(c for c in everything.contains if c.code == "9990001007").active is False
    assert "9990001007" not in codes(tx.expand(f"{SCT}?fhir_vs", active_only=True))
    ecl = tx.expand(f"{SCT}?fhir_vs=ecl/" + "<< 73211009 |Diabetes| MINUS (<< 11687002 OR 127013003)")
    assert codes(ecl) == {"73211009", "46635009", "44054006"}
    children = tx.expand(f"{SCT}?fhir_vs=ecl/<!73211009")
    assert codes(children) == {"46635009", "44054006", "11687002", "127013003"}
    with pytest.raises(FhirError, match="refinement"):
        tx.expand(f"{SCT}?fhir_vs=ecl/<< 73211009 : 363698007 = 64033007")


def test_expand_nested_value_sets_and_code_system_filters(tx: Terminology) -> None:
    mixed = tx.expand(VS + "diabetes-or-vitals")
    assert {"8867-4", "73211009"} <= codes(mixed) and mixed.total == 7
    rate = tx.expand(VS + "diabetes-or-vitals", filter="rate")
    assert codes(rate) == {"8867-4", "9279-1"}  # displays known only from the value set are filtered too
    soon = tx.expand(VS + "soon-or-urgent")
    assert codes(soon) == {"soon", "soon-1w", "soon-2w", "urgent"}
    assert next(c for c in soon.contains if c.code == "urgent").display == "Urgent (same day)"


def test_expand_inline_value_set_and_dmd_class_filter(tx: Terminology) -> None:
    inline = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": sx.DMD, "filter": [{"property": "parent", "op": "=", "value": "VMP"}]}]}}
    assert len(tx.expand(value_set=inline).contains) == 3
    bad = {"resourceType": "ValueSet", "compose": {"include": [{"system": "http://example.org/nowhere",
                                                               "filter": [{"property": "concept", "op": "is-a",
                                                                           "value": "x"}]}]}}
    with pytest.raises(TerminologyUnavailable) as caught:
        tx.expand(value_set=bad)
    assert caught.value.issues[0].expression == ("ValueSet.compose.include[0].system",)


def _traceback_length(exc: BaseException) -> int:
    n, tb = 0, exc.__traceback__
    while tb is not None:
        n, tb = n + 1, tb.tb_next
    return n


def test_a_value_set_that_cannot_be_compiled_is_answered_again_without_keeping_old_stacks(tx: Terminology) -> None:
    # The failure is remembered; re-raising the remembered exception must not chain every raise's
    # frames (and through them each caller's whole stack) onto it: a server leaked them per write.
    missing = VS + "not-loaded-anywhere"
    lengths = []
    for _ in range(5):
        with pytest.raises(FhirError) as caught:
            tx.compile_value_set(missing)
        lengths.append(_traceback_length(caught.value))
    assert lengths[1:] == [lengths[1]] * 4
    answer = tx.validate_code("73211009", SCT, url=missing)
    assert answer.known is False and answer.result is False and tx.validate_code("73211009", SCT, url=missing) == answer


def test_expand_core_spec_value_set(tx: Terminology) -> None:
    assert codes(tx.expand("http://hl7.org/fhir/ValueSet/administrative-gender")) == {
        "male", "female", "other", "unknown"}


def test_value_set_sql_runs_on_the_store(tx: Terminology, loaded_store: Any) -> None:
    sql, params = expand_value_set_codes(loaded_store, VS + "diabetes-disorders")
    with loaded_store._read_cursor() as cur:
        cur.execute(loaded_store.dialect_obj.sql(sql), params)
        found = {tuple(r) for r in cur.fetchall()}
    assert found == {(SCT, c) for c in ("73211009", "46635009", "44054006", "127013003")}


# -- translate ------------------------------------------------------------------------------------
def test_translate_read_v2_seven_and_five_characters(tx: Terminology) -> None:
    [seven] = tx.translate("C10..00", sx.READ_V2)
    assert (seven.code, seven.equivalence, seven.display) == ("73211009", "equivalent", "Diabetes mellitus")
    [synonym] = tx.translate("C10..11", sx.READ_V2)
    assert synonym.display == "DM - Diabetes mellitus"  # the mapped description, not just the concept
    assert [m.code for m in tx.translate("C10..", sx.READ_V2)] == ["73211009"]
    [unassured] = tx.translate("G20..00", sx.READ_V2, sx.SNOMED)
    assert unassured.equivalence == "relatedto" and unassured.assured is False
    assert tx.translate("C10F.00", sx.READ_V2) == []  # retired in its latest revision


def test_translate_ctv3_reverse_and_target_value_set(tx: Terminology) -> None:
    [match] = tx.translate("X40J6", sx.CTV3, sx.SNOMED)
    assert match.code == "44054006" and match.source == sx.CTV3_MAP_URL
    back = {(m.system, m.code) for m in tx.translate("73211009", sx.SNOMED, reverse=True)}
    assert back == {(sx.CTV3, "X40J4"), (sx.READ_V2, "C10..00"), (sx.READ_V2, "C10..11")}
    assert tx.translate("H33..00", sx.READ_V2, target_value_set=VS + "diabetes-disorders") == []
    assert len(tx.translate("C108.00", sx.READ_V2, target_value_set=VS + "diabetes-disorders")) == 1


def test_translate_with_a_loaded_concept_map(tx: Terminology) -> None:
    url = "https://fhir.example.org/ConceptMap/priority-to-request-priority"
    [soon] = tx.translate("soon", PRIORITY, url=url)
    assert (soon.code, soon.equivalence) == ("asap", "inexact")
    [obsolete] = tx.translate("obsolete", PRIORITY, url=url)
    assert obsolete.equivalence == "unmatched" and obsolete.code is None
    with pytest.raises(TerminologyUnavailable):
        tx.translate("soon", PRIORITY, url="https://example.org/ConceptMap/none")


# -- caching -----------------------------------------------------------------------------------------
def test_a_load_in_another_process_is_noticed(tx_store: Any) -> None:
    load_snomed_rf2(tx_store, RF2)
    tx = Terminology(tx_store, recheck_seconds=0)
    assert tx.concept(SCT, "73211009") is not None
    with tx_store._write_cursor() as cur:  # as a loader elsewhere would: new content, new generation
        cur.execute(tx_store.dialect_obj.sql("UPDATE tx_concept SET display = ? WHERE code = ?"),
                    ("Diabetes (renamed)", "73211009"))
        cur.execute("UPDATE tx_state SET value = value + 1 WHERE name = 'generation'")
    assert tx.concept(SCT, "73211009").display == "Diabetes (renamed)"
