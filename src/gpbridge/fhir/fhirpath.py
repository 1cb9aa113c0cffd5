"""fhirpathpy behind a compiled-expression cache: the reference FHIRPath engine and the fallback
for expressions the native translator (``fhir.fhirpath_py``) does not cover.

Expressions are parsed once. A focus that is not a resource is wrapped in a typed node
(``ResourceNode.create_node(focus, "Observation.component")``) so fhirpathpy resolves choice
elements (``value`` -> ``valueQuantity``) as it does for whole resources. %resource and
%rootResource are passed explicitly: fhirpathpy has no default for them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

R4 = models["r4"]


def _html_checks(inputs: list[Any]) -> list[Any]:
    # Matches the native translator: Narrative XHTML is not parsed here (see fhirpath_py).
    return [True] if inputs else []


def _has_value(inputs: list[Any]) -> list[Any]:
    # fhirpathpy 2.x lacks hasValue(); per-1 and ele-1 use it. Inputs arrive unwrapped.
    return [len(inputs) == 1 and type(inputs[0]) in (str, int, float, bool)]


def _quiet_trace(*args: Any) -> None:
    """fhirpathpy prints trace() output to stdout by default; invariants (dom-3) call trace()."""


OPTIONS: dict[str, Any] = {
    "traceFn": _quiet_trace,
    "userInvocationTable": {
        "htmlChecks": {"fn": _html_checks, "arity": {0: []}},
        "hasValue": {"fn": _has_value, "arity": {0: []}},
    }
}


@cache
def compiled(expression: str) -> Callable[..., list[Any]]:
    """The fhirpathpy function for ``expression`` (raises on a syntax error)."""
    return fhirpathpy.compile(expression, R4, OPTIONS)  # type: ignore[arg-type]


def evaluate(
    expression: str,
    focus: Any,
    type_path: str | None = None,
    resource: Any = None,
    root: Any = None,
) -> list[Any]:
    """Evaluate ``expression`` on ``focus`` (typed by ``type_path`` when it is not a resource)."""
    node = focus
    if type_path is not None and not (isinstance(focus, dict) and "resourceType" in focus):
        node = ResourceNode.create_node(focus, type_path)
    resource = focus if resource is None else resource
    env = {"resource": resource, "rootResource": root if root is not None else resource, "context": focus}
    return list(compiled(expression)(node, env))
