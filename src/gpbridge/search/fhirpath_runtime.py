"""The runtime half of compiled search FHIRPath: typed branches and the closures they run.

A ``Branch`` is one statically typed path through a resource; its steps are plain functions from a
FHIRPath collection (a Python list of orjson values) to another. Steps skip values of the wrong
shape instead of raising, so malformed input simply yields nothing. ``fhirpath_compile`` builds
branches from expressions; the extractor runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

Collection = list[Any]
Step = Callable[[Collection], Collection]


@dataclass(slots=True)
class Branch:
    """One statically typed path: start at the anchor, read ``key`` (if any), then apply ``run``."""

    type: str | None  # FHIR type (or backbone path) of every value; None: unknown
    key: str | None  # first JSON key read from the anchor; None: start at the anchor itself
    steps: tuple[Step, ...]
    sig: str  # canonical text: equal sig, equal values (lets parameters share one evaluation)
    root: bool = False  # anchored at %resource instead of the evaluation context
    constant: bool = False  # a literal: independent of any anchor
    run: Step | None = field(init=False)  # steps fused into one callable; None: identity

    def __post_init__(self) -> None:
        self.run = chain(self.steps)

    def evaluate(self, collection: Collection) -> Collection:
        if self.key is not None:
            collection = member_step(self.key)(collection)
        if self.run is None or not collection:
            return collection
        return self.run(collection)


# --- steps ------------------------------------------------------------------------------------------


def chain(steps: tuple[Step, ...]) -> Step | None:
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def run(collection: Collection) -> Collection:
        for step in steps:
            collection = step(collection)
            if not collection:
                break
        return collection

    return run


@cache
def member_step(key: str) -> Step:
    def member(collection: Collection) -> Collection:
        out: Collection = []
        for item in collection:
            if type(item) is dict:
                value = item.get(key)
                if value is not None:
                    if type(value) is list:
                        out.extend(value)
                    else:
                        out.append(value)
        return out

    return member


def filter_step(predicate: Callable[[Any], bool]) -> Step:
    def where(collection: Collection) -> Collection:
        return [item for item in collection if predicate(item)]

    return where


def slice_step(start: int, stop: int) -> Step:
    def index(collection: Collection) -> Collection:
        return collection[start:stop]

    return index


def evaluator(branch: Branch) -> Step:
    key, run = branch.key, branch.run
    if key is None:
        return run or identity
    member = member_step(key)
    if run is None:
        return member

    def evaluate(collection: Collection) -> Collection:
        values = member(collection)
        return run(values) if values else values

    return evaluate


def identity(collection: Collection) -> Collection:
    return collection


def collapse(branches: list[Branch]) -> Step:
    """One callable returning the concatenated values of all branches."""
    evaluators = [evaluator(b) for b in branches]
    if len(evaluators) == 1:
        return evaluators[0]

    def evaluate(collection: Collection) -> Collection:
        out: Collection = []
        for ev in evaluators:
            out.extend(ev(collection))
        return out

    return evaluate


# --- FHIRPath value semantics ------------------------------------------------------------------


def fp_equal(a: Any, b: Any) -> bool:
    """FHIRPath ``=`` on two items: no implicit conversion between strings, booleans and numbers."""
    ta, tb = type(a), type(b)
    if ta is tb:
        return bool(a == b)
    numbers = (int, float, Decimal)
    if ta in numbers and tb in numbers:
        return bool(a == b)
    return False


def to_boolean(collection: Collection) -> bool | None:
    """Singleton evaluation of a collection where a Boolean is expected (spec 4.5)."""
    if len(collection) != 1:
        return None
    value = collection[0]
    return value if type(value) is bool else True


def distinct(values: Collection) -> Collection:
    out: Collection = []
    for value in values:
        if not any(fp_equal(value, seen) for seen in out):
            out.append(value)
    return out


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _xor(a: bool | None, b: bool | None) -> bool | None:
    return None if a is None or b is None else a != b


def _implies(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is True:
        return True
    return None if a is None or b is None else b


LOGIC = {"and": _and, "or": _or, "xor": _xor, "implies": _implies}
