"""Bad GP2GP input → Gp2gpError naming the place; on import it is quarantined, nothing else stored."""

from __future__ import annotations

import pytest
from gp2gp_samples import extract, observation

from gpbridge.adapters.common.quarantine import quarantine_list
from gpbridge.adapters.gp2gp import Gp2gpError, translate_gp2gp
from gpbridge.adapters.gp2gp.importer import import_gp2gp
from gpbridge.config import Settings
from gpbridge.store.base import Store


@pytest.mark.parametrize(
    ("raw", "reason", "place"),
    [
        (b"", "empty", "message"),
        (b"<RCMR_IN030000UK06 xmlns='urn:hl7-org:v3'><id root='x'>", "not well-formed", "line 1"),
        (extract(interaction="RCMR_IN010000UK05"), "is not RCMR_IN030000UK06", "interactionId"),
        (extract(observation("A1", "195967001", when="20231345")), "not a valid HL7 timestamp", "effectiveTime"),
        (extract(nhs="1234567890"), "invalid NHS number", "recordTarget"),
        (b"<?xml version='1.0' encoding='no-such-encoding'?><a/>", "", "line"),
        ("<?xml version='1.0' encoding='UTF-8'?><a>\u00e9</a>".encode("latin-1"), "not well-formed", "line 1"),
    ],
)
def test_bad_input_names_the_place(raw: bytes, reason: str, place: str) -> None:
    with pytest.raises(Gp2gpError) as caught:
        translate_gp2gp(raw)
    assert reason in caught.value.reason
    assert place in caught.value.place


def test_entities_are_not_expanded_and_nothing_is_fetched() -> None:
    xxe = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">
      <!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
      <RCMR_IN030000UK06 xmlns="urn:hl7-org:v3"><id root="&x;&b;"/></RCMR_IN030000UK06>"""
    with pytest.raises(Gp2gpError) as caught:
        translate_gp2gp(xxe)
    assert "root:" not in str(caught.value) and "aaaa" not in str(caught.value)


def test_bad_extract_is_quarantined_and_nothing_is_stored(store: Store, settings: Settings) -> None:
    raw = extract(observation("A1", "195967001"), observation("A2", "195967001", when="2023-06-15"))
    result = import_gp2gp(store, settings, raw, "bad.xml")
    assert result.status == "quarantined"
    assert "A2" in result.error.place and "timestamp" in result.error.reason
    assert store.count() == 1  # only the quarantine Task
    (item,) = quarantine_list(store)
    assert item.adapter == "gp2gp" and item.source == "bad.xml" and "timestamp" in item.reason
