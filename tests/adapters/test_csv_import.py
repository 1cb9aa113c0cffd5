"""CSV extracts under the two shipped profiles: mapped through the CodeMapper, flagged, idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gpbridge.adapters.common.codes import DictCodeMapper
from gpbridge.adapters.csv import CsvError, ProfileError, import_csv, load_profile, translate_csv
from gpbridge.adapters.csv.profile import available_profiles, parse_profile
from gpbridge.config import Settings
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store

DATA = Path(__file__).parent / "data"
JOURNAL = (DATA / "journal_readv2.csv").read_bytes()
EVENTS = (DATA / "events_ctv3.csv").read_bytes()


def stored(store: Store, type_: str, *params: tuple[str, str]) -> list[dict[str, Any]]:
    return [orjson.loads(m.content) for m in store.search(parse_search(type_, list(params))).matches]


def test_two_profiles_ship() -> None:
    assert {"readv2-journal", "ctv3-events"} <= set(available_profiles())


def test_journal_maps_read_codes_and_reports_the_unmapped(store: Store, settings: Settings,
                                                          code_mapper: DictCodeMapper) -> None:
    result = import_csv(store, settings, JOURNAL, profile="readv2-journal", source="journal.csv", mapper=code_mapper)
    assert result.status == "imported", result.error
    assert result.created == {"Patient": 3, "Condition": 3, "Observation": 8}
    assert [(u.code, u.place) for u in result.unmapped] == [("9OX..00", "line 10, column 'ReadCode'")]
    asthma = stored(store, "Condition", ("code", "http://snomed.info/sct|195967001"))
    assert len(asthma) == 2
    assert {"system": "http://read.info/readv2", "code": "H33..00", "display": "Asthma"} in asthma[0]["code"]["coding"]
    (flagged,) = stored(store, "Observation", ("_tag", "https://gpbridge.dev/CodeSystem/data-quality|unmapped-code"))
    assert flagged["code"]["coding"] == [{"system": "http://read.info/readv2", "code": "9OX..00",
                                          "display": "Diabetes monitoring admin."}]
    (bmi,) = stored(store, "Observation", ("code", "http://snomed.info/sct|60621009"), ("value-quantity", "31.2"))
    assert bmi["valueQuantity"] == {"value": 31.2, "unit": "kg/m2", "system": "http://unitsofmeasure.org",
                                    "code": "kg/m2"}
    assert bmi["effectiveDateTime"] == "2024-01-12"


def test_events_profile_reads_cp1252_semicolons_and_times(store: Store, settings: Settings,
                                                          code_mapper: DictCodeMapper) -> None:
    result = import_csv(store, settings, EVENTS, profile="ctv3-events", mapper=code_mapper)
    assert result.status == "imported", result.error
    assert result.created == {"Patient": 2, "Observation": 7}
    assert [u.code for u in result.unmapped] == ["Y1234"]
    (bmi,) = stored(store, "Observation", ("code", "http://read.info/ctv3|22K.."))
    assert bmi["valueQuantity"]["unit"] == "kg/m²" and bmi["effectiveDateTime"] == "2024-02-01T09:22:00+00:00"
    (weight,) = stored(store, "Observation", ("code", "http://snomed.info/sct|27113001"))
    assert weight["note"] == [{"text": "Weighed in clinic (£0 charge)"}]
    provenance = stored(store, "Provenance")[0]
    assert provenance["agent"][0]["who"]["identifier"]["value"] == "B86001"


def test_same_extract_twice_creates_nothing(store: Store, settings: Settings) -> None:
    assert import_csv(store, settings, JOURNAL, profile="readv2-journal").status == "imported"
    count = store.count()
    again = import_csv(store, settings, JOURNAL, profile="readv2-journal")
    assert again.status == "duplicate" and store.count() == count
    # a later extract repeating rows already imported: those rows are matched, not duplicated
    extended = JOURNAL + b"7F3A1C2E-0003,9000000009,O'BRIEN,Siobhan,23/07/1990,F,E-3003,Observation,11/11/2023," \
                         b"11/11/2023,22K..00,Body Mass Index,22.9,kg/m2,,\n"
    third = import_csv(store, settings, extended, profile="readv2-journal")
    assert third.created == {"Observation": 1} and sum(third.matched.values()) == 14


@pytest.mark.parametrize(
    ("raw", "profile", "reason", "place"),
    [
        (JOURNAL.replace(b"12/01/2024,12/01/2024,22K", b"2024-01-12,12/01/2024,22K"), "readv2-journal",
         "does not match the date format", "line 4, column 'EffectiveDate'"),
        (JOURNAL.replace(b"9449306060", b"9449306061"), "readv2-journal", "invalid NHS number",
         "line 8, column 'NHSNumber'"),
        (JOURNAL.replace(b",31.2,", b",31,2,"), "readv2-journal", "values for 16 columns", "line 4"),
        (EVENTS.decode("cp1252").encode(), "readv2-journal", "are missing", "line 1"),
        (EVENTS, "readv2-journal", "is not valid utf-8", "line 4"),  # the cp1252 "²"
        (EVENTS.decode("cp1252").encode("utf-16"), "ctv3-events", "", "line 1"),
        (JOURNAL.replace(b",F,E-3001", b",X,E-3001"), "readv2-journal", "'X' is not one of", "column 'Sex'"),
        (JOURNAL.replace(b",31.2,", b",thirty,"), "readv2-journal", "not a number", "column 'Value'"),
    ],
)
def test_bad_data_names_the_cell_and_is_quarantined(store: Store, settings: Settings, raw: bytes, profile: str,
                                                    reason: str, place: str) -> None:
    with pytest.raises(CsvError) as caught:
        translate_csv(raw, load_profile(profile))
    assert reason in caught.value.reason and place in caught.value.place
    result = import_csv(store, settings, raw, profile=profile, source="bad.csv")
    assert result.status == "quarantined" and store.count() == 1  # the quarantine Task only


def test_profile_mistakes_are_reported_before_any_data() -> None:
    with pytest.raises(ProfileError, match="needs its code system"):
        parse_profile({"patient": {"nhs_number": "N"}, "resources": [{"type": "Observation",
                                                                      "elements": {"code": {"column": "C"}}}]})
    with pytest.raises(ProfileError, match="no mapping profile"):
        load_profile("no-such-profile")
