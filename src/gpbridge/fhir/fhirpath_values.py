"""FHIRPath value semantics for the native translator: booleans, equality, ordering, dates.

Collections are Python lists of JSON values (dict, str, int, float, bool) or ``NoValue`` for a
primitive that carries only extensions (``"_status": {...}`` without ``"status"``). The rules are
those of FHIRPath N1 (http://hl7.org/fhirpath/N1/), which R4 invariants are written against:

- three-valued logic, where an empty collection is "unknown";
- singleton evaluation: a one-item collection in a boolean context is that boolean, or true for
  any other item; more than one item is an error (``FhirPathError``: the caller falls back);
- ``=`` on empty operands is empty; date/time values of different precision that agree as far as
  both go compare as empty (unknown), and times with offsets are compared in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any


class FhirPathError(Exception):
    """The expression is in error for this input (per the spec); the caller decides what follows."""


class NoValue:
    """A primitive element present only through its ``_name`` extension object."""

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoValue) and other.data == self.data

    def __hash__(self) -> int:
        return id(self)


def to_bool(coll: Sequence[Any]) -> bool | None:
    """Singleton evaluation of a collection as a Boolean (None means empty / unknown)."""
    if len(coll) == 1:
        item = coll[0]
        return item if item is True or item is False else True
    if not coll:
        return None
    if len(coll) > 1:
        raise FhirPathError("expected a single value in a boolean context")
    item = coll[0]
    if item is True or item is False:
        return item
    return True


def single(coll: list[Any]) -> Any:
    """The one value of a singleton, ``None`` for empty; error for more than one item."""
    if not coll:
        return None
    if len(coll) > 1:
        raise FhirPathError("expected a single value")
    item = coll[0]
    return None if isinstance(item, NoValue) else item


def single_string(coll: list[Any]) -> str | None:
    value = single(coll)
    if value is None:
        return None
    if type(value) is not str:
        raise FhirPathError("expected a string")
    return value


# ---------------------------------------------------------------------------------------------- dates

_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?\Z"
)
_TIME = re.compile(r"(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\Z")


def parse_datetime(text: str) -> tuple[int, ...] | None:
    """A date/dateTime/instant as comparable components (UTC when an offset is given), or None.

    The tuple's length is its precision: (year,), (year, month), ... (..., second, microsecond).
    """
    m = _DATE.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    parts = [int(year)]
    for p in (month, day, hour, minute, second):
        if p is None:
            return tuple(parts)
        parts.append(int(p))
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if zone is not None:
        moment = datetime(*parts, micro, tzinfo=_offset(zone)).astimezone(UTC)  # type: ignore[misc]
        return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond)
    return (*parts, micro)


def _offset(zone: str) -> timezone:
    if zone == "Z":
        return UTC
    sign = -1 if zone[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))


def compare_temporal(a: tuple[int, ...], b: tuple[int, ...]) -> int | None:
    """-1/0/1, or None when they differ in precision and agree on the common part."""
    common = min(len(a), len(b))
    if a[:common] != b[:common]:
        return -1 if a[:common] < b[:common] else 1
    if len(a) != len(b):
        # seconds and fractions are one precision in FHIRPath: 10:00:00 = 10:00:00.000
        if {len(a), len(b)} == {6, 7}:
            return 0
        return None
    return 0


# ---------------------------------------------------------------------------------------------- equality


def equal_items(a: Any, b: Any, temporal: bool) -> bool | None:
    if temporal and type(a) is str and type(b) is str:
        pa, pb = parse_datetime(a), parse_datetime(b)
        if pa is not None and pb is not None:
            order = compare_temporal(pa, pb)
            return None if order is None else order == 0
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    return bool(a == b)


def equals(left: list[Any], right: list[Any], temporal: bool = False) -> list[Any]:
    left = [x for x in left if not isinstance(x, NoValue)]
    right = [x for x in right if not isinstance(x, NoValue)]
    if not left or not right:
        return []
    if len(left) != len(right):
        return [False]
    unknown = False
    for a, b in zip(left, right, strict=True):
        same = equal_items(a, b, temporal)
        if same is None:
            unknown = True
        elif not same:
            return [False]
    return [] if unknown else [True]


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def equivalent(left: list[Any], right: list[Any]) -> list[Any]:
    left = [x for x in left if not isinstance(x, NoValue)]
    right = [x for x in right if not isinstance(x, NoValue)]
    if not left and not right:
        return [True]
    if len(left) != len(right):
        return [False]
    unmatched = list(right)
    for a in left:
        for i, b in enumerate(unmatched):
            if _equivalent_item(a, b):
                del unmatched[i]
                break
        else:
            return [False]
    return [True]


def _equivalent_item(a: Any, b: Any) -> bool:
    if type(a) is str and type(b) is str:
        return _normal(a) == _normal(b)
    if type(a) is dict and type(b) is dict:
        keys = (a.keys() | b.keys()) - {"id", "extension"}
        return all(_equivalent_item(a.get(k), b.get(k)) for k in keys)
    return bool(a == b)


def compare(left: list[Any], right: list[Any], temporal: bool = False) -> int | None:
    """Ordering of two singletons: -1/0/1, or None when empty or not comparable at this precision."""
    a, b = single(left), single(right)
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    if ta in (int, float) and tb in (int, float) and ta is not bool and tb is not bool:
        return (a > b) - (a < b)
    if ta is str and tb is str:
        if temporal:
            if len(a) == len(b) and (len(a) <= 10 or a[-1] == b[-1] == "Z" or (a[-6] in "+-" and a[-6:] == b[-6:])):
                # Same precision and the same offset (or none): ISO text orders like the instant.
                return (a > b) - (a < b)
            pa, pb = parse_datetime(a), parse_datetime(b)
            if pa is not None and pb is not None:
                return compare_temporal(pa, pb)
            ma, mb = _TIME.match(a), _TIME.match(b)
            if ma and mb:
                return compare_temporal(_time_parts(ma), _time_parts(mb))
        return (a > b) - (a < b)
    raise FhirPathError(f"cannot compare {ta.__name__} with {tb.__name__}")


def _time_parts(m: re.Match[str]) -> tuple[int, ...]:
    hour, minute, second, fraction = m.groups()
    parts = [int(hour)]
    for p in (minute, second):
        if p is None:
            return tuple(parts)
        parts.append(int(p))
    return (*parts, int((fraction or "0")[:6].ljust(6, "0")))


def distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not any(equal_items(item, seen, False) for seen in out):
            out.append(item)
    return out
