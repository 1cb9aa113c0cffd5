"""Invariants (ElementDefinition.constraint) ready to run: native closure first, fhirpathpy after.

``invariant(constraint, context_type, resource_type)`` is cached per (key, expression, context),
so a profile that many plans share compiles once. ``Invariant.holds(focus, env)`` answers True
(satisfied, including an empty result), False (violated) or None (could not be evaluated by either
engine: the validator reports that as a warning rather than guessing).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from gpbridge.fhir import fhirpath, spec
from gpbridge.fhir.fhirpath_py import Env, Native, Unsupported, compile_expression
from gpbridge.fhir.fhirpath_values import FhirPathError


@dataclass(slots=True)
class Invariant:
    key: str
    severity: str
    human: str
    expression: str
    best_practice: bool
    context_type: str | None  # fhirpathpy type path for a non-resource focus
    native: Native | None
    why_not_native: str = ""
    # JSON keys without which the invariant holds trivially (None: it must always run).
    guard: frozenset[str] | None = None

    def holds(self, focus: Any, env: Env) -> bool | None:
        native = self.native
        if native is not None:
            keys = native.guard_keys
            # isdisjoint iterates the focus's few keys, not the guard's (102 for ext-1's value[x]).
            if keys is not None and type(focus) is dict and keys.isdisjoint(focus):
                return _passes(native.result_when_absent)
            try:
                return _passes(native.fn((focus,), env))
            except FhirPathError:
                pass  # the spec calls this an error: let the reference engine decide
        try:
            result = fhirpath.evaluate(self.expression, focus, self.context_type, env.resource, env.root)
        except Exception:  # noqa: BLE001 - fhirpathpy raises bare Exceptions for unsupported input
            return None
        return _passes(result)


def _passes(result: Any) -> bool:
    # An invariant is violated only by an explicit false; empty means "does not apply".
    return not (len(result) == 1 and result[0] is False)


@cache
def invariant(
    key: str,
    severity: str,
    human: str,
    expression: str,
    best_practice: bool,
    context_type: str | None,
    resource_type: str | None,
) -> Invariant:
    native: Native | None = None
    why = ""
    try:
        native = compile_expression(expression, context_type, resource_type)
    except Unsupported as exc:
        why = str(exc)
    fhirpathpy_type = context_type if context_type and "." in context_type or _is_datatype(context_type) else None
    guard = None
    if native is not None and native.guard_keys is not None and _passes(native.result_when_absent):
        guard = native.narrow_guard or native.guard_keys
    return Invariant(key, severity, human, expression, best_practice, fhirpathpy_type, native, why, guard)


def from_constraint(constraint: dict[str, Any], context_type: str | None, resource_type: str | None) -> Invariant:
    return invariant(
        constraint["key"],
        constraint.get("severity", "error"),
        constraint.get("human", ""),
        constraint["expression"],
        bool(constraint.get("bestPractice")),
        context_type,
        resource_type,
    )


def _is_datatype(type_name: str | None) -> bool:
    definition = spec.type_def(type_name) if type_name else None
    return definition is not None and definition["kind"] != "resource"
