"""Pathology reports on small hand-written extracts: test groups and filing comments."""

from __future__ import annotations

from typing import Any

from gp2gp_samples import extract, lab_report, lab_result, report_comment

from gpbridge.adapters.gp2gp import gp2gp_to_bundle, translate_gp2gp

DEGRADED = "196411000000103"  # "Transfer-degraded record entry": shared by unrelated results


def observations(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Observations by their code text; comment notes by their text."""
    out = {}
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] == "Observation":
            out[r.get("valueString") or r["code"].get("text")] = r | {"fullUrl": e["fullUrl"]}
    return out


def battery(sid: str, code: str, term: str, *members: str) -> str:
    """An undated test group (as senders write degraded batteries) holding ``members``."""
    return f"""<component typeCode="COMP"><CompoundStatement classCode="BATTERY" moodCode="EVN"><id root="{sid}"/>
      <code code="{code}" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"><originalText>{term}</originalText></code>
      <statusCode code="COMPLETE"/><effectiveTime><center nullFlavor="UNK"/></effectiveTime>
      <availabilityTime nullFlavor="UNK"/>{"".join(members)}</CompoundStatement></component>"""


def test_a_member_sharing_the_groups_degraded_code_stays_its_own_result() -> None:
    fbc = battery("G1", DEGRADED, "Full blood count - FBC",
                  lab_result("R1", "2553471000000116", "Haemoglobin estimation", "13.7", "20030703"),
                  lab_result("R2", DEGRADED, "Packed cell volume", "0.41", "20030703"))
    translation = translate_gp2gp(extract(lab_report("REP1", issued="20030704111300", specimen=fbc)))
    obs = observations(translation.builder.bundle())
    group, pcv = obs["Full blood count - FBC"], obs["Packed cell volume"]
    assert "valueQuantity" not in group  # the group did not swallow the packed cell volume
    assert pcv["valueQuantity"]["value"] == 0.41 and pcv["effectiveDateTime"] == "2003-07-03"
    assert {"reference": pcv["fullUrl"]} in group["hasMember"]
    assert translation.accounted["R2"] == pcv["fullUrl"]


def test_the_groups_own_statement_is_still_merged_into_it() -> None:
    group = battery("G1", DEGRADED, "Full blood count - FBC",
                    lab_result("OWN", DEGRADED, "Full blood count - FBC", when="20030703"),
                    lab_result("R2", DEGRADED, "Packed cell volume", "0.41", "20030703"))
    translation = translate_gp2gp(extract(lab_report("REP1", specimen=group)))
    obs = observations(translation.builder.bundle())
    assert set(obs) == {"Full blood count - FBC", "Packed cell volume"}
    assert obs["Full blood count - FBC"]["effectiveDateTime"] == "2003-07-03"
    assert translation.accounted["OWN"] == obs["Full blood count - FBC"]["fullUrl"]


def test_a_report_level_filing_comment_is_dated_when_the_report_was_filed() -> None:
    report = lab_report("REP1", report_comment("N1", "Filing Date: 2021-01-08 15:25:10"),
                        report_comment("N2", "Report level 1"),
                        specimen=lab_result("R1", "1005711000000106", "Glucose tolerance test", "4.3"))
    obs = observations(gp2gp_to_bundle(extract(report)))
    comment = obs["Report level 1"]
    assert comment["code"]["coding"][0]["code"] == "37331000000100"
    # the sender gave it the report's issue time (2010-02-25) as CommentDate; it was written at filing
    assert comment["effectiveDateTime"] == "2021-01-08T15:25:10+00:00"
    assert comment["issued"] == "2021-01-08T15:25:10+00:00"


def test_a_filing_date_before_the_report_was_issued_is_not_a_filing_time() -> None:
    # some senders fill "Filing Date" from the first result (a specimen date): keep the CommentDate
    report = lab_report("REP1", report_comment("N1", "Filing Date: 2010-02-23"),
                        report_comment("N2", "Report level 1"),
                        specimen=lab_result("R1", "1005711000000106", "Glucose tolerance test", "4.3"))
    comment = observations(gp2gp_to_bundle(extract(report)))["Report level 1"]
    assert comment["effectiveDateTime"] == "2010-02-25T15:41:00+00:00"


def test_a_filing_comment_with_its_own_copy_in_a_group_keeps_that_copys_date() -> None:
    group = battery("G1", "1005711000000106", "Glucose tolerance test",
                    lab_result("R1", "1005711000000106", "Glucose tolerance test", "4.3"),
                    report_comment("C1", "Abnormal - contact patient", "USER COMMENT", "20201215151742"))
    report = lab_report("REP1", report_comment("N1", "Filing Date: 2021-01-08 15:25:10"),
                        report_comment("N2", "Abnormal - contact patient"), specimen=group)
    translation = translate_gp2gp(extract(report))
    comments = [e["resource"] | {"fullUrl": e["fullUrl"]} for e in translation.builder.bundle()["entry"]
                if e["resource"].get("valueString") == "Abnormal - contact patient"]
    assert [c["effectiveDateTime"] for c in comments] == ["2020-12-15T15:17:42+00:00"]
    assert translation.accounted["N2"] == translation.accounted["C1"] == comments[0]["fullUrl"]


def test_the_laboratorys_report_number_is_kept() -> None:
    report = lab_report("REP1", lab_id="15/CH000039M/200010191704",
                        specimen=lab_result("R1", "1005711000000106", "Glucose tolerance test", "4.3"))
    (diagnostic,) = [e["resource"] for e in gp2gp_to_bundle(extract(report))["entry"]
                     if e["resource"]["resourceType"] == "DiagnosticReport"]
    assert {"system": "urn:oid:2.16.840.1.113883.2.1.4.5.5", "value": "15/CH000039M/200010191704"} in diagnostic[
        "identifier"]
