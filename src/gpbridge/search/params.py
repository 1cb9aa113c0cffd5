"""The search-parameter registry: every R4 SearchParameter, compiled from the package into fhir/spec.

Nothing here is hand-listed except the *result* parameters (``_count``, ``_sort``…), which are
part of the search protocol rather than SearchParameter resources.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from gpbridge.fhir import spec

# Parameters that shape the result rather than select resources.
RESULT_PARAMETERS = frozenset({
    "_count", "_offset", "_page", "_sort", "_total", "_summary", "_elements", "_include", "_revinclude",
    "_format", "_pretty", "_contained", "_containedType", "_type",
})

# Parameters the store keeps as columns of the resource table rather than in index tables.
COLUMN_PARAMETERS = frozenset({"_id", "_lastUpdated"})

# Defined by the spec but not supported by this server (reported as ignored, or 400 when strict).
UNSUPPORTED_PARAMETERS = frozenset({"_text", "_content", "_query", "_filter", "_list", "near"})


@cache
def params_for(type_: str) -> dict[str, dict[str, Any]]:
    """``{code: definition}`` for a resource type (``Resource`` for system-level search)."""
    return spec.search_parameters_for(type_)


def param(type_: str, code: str) -> dict[str, Any] | None:
    return params_for(type_).get(code)


def is_resource_type(name: str) -> bool:
    return spec.is_resource_type(name)


def reference_targets(type_: str, code: str) -> list[str]:
    definition = param(type_, code) or {}
    return list(definition.get("targets") or [])
