"""Checking plans for the base specification: what ``fhir.core_checks`` must do per type.

A ``BasePlan`` is built once per type key (as in ``fhir.structure``: "Observation",
"Observation.component", "Quantity"), from spec/types.json and the base-type entries of
spec/profiles.json: the type's invariants (split into those that always run and those that hold
trivially unless the object has one of their guard keys), and a ``Slot`` per JSON key that needs
anything: a binding, reference targets, element invariants, datatype profiles, a child object to
enter, a nested resource, or extensions. Keys that need nothing have no slot, so a walk skips
them with one dict lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpbridge.fhir import bindings, profiles, spec
from gpbridge.fhir.invariants import Invariant, from_constraint

Json = dict[str, Any]

PLAIN, EXTENSION, IDENTIFIER = range(3)


@dataclass(slots=True)
class Slot:
    key: str
    label: str  # "Observation.status": for messages
    type_code: str | None  # datatype of the values (for bindings)
    child: str | None  # type key of the objects to walk into
    resource: bool
    binding: tuple[str, str] | None
    targets: frozenset[str] | None
    invariants: tuple[Invariant, ...]
    type_profiles: tuple[str, ...]
    extension: bool  # an extension/modifierExtension list: check definitions and context
    valueset: bindings.ValueSet | None = None  # the bound value set when it can be enumerated
    child_plan: BasePlan | None = None  # resolved on first use (plans refer to each other)
    only_child: bool = False  # nothing to check but the child object(s): the walk inlines it


@dataclass(slots=True)
class BasePlan:
    type_key: str
    datatype: str  # what an extension context names this as ("Identifier", "Patient", "BackboneElement")
    slots: dict[str, Slot]
    keys: frozenset[str]
    invariants: tuple[Invariant, ...]  # evaluated on every object
    guarded: tuple[Invariant, ...]  # hold trivially unless the object has one of guard_keys
    guard_keys: frozenset[str]
    best_practice: tuple[Invariant, ...]
    kind: int
    # No checks of its own: an object of this type with none of ``keys`` needs no visit at all
    # (a Coding without extensions), so callers skip the call.
    passive: bool = False


_plans: dict[str, BasePlan] = {}
_plans_generation = [-1]


def base_plan(type_key: str) -> BasePlan:
    if _plans_generation[0] != profiles.generation():
        _plans.clear()
        _plans_generation[0] = profiles.generation()
    found = _plans.get(type_key)
    if found is None:
        found = _plans[type_key] = _build(type_key)
    return found


def _base_elements(type_name: str) -> dict[str, Json]:
    entry = profiles.builtin().get(profiles.base_url(type_name))
    return entry["elements"] if entry else {}


def _build(type_key: str) -> BasePlan:
    type_name, _, inner = type_key.partition(".")
    definition = spec.types()[type_name]
    base = _base_elements(type_name)
    resource_type = type_name if definition["kind"] == "resource" else None
    own = [
        from_constraint(c, type_key, resource_type) for c in base.get(inner, {}).get("constraints", ())
    ]
    if definition["kind"] == "primitive-type":
        elements = {"extension": spec.types()["Element"]["elements"]["extension"]}
        prefix = ""
    else:
        elements = definition["elements"]
        prefix = inner + "." if inner else ""
    slots: dict[str, Slot] = {}
    for path, el in elements.items():
        if not path.startswith(prefix) or "." in path[len(prefix) :]:
            continue
        for slot in _slots(type_name, path, path[len(prefix) :], el, base, resource_type):
            slots[slot.key] = slot
    if inner:
        datatype = "BackboneElement"
    else:
        datatype = type_name
    kind = {"Extension": EXTENSION, "Identifier": IDENTIFIER}.get(type_key, PLAIN)
    regular = [i for i in own if not i.best_practice]
    guarded = tuple(i for i in regular if i.guard is not None)
    return BasePlan(
        type_key,
        datatype,
        slots,
        frozenset(slots),
        tuple(i for i in regular if i.guard is None),
        guarded,
        frozenset().union(*(i.guard for i in guarded if i.guard is not None)),
        tuple(i for i in own if i.best_practice),
        kind,
        passive=kind == PLAIN and not own,
    )


def _slots(
    type_name: str, path: str, name: str, el: Json, base: dict[str, Json], resource_type: str | None
) -> list[Slot]:
    ref = el.get("contentReference")
    types: list[str] = [] if ref else list(el.get("types", ()))
    choice = name.endswith("[x]")
    stem = name[:-3] if choice else name
    label = f"{type_name}.{path}"
    extras = base.get(path, {})
    type_profiles = tuple(p for t in extras.get("types", ()) for p in t.get("profiles", ()))
    binding = el.get("binding")
    bound = (
        (binding["strength"], binding["valueSet"])
        if binding and binding.get("valueSet") and bindings.checkable(binding["strength"], binding["valueSet"])
        else None
    )
    out = []
    if ref:
        out.append(_slot(stem, label, None, f"{type_name}.{ref}", False, None, None, (), ()))
        return out
    for code in types:
        key = stem + code[0].upper() + code[1:] if choice else stem
        kind = spec.types()[code]["kind"] if code not in ("BackboneElement", "Element", "Resource") else code
        invariants = tuple(from_constraint(c, code, resource_type) for c in extras.get("constraints", ()))
        targets = frozenset(el.get("targets", ())) if code == "Reference" and el.get("targets") else None
        if kind in ("BackboneElement", "Element"):
            out.append(_slot(key, label, code, f"{type_name}.{path}", False, None, None, (), ()))
        elif kind == "Resource":
            out.append(_slot(key, label, code, None, True, None, None, (), ()))
        elif kind == "primitive-type":
            if bound or invariants:
                out.append(_slot(key, label, code, None, False, bound, None, invariants, ()))
            out.append(_slot("_" + key, label, code, code, False, None, None, (), ()))
        else:
            out.append(_slot(key, label, code, code, False, bound, targets, invariants, type_profiles))
    return out


def _slot(
    key: str,
    label: str,
    type_code: str | None,
    child: str | None,
    resource: bool,
    binding: tuple[str, str] | None,
    targets: frozenset[str] | None,
    invariants: tuple[Invariant, ...],
    type_profiles: tuple[str, ...],
) -> Slot:
    vs = bindings.valueset(binding[1]) if binding is not None else None
    only_child = (
        child is not None
        and not resource
        and binding is None
        and targets is None
        and not invariants
        and not type_profiles
        and key not in ("extension", "modifierExtension")
    )
    return Slot(
        key,
        label,
        type_code,
        child,
        resource,
        binding,
        targets,
        invariants,
        type_profiles,
        key in ("extension", "modifierExtension"),
        vs if vs is not None and vs.complete and type_code in _CODE_TYPES else None,
        only_child=only_child,
    )


_CODE_TYPES = frozenset({"code", "string", "uri"})




def is_extension_slot(slot: Slot) -> bool:
    """Slots that only matter when extensions are present: extension lists and ``_name`` objects."""
    return slot.extension or slot.key.startswith("_")


_inert: dict[str, bool] = {}


def inert_without_extensions(type_key: str, visiting: frozenset[str] = frozenset()) -> bool:
    """Whether an object of this type can only ever yield issues through extensions (a Coding, a
    CodeableConcept): in a resource without extensions such objects need no visit at all."""
    if _plans_generation[0] != profiles.generation():
        base_plan(type_key)  # clears the caches
        _inert.clear()
    found = _inert.get(type_key)
    if found is not None:
        return found
    if type_key in visiting:
        return False  # a cycle (Identifier -> Reference -> Identifier): be conservative
    plan = base_plan(type_key)
    result = plan.passive and all(
        is_extension_slot(slot)
        or (slot.only_child and inert_without_extensions(slot.child or "", visiting | {type_key}))
        for slot in plan.slots.values()
    )
    if not visiting:
        _inert[type_key] = result
    return result
