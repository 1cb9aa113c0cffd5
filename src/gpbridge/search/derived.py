"""Search parameters that are unions of other parameters on the same type, resolved at query time.

``Observation.combo-code`` is ``Observation.code | Observation.component.code``: exactly the rows
of ``code`` and ``component-code`` together, and ``Patient.phonetic`` has the very expression of
``Patient.name``. Writing their rows again cost about an eighth of every index row an ingest wrote
(the combo-* parameters duplicate every Observation's code and value), so no rows are written for
such a parameter and every query shape asks for its source parameters' pids instead
(``search.sql.pid_filter``): the same rows, hence the same results, totals, ``:missing``
and sort order. Derived from the spec's expressions, never a hand-written list:

- a parameter's expression is split into its top-level ``|`` parts;
- taken by (number of parts, code), a parameter whose parts are exactly the union of the parts of
  parameters already kept (each wholly within it) is derived from those;
- composites must also have the same components (expression and type), in order;
- reference parameters are never unions: chains, ``_include`` and ``_has`` read their pid directly.

Reference *views* are the other kind (``reference_views``): ``Observation.patient`` is
``Observation.subject.where(resolve() is Patient)``, so its rows are exactly ``subject``'s rows
whose target type is a Patient (the row's ``ttype`` is the type ``resolve() is`` sees:
``search.convert.reference_reference``). A ninth of the index rows of a GP record were such
repeats (patient beside subject, practitioner beside participant). Every query shape (value,
``:missing``, chains, ``_has``, ``_include``, ``_revinclude``, ``_sort``) asks for the source's pid
with ``ttype`` among the view's types instead (``search.sql.pid_filter``). The write still
extracts the view's values: the patient compartment is worked out from ``patient``
(``store.compartment``).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, NamedTuple

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


class ReferenceView(NamedTuple):
    """A reference parameter answered from ``source``'s rows whose target type is in ``targets``."""

    source: str
    targets: tuple[str, ...]


# One alternative of a view: ``<path>.where(resolve() is <Type>)``
_RESOLVED_AS = re.compile(r"^(?P<path>.+)\.where\(resolve\(\) is (?:FHIR\.)?(?P<type>[A-Za-z]+)\)$")


@cache
def reference_views() -> dict[tuple[str, str], ReferenceView]:
    """``{(type, code): view}`` for every reference parameter whose every alternative is an
    alternative of one other reference parameter on the type, narrowed to the same resource type
    by ``where(resolve() is T)``, and that parameter has no other alternative."""
    from gpbridge.search.fhirpath_model import is_subtype, resource_types

    views: dict[tuple[str, str], ReferenceView] = {}
    for type_, params in spec.search_parameters().items():
        plain: dict[frozenset[str], str] = {}
        narrowed: list[tuple[str, frozenset[str], str]] = []
        for code, definition in sorted(params.items()):
            expression = definition.get("expression")
            if definition.get("type") != "reference" or not expression or (parts := _parts(expression)) is None:
                continue
            matches = [_RESOLVED_AS.match(part) for part in parts]
            if all(matches):
                targets = {m.group("type") for m in matches if m}
                if len(targets) == 1:
                    narrowed.append((code, frozenset(m.group("path") for m in matches if m), targets.pop()))
                    continue
            if not any(matches):
                plain.setdefault(parts, code)
        for code, paths, target in narrowed:
            source = plain.get(paths)
            if source is not None:
                accepted = tuple(sorted(t for t in resource_types() if is_subtype(t, target)))
                if accepted:
                    views[(type_, code)] = ReferenceView(source, accepted)
    return views


def derived_codes(type_: str) -> frozenset[str]:
    """The codes on ``type_`` that get no index rows of their own (unions and reference views)."""
    return _by_type().get(type_, frozenset())


@cache
def _by_type() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for type_, code in [*derived_params(), *reference_views()]:
        out.setdefault(type_, set()).add(code)
    return {t: frozenset(c) for t, c in out.items()}
