"""store.reference_walk: every ``reference`` string rewritten in one walk, nesting bounded."""

from __future__ import annotations

from typing import Any

import pytest

from gpbridge.store.reference_walk import rewrite_references


def test_every_reference_string_is_rewritten_and_nothing_else() -> None:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "subject": {"reference": "urn:uuid:a"},
        "performer": [{"reference": "urn:uuid:b"}, {"display": "reference"}],
        "contained": [{"resourceType": "Group", "member": [[{"entity": {"reference": "urn:uuid:a"}}]]}],
        "note": [{"text": "urn:uuid:a"}],
        "extension": [{"url": "x", "valueReference": {"reference": "#own"}}],
        "reference": 7,  # not a string: left alone
    }
    seen: list[str] = []

    def resolve(value: str) -> str:
        seen.append(value)
        return value.replace("urn:uuid:", "Patient/")

    assert rewrite_references(resource, 1, 10, resolve)
    assert seen == ["urn:uuid:a", "urn:uuid:b", "urn:uuid:a", "#own"]
    assert resource["subject"] == {"reference": "Patient/a"}
    assert resource["contained"][0]["member"][0][0]["entity"] == {"reference": "Patient/a"}
    assert resource["note"] == [{"text": "urn:uuid:a"}] and resource["reference"] == 7


@pytest.mark.parametrize(("max_depth", "ok"), [(5, True), (4, False)])
def test_nesting_past_the_limit_stops_the_walk(max_depth: int, ok: bool) -> None:
    leaf = {"reference": "urn:uuid:x"}
    resource = {"a": [{"b": {"c": leaf}}]}  # dict 1 > list 2 > dict 3 > dict 4 > the leaf dict 5
    assert rewrite_references(resource, 1, max_depth, str.upper) is ok
    assert (leaf["reference"] == "URN:UUID:X") is ok  # nothing past the limit was touched


def test_what_resolve_raises_propagates() -> None:
    def refuse(value: str) -> str:
        raise LookupError(value)

    with pytest.raises(LookupError, match="urn:uuid:x"):
        rewrite_references({"a": [{"reference": "urn:uuid:x"}]}, 1, 10, refuse)
