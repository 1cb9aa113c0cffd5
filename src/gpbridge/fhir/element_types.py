"""Static element types from spec/types.json: what a name means inside a type.

A *type key* is what ``fhir.structure`` calls a table key: a type name ("Quantity", "Observation")
or a backbone element path ("Observation.component"). ``member_of`` answers, for an element name as
FHIRPath or a profile writes it (``value``, ``value[x]``, ``valueQuantity``, ``component``), which
JSON keys carry it and what type each has. The translator, the profile compiler's plans and the
validator's walks all navigate with it, so choice elements and content references are handled once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from gpbridge.fhir import spec

Member = tuple[str, str | None]  # (JSON key, type key or None when it is a resource / unknown)


class PrimitiveNavigation(LookupError):
    """A name looked up inside a primitive: its id/extension live in the ``_name`` sibling."""


def _parts(type_key: str) -> tuple[dict[str, Any], str, str] | None:
    type_name, _, inner = type_key.partition(".")
    definition = spec.type_def(type_name)
    if definition is None:
        return None
    return definition, type_name, inner + "." if inner else ""


def is_primitive(type_key: str | None) -> bool:
    if not type_key or "." in type_key:
        return False
    definition = spec.type_def(type_key)
    return definition is not None and definition["kind"] == "primitive-type"


def is_resource_type(type_key: str | None) -> bool:
    if not type_key or "." in type_key:
        return False
    definition = spec.type_def(type_key)
    return definition is not None and definition["kind"] == "resource"


@cache
def member_of(type_key: str | None, name: str) -> tuple[Member, ...] | None:
    """The JSON keys (with types) that carry element ``name`` of ``type_key``.

    None when the type is unknown; () when the type has no such element. Raises
    PrimitiveNavigation for names inside a primitive type.
    """
    if type_key is None:
        return None
    parts = _parts(type_key)
    if parts is None:
        return None
    definition, type_name, prefix = parts
    if definition["kind"] == "primitive-type":
        raise PrimitiveNavigation(f"{name} inside the primitive {type_key}")
    elements = definition["elements"]
    stem = name[:-3] if name.endswith("[x]") else name
    el = elements.get(prefix + stem)
    if el is not None and not name.endswith("[x]"):
        if el.get("contentReference"):
            return ((stem, f"{type_name}.{el['contentReference']}"),)
        types = el.get("types", ())
        return ((stem, _child_type(type_name, prefix + stem, types[0] if len(types) == 1 else None)),)
    el = elements.get(prefix + stem + "[x]")
    if el is not None:
        path = prefix + stem + "[x]"
        return tuple((stem + _cap(t), _child_type(type_name, path, t)) for t in el.get("types", ()))
    # A renamed choice ("valueQuantity") names one type of "value[x]".
    for path, el in elements.items():
        if path.startswith(prefix) and path.endswith("[x]") and "." not in path[len(prefix) :]:
            choice = path[len(prefix) : -3]
            if stem.startswith(choice) and len(stem) > len(choice):
                for t in el.get("types", ()):
                    if choice + _cap(t) == stem:
                        return ((stem, _child_type(type_name, path, t)),)
    return ()


def _cap(code: str) -> str:
    return code[0].upper() + code[1:]


def _child_type(type_name: str, path: str, code: str | None) -> str | None:
    if code in ("BackboneElement", "Element"):
        return f"{type_name}.{path}"
    if code is None or code == "Resource":
        return None
    return code


def derives_from(type_name: str | None, ancestor: str) -> bool:
    """True when ``type_name`` is ``ancestor`` or a specialisation of it (code -> string...)."""
    if type_name is not None and "." in type_name:
        return type_name == ancestor or ancestor in ("BackboneElement", "Element", "Base")
    while type_name:
        if type_name == ancestor:
            return True
        definition = spec.type_def(type_name)
        if definition is None:
            return False
        type_name = definition.get("base")
    return False


@cache
def choice_stems() -> frozenset[str]:
    """Every choice element name in R4 ("value", "effective", "onset"...)."""
    stems = set()
    for definition in spec.types().values():
        for path in definition["elements"]:
            if path.endswith("[x]"):
                stems.add(path.rsplit(".", 1)[-1][:-3])
    return frozenset(stems)


def type_of_path(type_name: str, path: str) -> str | None:
    """The type key at a dotted element path below a type ("code.coding" -> "Coding")."""
    current: str | None = type_name
    for name in path.split(".") if path else ():
        # A primitive's children (id, extension) are those of Element.
        members = member_of("Element" if is_primitive(current) else current, name)
        if not members:
            return None
        types = {t for _, t in members}
        current = types.pop() if len(types) == 1 else None
    return current
