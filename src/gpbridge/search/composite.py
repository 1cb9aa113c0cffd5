"""Composite search parameters: correlated values of several components within one element.

``component-code-value-quantity`` must pair each Observation.component's code with *that*
component's value, so the base expression is evaluated first and every component relative to each
resulting element; rows are the cross product of the component values of one element.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpbridge.search.convert import KINDS, Converter, converter_for
from gpbridge.search.fhirpath_compile import compile_expression
from gpbridge.search.fhirpath_runtime import Branch, Step, evaluator
from gpbridge.search.index_values import IndexValues

_KIND_ROWS = {
    "string": "strings",
    "date": "dates",
    "number": "numbers",
    "quantity": "quantities",
    "reference": "references",
    "uri": "uris",
}


@dataclass(slots=True)
class _Part:
    """One typed branch of a component, evaluated relative to the base element."""

    key: str | None
    run: Step | None
    root: bool  # reads from %resource, not from the element
    conv: Converter

    def values(self, element: dict[str, Any], resource: dict[str, Any]) -> list[Any]:
        source = resource if self.root else element
        if self.key is None:
            return [source] if self.run is None else self.run([source])
        value = source.get(self.key)
        if value is None:
            return []
        start = value if type(value) is list else [value]
        return start if self.run is None else self.run(start)


@dataclass(slots=True)
class _Component:
    kind: str
    parts: list[_Part]
    keys: tuple[str, ...] | None  # when every part is one key of the element: a cheap presence test

    def present(self, element: dict[str, Any], resource: dict[str, Any]) -> bool:
        if self.keys is not None:
            for key in self.keys:
                if key in element:
                    return True
            return False
        for part in self.parts:
            if part.values(element, resource):
                return True
        return False

    def convert(
        self, element: dict[str, Any], resource: dict[str, Any], first: bool
    ) -> list[tuple[Any, ...]]:
        """The first (token) component as ``(system, code)`` pairs; others as
        ``(kind, *row-without-param)``, e.g. ``("quantity", system, code, value)``."""
        scratch = IndexValues()
        for part in self.parts:
            for value in part.values(element, resource):
                part.conv(value, "", scratch)
        if self.kind == "token":
            codes = [(s, c) for _, s, c, _ in scratch.tokens if c is not None]
            out: list[tuple[Any, ...]] = codes if first else [("token", s, c) for s, c in codes]
        else:
            rows: list[tuple[Any, ...]] = getattr(scratch, _KIND_ROWS[self.kind])
            out = [(self.kind, *row[1:]) for row in rows]
        return list(dict.fromkeys(out))


# Composites grouped by base element: evaluate the base once, then every composite over it.
_Group = tuple[Step, list[tuple[str, list[_Component]]]]


class CompositePlan:
    """The composite parameters of one resource type, compiled."""

    def __init__(self, resource_type: str) -> None:
        self.resource_type = resource_type
        self.fallbacks: list[str] = []
        self._groups: dict[str, _Group] = {}
        self._components: dict[tuple[str, str, str], _Component] = {}

    def add(self, code: str, bases: list[Branch], components: list[Mapping[str, Any]]) -> bool:
        """Plan parameter ``code``; False when it can never produce a row here."""
        if len(components) < 2 or any(
            c.get("type") not in KINDS or not c.get("expression") for c in components
        ):
            return False
        added = False
        for base in bases:
            if base.type is None:
                continue
            planned = [self._component(code, base.type, c["expression"], c["type"]) for c in components]
            if all(c.parts for c in planned):
                group = self._groups.setdefault(base.sig, (evaluator(base), []))
                group[1].append((code, planned))
                added = True
        return added

    def _component(self, code: str, base_type: str, expression: str, kind: str) -> _Component:
        # Interned: composites sharing a component (``code`` in code-value-quantity and
        # code-value-concept) convert its values once per element.
        key = (base_type, expression, kind)
        if key not in self._components:
            compiled = compile_expression(expression, base_type, self.resource_type)
            if not compiled.native:
                self.fallbacks.append(code)
            parts = [
                _Part(b.key, b.run, b.root, conv)
                for b in compiled.branches
                if (conv := converter_for(kind, b.type)) is not None
            ]
            simple = all(p.key is not None and p.run is None and not p.root for p in parts)
            keys = tuple(p.key for p in parts if p.key is not None) if simple else None
            self._components[key] = _Component(kind, parts, keys)
        return self._components[key]

    def __bool__(self) -> bool:
        return bool(self._groups)

    def extract(self, resource: dict[str, Any], iv: IndexValues) -> None:
        context = [resource]
        for base, composites in self._groups.values():
            for element in base(context):
                if type(element) is dict:
                    _extract_element(composites, element, resource, iv)


def _extract_element(
    composites: list[tuple[str, list[_Component]]],
    element: dict[str, Any],
    resource: dict[str, Any],
    iv: IndexValues,
) -> None:
    memo: dict[int, list[tuple[Any, ...]]] = {}
    for code, components in composites:
        # The value components are the ones usually absent: test them first, convert nothing yet.
        for component in reversed(components):
            if not component.present(element, resource):
                break
        else:
            converted = []
            for i, component in enumerate(components):
                key = id(component) * 2 + (i == 0)  # the first position has its own tuple shape
                values = memo.get(key)
                if values is None:
                    values = memo[key] = component.convert(element, resource, first=i == 0)
                if not values:
                    break
                converted.append(values)
            else:
                for first, *rest in itertools.product(*converted):
                    second = rest[0] if len(rest) == 1 else ("composite", *rest)
                    iv.composites.append((code, first, second))
