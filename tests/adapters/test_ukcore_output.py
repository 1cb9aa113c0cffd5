"""What every adapter produces is UK Core: each resource claims its UK Core profile and passes it.

The claim matters as much as the content: the write path checks the profiles a resource claims,
so a resource that claims none is held only to base R4 there (how GP2GP MedicationRequests without
the ``substitution`` UK Core requires were once stored, and then failed validation when returned).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gp2gp_samples import uat_extract
from hl7v2_samples import adt, merge, oru

from gpbridge.adapters.csv import csv_to_bundle, load_profile
from gpbridge.adapters.gp2gp import gp2gp_to_bundle
from gpbridge.adapters.gp2gp import medications as gp2gp_medications
from gpbridge.adapters.gp2gp.importer import import_gp2gp
from gpbridge.adapters.hl7v2 import hl7v2_to_bundle
from gpbridge.config import Settings
from gpbridge.fhir.profiles import ukcore_url
from gpbridge.fhir.validate import validate
from gpbridge.store.base import Store

DATA = Path(__file__).parent / "data"


def _ukcore_problems(bundle: dict[str, Any], source: str) -> list[str]:
    """Every error against UK Core, and every resource not claiming its UK Core profile."""
    problems = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        type_ = resource["resourceType"]
        profile = ukcore_url(type_)
        if profile is None:
            continue
        if profile not in (resource.get("meta") or {}).get("profile", ()):
            problems.append(f"{source} {type_}: does not claim {profile}")
        problems += [f"{source} {type_} {i.expression}: {i.diagnostics}"
                     for i in validate(resource) if i.severity in ("error", "fatal")]
    return problems


def test_every_gp2gp_sample_translates_to_valid_uk_core(gp2gp_pairs: list[tuple[Path, Path]]) -> None:
    problems: list[str] = []
    types: set[str] = set()
    for xml_path, _ in gp2gp_pairs:
        bundle = gp2gp_to_bundle(uat_extract(xml_path))
        types.update(e["resource"]["resourceType"] for e in bundle["entry"])
        problems += _ukcore_problems(bundle, xml_path.name)
    assert {"MedicationRequest", "MedicationStatement", "Observation", "Condition", "Encounter"} <= types
    assert problems == []


@pytest.mark.parametrize("name, raw", [
    ("A01", adt("A01")), ("A08", adt("A08", "M2", family="SMYTHE")), ("A03", adt("A03", "M3")),
    ("A28", adt("A28")), ("A40", merge("9434765919", "OLD1")), ("ORU", oru()),
])
def test_hl7v2_samples_translate_to_valid_uk_core(name: str, raw: bytes) -> None:
    assert _ukcore_problems(hl7v2_to_bundle(raw), name) == []


@pytest.mark.parametrize("file, profile", [("journal_readv2.csv", "readv2-journal"), ("events_ctv3.csv", "ctv3-events")])
def test_csv_samples_translate_to_valid_uk_core(file: str, profile: str) -> None:
    assert _ukcore_problems(csv_to_bundle((DATA / file).read_bytes(), load_profile(profile)), file) == []


def test_a_gp2gp_translation_that_breaks_uk_core_is_refused_on_the_write_path(
    store: Store, settings: Settings, gp2gp_pairs: list[tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one write mechanism holds adapter output to the UK Core profile it claims: a mapping
    that forgets ``substitution`` is quarantined, not stored."""
    original = gp2gp_medications._request

    def without_substitution(*args: Any, **kwargs: Any) -> dict[str, Any]:
        request = original(*args, **kwargs)
        del request["substitution"]
        return request

    monkeypatch.setattr(gp2gp_medications, "_request", without_substitution)
    xml_path = next(x for x, _ in gp2gp_pairs if b"ehrSupplyPrescribe" in x.read_bytes())
    result = import_gp2gp(store, settings, uat_extract(xml_path), str(xml_path))
    assert result.status == "quarantined"
    assert "substitution" in str(result.error)
    assert store.count("MedicationRequest") == 0
