"""Fuzz the GP2GP parser: whatever bytes arrive, the only exception is Gp2gpError."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from gp2gp_samples import extract, medication, narrative, observation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpbridge.adapters.gp2gp import Gp2gpError, translate_gp2gp

SEED = extract(
    observation("A1", "195967001", extra='<value xsi:type="PQ" value="5.4" unit="mmol/L"/>'),
    narrative("N1", "Seen"),
    medication("M1", "AUTH-1", "ISSUE-1"),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def translate_or_error(raw: bytes) -> None:
    try:
        translate_gp2gp(raw)
    except Gp2gpError as exc:
        assert exc.reason  # an explanation, always


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    translate_or_error(raw)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.binary(min_size=0, max_size=4)), max_size=8),
       st.integers(0, len(SEED)))
def test_mutated_extract(edits: list[tuple[int, bytes]], cut: int) -> None:
    raw = bytearray(SEED)
    for at, replacement in edits:
        raw[at:at + len(replacement)] = replacement
    translate_or_error(bytes(raw[:max(cut, len(raw) // 2)]))


attribute = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)


@FUZZ
@given(code=attribute, system=attribute, when=attribute, value=attribute, unit=attribute, kind=attribute,
       sid=st.sampled_from(["A1", "M1", "AUTH-1", "X"]))
def test_hostile_field_values(code: str, system: str, when: str, value: str, unit: str, kind: str, sid: str) -> None:
    statement = f"""<ObservationStatement classCode="OBS" moodCode="EVN"><id root={quoteattr(sid)}/>
      <code code={quoteattr(code)} codeSystem={quoteattr(system)}/><statusCode code="COMPLETE"/>
      <effectiveTime><center value={quoteattr(when)}/></effectiveTime><availabilityTime value={quoteattr(when)}/>
      <value xsi:type={quoteattr(kind)} value={quoteattr(value)} unit={quoteattr(unit)}/></ObservationStatement>"""
    translate_or_error(extract(observation("A1", "195967001"), statement, medication("M1", "AUTH-1", "ISSUE-1")))
