"""Fidelity oracle over every shared UAT pair: the R4 we produce recovers the GP Connect source.

Run with ``-s`` to see the recall table and the evidence for every source item the extract does
not carry. Each source item is paired one-to-one with a translated one by code *and* date
(gp2gp_oracle); an item left over must be proven absent from the extract, item by item, from the
extract itself (gp2gp_evidence) — otherwise it is a translation defect and the test fails:

- ``absent``: stopped medication orders, for which the sending adaptor writes no
  ``ehrSupplyPrescribe``; proven by the issue count of the authorisation their plan became;
- ``undated``: code recovered, but the extract wrote every time of the statement (and of the
  statements and composition around it) as nullFlavor.
"""

from __future__ import annotations

import copy
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from gp2gp_evidence import Outcome, account
from gp2gp_oracle import SOURCE
from gp2gp_samples import uat_extract
from lxml import etree

from gpbridge.adapters.gp2gp import gp2gp_to_bundle

COLUMNS = ("source", "produced", "matched", "undated", "absent", "missing")


def _outcomes(xml_path: Path, json_path: Path, translated: dict[str, Any] | None = None) -> dict[str, Outcome]:
    raw = uat_extract(xml_path)
    bundle = translated if translated is not None else gp2gp_to_bundle(raw)
    return account(json.loads(json_path.read_text()), bundle, etree.fromstring(raw))


def _label(item: Any) -> str:
    return item.label or "/".join(sorted(item.codes))


def test_translation_recovers_the_source_bundles(gp2gp_pairs: list[tuple[Path, Path]]) -> None:
    totals: dict[str, Counter] = defaultdict(Counter)
    evidence: list[str] = []
    missing: list[str] = []
    for xml_path, json_path in gp2gp_pairs:
        for kind, o in _outcomes(xml_path, json_path).items():
            totals[kind].update(source=o.source, produced=o.produced, matched=o.matched, undated=len(o.undated),
                                absent=len(o.absent), missing=len(o.missing))
            for tag, found in (("undated", o.undated), ("absent", o.absent)):
                evidence += [f"  {xml_path.name} {kind} {tag}: {_label(item)} {sorted(item.dates)} — {why}"
                             for item, why in found]
            missing += [f"{xml_path.name} {kind}: {_label(item)} {sorted(item.dates)}" for item in o.missing]
    print(f"\nGP2GP fidelity over {len(gp2gp_pairs)} UAT pairs (matched = same code and date)")
    print(f"{'type':22s}" + "".join(f"{c:>9s}" for c in COLUMNS) + f"{'recall':>8s}{'of extract':>11s}")
    for kind in SOURCE:
        t = totals[kind]
        carried = t["source"] - t["absent"]
        recall = t["matched"] / t["source"] if t["source"] else 1
        of_extract = (t["matched"] + t["undated"]) / carried if carried else 1
        print(f"{kind:22s}" + "".join(f"{t[c]:9d}" for c in COLUMNS) + f"{recall:8.1%}{of_extract:11.1%}")
    print("undated = code recovered, the extract carries no date; absent = not in the extract. Evidence:")
    print("\n".join(evidence))
    assert missing == [], "source items the translation lost:\n" + "\n".join(missing)
    assert sum(t["matched"] + t["undated"] + t["absent"] for t in totals.values()) == sum(
        t["source"] for t in totals.values())


def test_a_lost_date_is_caught_not_excused(gp2gp_pairs: list[tuple[Path, Path]]) -> None:
    """A translation dropping a date the extract carries must show as missing, not as undated."""
    xml_path, json_path = next(p for p in gp2gp_pairs if "Yamura" in p[0].name)
    bundle = gp2gp_to_bundle(uat_extract(xml_path))
    damaged = copy.deepcopy(bundle)
    observation = next(e["resource"] for e in damaged["entry"]
                       if e["resource"]["resourceType"] == "Observation" and "effectiveDateTime" in e["resource"])
    for field in ("effectiveDateTime", "issued"):
        observation.pop(field, None)
    assert sum(len(o.missing) for o in _outcomes(xml_path, json_path, bundle).values()) == 0
    outcome = _outcomes(xml_path, json_path, damaged)["observations"]
    assert len(outcome.missing) == 1 and outcome.undated == []


def test_a_dropped_order_is_caught_not_excused(gp2gp_pairs: list[tuple[Path, Path]]) -> None:
    """An issue the extract carries and the translation loses is missing, even beside stopped
    orders of the same plan (their proof rests on the extract's issue count, not the output's)."""
    xml_path, json_path = next(p for p in gp2gp_pairs if "Daniels" in p[0].name)
    bundle = gp2gp_to_bundle(uat_extract(xml_path))
    orders = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"
              and e["resource"]["intent"] == "order"]
    damaged = copy.deepcopy(bundle)
    damaged["entry"] = [e for e in damaged["entry"] if e["fullUrl"] != orders[-1]["fullUrl"]]
    before = _outcomes(xml_path, json_path, bundle)["medication orders"]
    after = _outcomes(xml_path, json_path, damaged)["medication orders"]
    assert before.missing == [] and before.absent
    assert len(after.missing) == 1 and len(after.absent) == len(before.absent)
