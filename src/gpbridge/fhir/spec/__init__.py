"""FHIR R4 definitions compiled by tools/compile_spec.py from the hl7.fhir.r4.core package.

Each artefact is read once, on first use, so importing this module costs nothing; the returned
objects are shared and must be treated as read-only.

- ``search_parameters()``: {type: {code: {type, expression, url, targets, modifiers, comparators,
  chains, components}}}; the key "Resource" holds the system-level parameters.
- ``types()``: {type: {kind, abstract, base, elements: {relative path: {types, min, max, ...}}}}.
- ``valuesets()``: {url: {system: [codes]}} or {url: {"incomplete": True}} for required bindings.
- ``compartments()``: {compartment: {resource type: [search parameter codes]}}.
- ``resource_types()``: concrete resource type names.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).parent


def _load(name: str) -> Any:
    return orjson.loads((HERE / name).read_bytes())


@cache
def search_parameters() -> dict[str, dict[str, dict[str, Any]]]:
    return _load("search_parameters.json")


def search_parameters_for(type_: str) -> dict[str, dict[str, Any]]:
    """The parameters searchable on ``type_`` ({} for an unknown type)."""
    return search_parameters().get(type_, {})


@cache
def types() -> dict[str, dict[str, Any]]:
    return _load("types.json")


def type_def(name: str) -> dict[str, Any] | None:
    """The definition of a resource, datatype or primitive, or None when there is no such type."""
    return types().get(name)


@cache
def resource_types() -> frozenset[str]:
    return frozenset(_load("resource_types.json"))


def is_resource_type(name: str) -> bool:
    """True for concrete resource types (Patient, Bundle...), False for Resource, DomainResource and others."""
    return name in resource_types()


@cache
def valuesets() -> dict[str, dict[str, Any]]:
    return _load("valuesets.json")


@cache
def compartments() -> dict[str, dict[str, list[str]]]:
    return _load("compartments.json")
