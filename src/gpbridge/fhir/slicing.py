"""Slicing: which slice does a repeating element's value belong to?

A slicing names discriminators (https://hl7.org/fhir/R4/profiling.html#discriminator); a slice
fixes what each discriminator must find. ``Discriminator`` holds one of them compiled: its kind,
the JSON path it reads below the value, and what the slice expects there:

- value / pattern: the fixed (exact) or pattern (contained) value at the path, e.g.
  ``identifier`` sliced on ``system``, ``extension`` sliced on ``url``, ``category`` on ``coding.code``;
- type: the datatype of the value (or the resource type of a contained resource);
- exists: whether the path has a value (from the slice's minimum/maximum there);
- profile: the value conforms to a profile (asked through a callback, as that is a validation).

A value at a path that repeats matches when any of the found values matches, which is how the
reference validator treats ``coding.code``. A discriminator the compiler could not resolve (no
fixed value in the profile) matches nothing and is reported once when the plan is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Discriminator:
    kind: str  # value | pattern | type | exists | profile
    path: tuple[str, ...]  # JSON keys below the value; () for $this
    expected: Any  # fixed/pattern value, type code, bool (exists) or profile url


def values_at(value: Any, path: tuple[str, ...]) -> list[Any]:
    """Everything found by following JSON keys ``path`` from ``value`` (arrays flattened)."""
    found = [value]
    for key in path:
        step: list[Any] = []
        for item in found:
            if type(item) is not dict:
                continue
            child = item.get(key)
            if child is None:
                continue
            if type(child) is list:
                step.extend(x for x in child if x is not None)
            else:
                step.append(child)
        found = step
    return found


def contains_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x] semantics: every element of the pattern is present in the value."""
    if type(pattern) is dict:
        if type(value) is not dict:
            return False
        return all(contains_pattern(value.get(key), sub) for key, sub in pattern.items())
    if type(pattern) is list:
        items = value if type(value) is list else [value] if value is not None else []
        return all(any(contains_pattern(item, sub) for item in items) for sub in pattern)
    if type(value) is list:
        return any(contains_pattern(item, pattern) for item in value)
    return _same_primitive(value, pattern)


def equals_fixed(value: Any, fixed: Any) -> bool:
    """FHIR fixed[x] semantics: exactly the fixed value (ids and extensions aside)."""
    if type(fixed) is dict:
        if type(value) is not dict:
            return False
        keys = (value.keys() | fixed.keys()) - {"id", "extension"}
        return all(equals_fixed(value.get(k), fixed.get(k)) for k in keys)
    if type(fixed) is list:
        if type(value) is not list or len(value) != len(fixed):
            return False
        return all(equals_fixed(a, b) for a, b in zip(value, fixed, strict=True))
    return _same_primitive(value, fixed)


def _same_primitive(value: Any, expected: Any) -> bool:
    if type(value) is bool or type(expected) is bool:
        return value is expected
    return bool(value == expected)


def matches(
    value: Any,
    type_code: str | None,
    discriminators: tuple[Discriminator, ...],
    conforms: Callable[[Any, str], bool],
) -> bool:
    """Does ``value`` (of datatype ``type_code``) satisfy every discriminator of a slice?"""
    for d in discriminators:
        if d.kind == "type":
            actual = value.get("resourceType") if type(value) is dict and "resourceType" in value else type_code
            if not d.path and actual != d.expected:
                return False
            if d.path and not any(type(v) is dict and v.get("resourceType") == d.expected for v in values_at(value, d.path)):
                return False
            continue
        found = values_at(value, d.path)
        if d.kind == "exists":
            if bool(found) != d.expected:
                return False
        elif d.kind == "value":
            if not any(equals_fixed(v, d.expected) for v in found):
                return False
        elif d.kind == "pattern":
            if not any(contains_pattern(v, d.expected) for v in found):
                return False
        elif d.kind == "profile":
            if not any(conforms(v, d.expected) for v in found):
                return False
        else:
            return False
    return True
