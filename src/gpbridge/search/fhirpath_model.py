"""Static R4 type information for compiling FHIRPath: what type an element has, which JSON keys a
choice element (``value[x]``) can appear under, and which names are resource types.

The data is the R4 model that ships with fhirpathpy (generated from the R4 StructureDefinitions), so
the compiler and the fhirpathpy fallback agree on the model. Lookups happen at compile time only.
"""

from __future__ import annotations

from functools import cache
from typing import Any

# A "type" here is a FHIR type name ("CodeableConcept", "dateTime", "Observation") or, for backbone
# elements that have no type of their own, the element path that defines them ("Observation.component").
TypeName = str


@cache
def fhir_model() -> dict[str, Any]:
    """fhirpathpy's R4 model dict (also what the fhirpathpy fallback evaluates with)."""
    from fhirpathpy.models import models

    return models["r4"]


@cache
def _backbone_paths() -> frozenset[str]:
    """Every proper prefix of a known element path: those are backbone elements (or resources)."""
    prefixes: set[str] = set()
    for path in fhir_model()["path2Type"]:
        parts = path.split(".")
        for i in range(1, len(parts)):
            prefixes.add(".".join(parts[:i]))
    for path in fhir_model()["choiceTypePaths"]:
        parts = path.split(".")
        for i in range(1, len(parts)):
            prefixes.add(".".join(parts[:i]))
    return frozenset(prefixes)


@cache
def primitive_types() -> frozenset[str]:
    """FHIR primitive type names (lower-case initial), e.g. ``dateTime``, ``code``."""
    names = {t for t in fhir_model()["path2Type"].values() if t[:1].islower()}
    names |= {t for t in fhir_model()["type2Parent"] if t[:1].islower()}
    return frozenset(names)


@cache
def resource_types() -> frozenset[str]:
    parents = fhir_model()["type2Parent"]
    return frozenset(t for t in parents if is_subtype(t, "Resource")) | {"Resource"}


def parent_type(type_: TypeName) -> TypeName | None:
    if "." in type_:  # a backbone element path
        return "BackboneElement"
    return fhir_model()["type2Parent"].get(type_)


def is_subtype(type_: TypeName | None, ancestor: TypeName) -> bool:
    """True when ``type_`` is ``ancestor`` or derives from it (Age is a Quantity, code is a string)."""
    while type_:
        if type_ == ancestor:
            return True
        type_ = parent_type(type_)
    return False


def choice_suffix_type(suffix: str) -> TypeName:
    """``valueDateTime`` -> ``dateTime``; ``valueQuantity`` -> ``Quantity``."""
    lowered = suffix[:1].lower() + suffix[1:]
    return lowered if lowered in primitive_types() else suffix


def type_specifier(name: str) -> TypeName:
    """Normalise a type named in ``as``/``is``/``ofType``: strip ``FHIR.``, and map System types and
    capitalised primitives onto the FHIR primitive (``DateTime`` -> ``dateTime``), which is what a
    search parameter author means by ``value.as(DateTime)``."""
    for prefix in ("FHIR.", "System."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return choice_suffix_type(name)


def _normalise(type_: str) -> TypeName:
    # ids and extension urls are typed System.String in the model; for indexing they are strings.
    return "string" if type_.startswith("System.") else type_


@cache
def member(type_: TypeName, name: str) -> tuple[tuple[str, TypeName | None], ...]:
    """The JSON keys under which element ``name`` of ``type_`` appears, each with its type.

    A choice element yields one entry per allowed type; an unknown element yields its own name with
    type None (navigated, but not typed)."""
    model = fhir_model()
    current: TypeName | None = type_
    while current:
        path = f"{current}.{name}"
        path = model["pathsDefinedElsewhere"].get(path, path)
        choices = model["choiceTypePaths"].get(path)
        if choices:
            return tuple((name + suffix, choice_suffix_type(suffix)) for suffix in choices)
        found = model["path2Type"].get(path)
        if found:
            return ((name, _normalise(found)),)
        if path in _backbone_paths():
            return ((name, path),)
        current = parent_type(current)
    return ((name, None),)


@cache
def choice_keys(type_: TypeName, name: str) -> dict[str, TypeName]:
    """For a choice element, JSON key -> type (``{"valueString": "string", ...}``); else empty."""
    entries = member(type_, name)
    if len(entries) == 1 and entries[0][0] == name:
        return {}
    return {key: t for key, t in entries if t is not None}
