"""Static R4 type information for compiling search FHIRPath: what type an element has, which JSON
keys a choice element (``value[x]``) appears under, and which names are resource types.

A thin view over ``gpbridge.fhir.element_types`` (the project's compiled spec/types.json), shaped
for the search compiler; lookups happen at compile time only. A "type" is a FHIR type name
("CodeableConcept", "dateTime", "Observation") or, for a backbone element, the path that defines it
("Observation.component").
"""

from __future__ import annotations

from functools import cache
from typing import Any

from gpbridge.fhir import spec
from gpbridge.fhir.element_types import PrimitiveNavigation, derives_from, member_of

__all__ = [
    "PrimitiveNavigation",
    "choice_keys",
    "fhir_model",
    "is_subtype",
    "member",
    "parent_type",
    "primitive_types",
    "resource_types",
    "type_specifier",
]


@cache
def fhir_model() -> dict[str, Any]:
    """fhirpathpy's R4 model, which the fhirpathpy fallback evaluates with."""
    from fhirpathpy.models import models

    return models["r4"]


@cache
def primitive_types() -> frozenset[str]:
    """FHIR primitive type names (lower-case initial), e.g. ``dateTime``, ``code``."""
    return frozenset(
        name for name, definition in spec.types().items() if definition["kind"] == "primitive-type"
    )


@cache
def resource_types() -> frozenset[str]:
    """Concrete resource type names."""
    return spec.resource_types()


def parent_type(type_: str) -> str | None:
    """The type ``type_`` specialises (Age -> Quantity, code -> string); backbones -> BackboneElement."""
    if "." in type_:
        return "BackboneElement"
    definition = spec.type_def(type_)
    return definition.get("base") if definition else None


def is_subtype(type_: str | None, ancestor: str) -> bool:
    """True when ``type_`` is ``ancestor`` or derives from it (Age is a Quantity, code is a string)."""
    return derives_from(type_, ancestor)


def type_specifier(name: str) -> str:
    """Normalise a type named in ``as``/``is``/``ofType``: strip ``FHIR.``/``System.``, and map
    capitalised primitives onto the FHIR primitive (``DateTime`` -> ``dateTime``), which is what a
    SearchParameter author means by ``value.as(DateTime)``."""
    for prefix in ("FHIR.", "System."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    lowered = name[:1].lower() + name[1:]
    return lowered if lowered in primitive_types() else name


def member(type_: str | None, name: str) -> tuple[tuple[str, str | None], ...]:
    """The JSON keys under which element ``name`` of ``type_`` appears, each with its type.

    A choice element yields one entry per allowed type; an element of an unknown type (or a
    resource, e.g. ``Bundle.entry.resource``) has type None; an element the type does not have
    yields (). Raises PrimitiveNavigation for a name inside a primitive."""
    found = member_of(type_, name)
    return ((name, None),) if found is None else found


@cache
def choice_keys(type_: str, name: str) -> dict[str, str]:
    """For a choice element, JSON key -> type (``{"valueString": "string", ...}``); else empty."""
    entries = member(type_, name)
    if len(entries) == 1 and entries[0][0] == name:
        return {}
    return {key: t for key, t in entries if t is not None}
