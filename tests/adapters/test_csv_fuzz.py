"""Fuzz the CSV translator under both shipped profiles: only CsvError escapes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpbridge.adapters.csv import CsvError, load_profile, translate_csv

DATA = Path(__file__).parent / "data"
CASES = [((DATA / "journal_readv2.csv").read_bytes(), load_profile("readv2-journal")),
         ((DATA / "events_ctv3.csv").read_bytes(), load_profile("ctv3-events"))]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def translate_or_error(raw: bytes, case: int) -> None:
    try:
        translate_csv(raw, CASES[case][1])
    except CsvError as exc:
        assert exc.reason and exc.place


@FUZZ
@given(st.binary(max_size=800), st.integers(0, 1))
def test_random_bytes(raw: bytes, case: int) -> None:
    translate_or_error(raw, case)


@FUZZ
@given(st.integers(0, 1), st.lists(st.tuples(st.integers(0, 3000), st.binary(max_size=4)), max_size=8))
def test_mutated_files(case: int, edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(CASES[case][0])
    for at, replacement in edits:
        at %= len(raw)
        raw[at:at + len(replacement)] = replacement
    translate_or_error(bytes(raw), case)
