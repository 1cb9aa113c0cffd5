"""Fuzz the HL7 v2 translator: malformed input only ever raises Hl7v2Error."""

from __future__ import annotations

from hl7v2_samples import adt, merge, oru
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpbridge.adapters.hl7v2 import Hl7v2Error, translate_hl7v2

SEEDS = [adt("A01"), adt("A03"), adt("A08"), merge("9434765919", "777"), oru()]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def translate_or_error(raw: bytes) -> None:
    try:
        translate_hl7v2(raw)
    except Hl7v2Error as exc:
        assert exc.reason


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(raw: bytes) -> None:
    translate_or_error(raw)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=3)), max_size=6),
       st.integers(0, 2000))
def test_mutated_messages(seed: bytes, edits: list[tuple[int, bytes]], cut: int) -> None:
    raw = bytearray(seed)
    for at, replacement in edits:
        at %= len(raw)
        raw[at:at + len(replacement)] = replacement
    translate_or_error(bytes(raw[: max(cut % (len(raw) + 1), 4)]))


@FUZZ
@given(st.sampled_from(SEEDS), st.integers(1, 40), st.text(max_size=20))
def test_hostile_field(seed: bytes, field: int, value: str) -> None:
    lines = seed.decode().split("\r")
    target = 2 if len(lines) > 2 else 1
    parts = lines[target].split("|") + [""] * 40
    parts[field] = value.replace("\r", "")
    lines[target] = "|".join(parts).rstrip("|")
    translate_or_error("\r".join(lines).encode("utf-8", errors="surrogatepass"))
