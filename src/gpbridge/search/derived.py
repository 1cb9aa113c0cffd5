"""Search parameters that are unions of other parameters on the same type, resolved at query time.

``Observation.combo-code`` is ``Observation.code | Observation.component.code``: exactly the rows
of ``code`` and ``component-code`` together, and ``Patient.phonetic`` has the very expression of
``Patient.name``. Writing their rows again cost about an eighth of every index row an ingest wrote
(the combo-* parameters duplicate every Observation's code and value), so no rows are written for
such a parameter and every query shape asks for its source parameters' pids instead
(``search.sql.SqlBuilder.pids_for``): the same rows, hence the same results, totals, ``:missing``
and sort order. Derived from the spec's expressions, never a hand-written list:

- a parameter's expression is split into its top-level ``|`` parts;
- taken by (number of parts, code), a parameter whose parts are exactly the union of the parts of
  parameters already kept (each wholly within it) is derived from those;
- composites must also have the same components (expression and type), in order;
- reference parameters are never derived: chains, ``_include`` and ``_has`` read their pid directly.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from gpbridge.fhir import spec

_NEVER = frozenset({"reference", "special"})


def _parts(expression: str) -> frozenset[str] | None:
    """The top-level ``|`` alternatives, or None when a ``|`` sits inside brackets."""
    parts = [p.strip() for p in expression.split(" | ")]
    for part in parts:
        if part.count("(") != part.count(")") or part.count("[") != part.count("]"):
            return None
    return frozenset(parts)


def _components(definition: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((c.get("expression", ""), c.get("type", "")) for c in definition.get("components") or ())


@cache
def derived_params() -> dict[tuple[str, str], tuple[str, ...]]:
    """``{(type, code): source codes}`` for every parameter whose rows are its sources' rows."""
    derived: dict[tuple[str, str], tuple[str, ...]] = {}
    for type_, params in spec.search_parameters().items():
        kept: list[tuple[str, str, frozenset[str], tuple]] = []  # (code, kind, parts, components)
        candidates = []
        for code, definition in params.items():
            kind, expression = definition.get("type"), definition.get("expression")
            if kind in _NEVER or not expression or (parts := _parts(expression)) is None:
                continue
            candidates.append((len(parts), code, kind, parts, _components(definition)))
        for _, code, kind, parts, components in sorted(candidates):
            sources = [(c, p) for c, k, p, comp in kept if k == kind and comp == components and p <= parts]
            covered = frozenset().union(*(p for _, p in sources)) if sources else frozenset()
            if covered == parts:
                # the fewest sources: drop any whose parts the others already cover
                chosen = _minimal(sources)
                derived[(type_, code)] = tuple(c for c, _ in chosen)
            else:
                kept.append((code, kind, parts, components))
    return derived


def _minimal(sources: list[tuple[str, frozenset[str]]]) -> list[tuple[str, frozenset[str]]]:
    """Sources covering the union without a redundant one (rows would only repeat)."""
    chosen = list(sources)
    for item in sorted(sources, key=lambda s: len(s[1])):
        rest = [s for s in chosen if s is not item]
        if rest and frozenset().union(*(p for _, p in rest)) == frozenset().union(*(p for _, p in chosen)):
            chosen = rest
    return chosen


def derived_codes(type_: str) -> frozenset[str]:
    """The codes on ``type_`` that get no index rows of their own."""
    return _by_type().get(type_, frozenset())


@cache
def _by_type() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for type_, code in derived_params():
        out.setdefault(type_, set()).add(code)
    return {t: frozenset(c) for t, c in out.items()}
