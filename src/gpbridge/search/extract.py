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
from gpbridge.search.convert import KINDS, Converter, converter_for
from gpbridge.search.fhirpath_compile import Branch, Step, compile_expression
from gpbridge.search.index_values import IndexValues

__all__ = ["SKIPPED_PARAMETERS", "Extractor", "IndexValues", "extractor_for"]

# Kept as columns by the store (_id, _lastUpdated) or not answered from the index at all.
SKIPPED_PARAMETERS = frozenset(
    {"_id", "_lastUpdated", "_text", "_content", "_query", "_filter", "_list", "_has", "_type"}
)

# A shared branch evaluation and the (converter, param) pairs that consume its values.
_Task = tuple[Step | None, tuple[tuple[Converter, str], ...]]


class Extractor:
    """Index extraction for one resource type. Build once per type (``extractor_for``)."""

    def __init__(self, type_: str, params: Mapping[str, Mapping[str, Any]]) -> None:
        self.type = type_
        self.skipped: list[str] = []  # not extracted: store columns, special, no expression here
        self.fallbacks: list[str] = []  # (partly) evaluated by fhirpathpy instead of natively
        self._composites = CompositePlan(type_)
        consumers: dict[tuple[str, bool], tuple[Branch, list[tuple[Converter, str]]]] = {}
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
                entry = consumers.setdefault((branch.sig, branch.key is None), (branch, []))
                if (conv, code) not in entry[1]:
                    entry[1].append((conv, code))
        self.fallbacks.extend(c for c in self._composites.fallbacks if c not in self.fallbacks)
        self._by_key: dict[str, list[_Task]] = {}
        self._unkeyed: list[_Task] = []  # branches starting at the resource itself
        for branch, pairs in consumers.values():
            task = (branch.run, tuple(pairs))
            if branch.key is None:
                self._unkeyed.append(task)
            else:
                self._by_key.setdefault(branch.key, []).append(task)

    def extract(self, resource: Any) -> IndexValues:
        """The index rows for ``resource``. Never raises: malformed parts index nothing."""
        iv = IndexValues()
        if type(resource) is not dict:
            return iv
        by_key = self._by_key
        for key, value in resource.items():
            tasks = by_key.get(key)
            if tasks is None or value is None:
                continue
            start = value if type(value) is list else [value]
            for run, pairs in tasks:
                values = start if run is None else run(start)
                if values:
                    for conv, param in pairs:
                        for item in values:
                            conv(item, param, iv)
        if self._unkeyed:
            context = [resource]
            for run, pairs in self._unkeyed:
                values = context if run is None else run(context)
                for conv, param in pairs:
                    for item in values:
                        conv(item, param, iv)
        if self._composites:
            self._composites.extract(resource, iv)
        iv.deduplicate()
        return iv


@cache
def extractor_for(type_: str) -> Extractor:
    """The extractor for ``type_`` over the registry compiled into ``gpbridge.fhir.spec``."""
    from gpbridge.fhir.spec import search_parameters_for

    return Extractor(type_, search_parameters_for(type_))
