"""Resource -> search index values, driven by the compiled SearchParameter registry.

``extractor_for("Observation").extract(resource)`` returns an ``IndexValues``: plain lists of tuples,
one list per index kind, ready for ``executemany``. Everything that depends only on the type is done
once in ``Extractor.__init__``: expressions compiled to typed branches, a converter chosen for each,
identical branches shared between parameters (``value-quantity`` and ``combo-value-quantity`` both
read ``valueQuantity``), and branches grouped by the first JSON key they read, so extracting a
resource only touches the parameters whose elements it actually has.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from gpbridge.search.composite import CompositePlan
from gpbridge.search.convert import KINDS, ROWS_OF, Converter, converter_for
from gpbridge.search.fhirpath_compile import compile_expression
from gpbridge.search.fhirpath_runtime import Branch, Step
from gpbridge.search.index_values import IndexValues

__all__ = ["SKIPPED_PARAMETERS", "Extractor", "IndexValues", "extractor_for"]

# Kept as columns by the store (_id, _lastUpdated) or not answered from the index at all.
SKIPPED_PARAMETERS = frozenset(
    {"_id", "_lastUpdated", "_text", "_content", "_query", "_filter", "_list", "_has", "_type"}
)

# Who consumes a branch's values: a converter, the IndexValues list it alone writes (None when it
# writes several), and every parameter it converts for.
_Consumer = tuple[Converter, str | None, tuple[str, ...]]
# A shared branch evaluation (None: the start collection itself) and its consumers.
_Task = tuple[Step | None, tuple[_Consumer, ...]]


class Extractor:
    """Index extraction for one resource type. Build once per type (``extractor_for``)."""

    def __init__(self, type_: str, params: Mapping[str, Mapping[str, Any]]) -> None:
        self.type = type_
        self.skipped: list[str] = []  # not extracted: store columns, special, no expression here
        self.fallbacks: list[str] = []  # (partly) evaluated by fhirpathpy instead of natively
        self._composites = CompositePlan(type_)
        consumers: dict[tuple[str, bool], tuple[Branch, dict[Converter, list[str]]]] = {}
        for code, spec in params.items():
            kind, expression = spec.get("type"), spec.get("expression")
            if code in SKIPPED_PARAMETERS or not expression or (kind not in KINDS and kind != "composite"):
                self.skipped.append(code)
                continue
            compiled = compile_expression(expression, type_)
            if not compiled.native:
                self.fallbacks.append(code)
            if kind == "composite":
                if not self._composites.add(code, compiled.branches, spec.get("components") or []):
                    self.skipped.append(code)
                continue
            for branch in compiled.branches:
                conv = converter_for(kind, branch.type)
                if conv is None:  # e.g. SampledData for value-quantity: nothing to index
                    continue
                params_by_conv = consumers.setdefault((branch.sig, branch.key is None), (branch, {}))[1]
                if code not in params_by_conv.setdefault(conv, []):
                    params_by_conv[conv].append(code)
        self.fallbacks.extend(c for c in self._composites.fallbacks if c not in self.fallbacks)
        self._by_key: dict[str, list[_Task]] = {}
        self._unkeyed: list[_Task] = []  # branches starting at the resource itself
        for branch, params_by_conv in consumers.values():
            task = (
                branch.run,
                tuple((conv, ROWS_OF.get(conv), tuple(ps)) for conv, ps in params_by_conv.items()),
            )
            if branch.key is None:
                self._unkeyed.append(task)
            else:
                self._by_key.setdefault(branch.key, []).append(task)

    def extract(self, resource: Any, *, deduplicate: bool = True) -> IndexValues:
        """The index rows for ``resource``. Never raises: malformed parts index nothing.

        ``deduplicate=False`` for callers that key the rows themselves (``store.index_rows``
        builds one row per table key): the repeats a union or repeated codings yield stay in.
        """
        iv = IndexValues()
        if type(resource) is not dict:
            return iv
        by_key = self._by_key
        for key, value in resource.items():
            tasks = by_key.get(key)
            if tasks is None or value is None:
                continue
            start = value if type(value) is list else [value]
            for run, consumers in tasks:
                values = start if run is None else run(start)
                if values:
                    _emit(values, consumers, iv)
        if self._unkeyed:
            context = [resource]
            for run, consumers in self._unkeyed:
                values = context if run is None else run(context)
                if values:
                    _emit(values, consumers, iv)
        if self._composites:
            self._composites.extract(resource, iv)
        if deduplicate:
            iv.deduplicate()
        return iv


def _emit(values: list[Any], consumers: tuple[_Consumer, ...], iv: IndexValues) -> None:
    for conv, rows_name, params in consumers:
        if len(params) == 1 or rows_name is None:
            for param in params:
                for item in values:
                    conv(item, param, iv)
            continue
        # Several parameters over the same values (code / combo-code): convert once, relabel.
        rows = getattr(iv, rows_name)
        mark = len(rows)
        for item in values:
            conv(item, params[0], iv)
        new = rows[mark:]
        for param in params[1:]:
            rows.extend([(param, *row[1:]) for row in new])


@cache
def extractor_for(type_: str) -> Extractor:
    """The extractor for ``type_`` over the registry compiled into ``gpbridge.fhir.spec``."""
    from gpbridge.fhir.spec import search_parameters_for

    return Extractor(type_, search_parameters_for(type_))
