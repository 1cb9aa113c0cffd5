"""Property: reconciling never loses a source statement — every input is reachable from the output,
exactly once, and every conflict points at items of the output."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from reconcile_helpers import EMIS, TPP, allergy, condition, immunisation, medication, observation, statement

from gpbridge.records.reconcile import Statement, reconcile

CODES = st.sampled_from(["91936005", "716186003", "38341003", "44054006"])
DAYS = st.sampled_from(["2024-01-01", "2024-06-01", "2025-01-01"])
STATUSES = st.sampled_from(["active", "resolved", "stopped", "completed"])


@st.composite
def resources(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["allergy", "condition", "medication", "observation", "immunisation", "other"]))
    code, day, status = draw(CODES), draw(DAYS), draw(STATUSES)
    if kind == "allergy":
        return allergy(code, "resolved" if status == "resolved" else "active")
    if kind == "condition":
        return condition(code, "resolved" if status == "resolved" else "active")
    if kind == "medication":
        return medication(code, "stopped" if status == "stopped" else "active", start=day)
    if kind == "observation":
        return observation(code, value=draw(st.sampled_from([1.0, 2.0])), when=day)
    if kind == "immunisation":
        return immunisation(code, when=day)
    return {"resourceType": "Procedure", "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([EMIS, TPP]), resources()), max_size=25))
def test_every_source_statement_is_reachable_exactly_once(drawn: list[tuple[Any, dict[str, Any]]]) -> None:
    statements: list[Statement] = [statement(source, resource) for source, resource in drawn]
    result = reconcile(statements)
    reached = [s for item in result.items for s in item.statements]
    assert sorted(map(id, reached)) == sorted(map(id, statements))
    item_ids = {id(i) for i in result.items}
    for conflict in result.conflicts:
        assert {id(i) for i in conflict.items} <= item_ids
    for item in result.items:  # the item shown is one of the statements it absorbed
        assert any(s.resource is item.resource for s in item.statements)
