"""The checks every resource gets from the base specification, beyond ``fhir.structure``:

- required bindings of R4 elements (and extensible/preferred ones whose value set is known);
- the invariants of resources, backbone elements and datatypes (dom-*, obs-6/7, per-1, qty-3,
  ref-1, ext-1...), natively where the translator covers them;
- datatype profiles used by base elements (SimpleQuantity in ``referenceRange.low``...);
- reference target types (``Observation.subject`` may not point at a Medication);
- every extension against its definition, including where it may be used (context);
- NHS numbers on ``https://fhir.nhs.uk/Id/nhs-number`` identifiers;
- contained resources and Bundle entries, recursively, with the profiles they claim.

Each ``BasePlan`` (``fhir.core_plans``) becomes a walker: a closure with the plan's constants
bound in, and one small handler per slot. This is the hot path of every write, so the common
case is kept to a few dict and set operations per object: invariants are called directly (the
guarded ones only when their keys are present), a code in an enumerable value set costs one set
lookup, ``Patient/123`` to an allowed target is accepted without parsing, objects of a type with
nothing to check of its own and no key of interest (a Coding without extensions) are not
entered, and FHIRPath expressions for issues are only rendered when an issue is reported.

``walk_resource(..., structure=True)`` (what ``validate`` runs) does ``fhir.structure``'s checks in
the same pass: each key of an object is looked up once, in a table holding both its structural
element and its content handler; a subtree with no content check left in it goes to
``structure.check_object``; structural issues collect in ``Run.structure`` in the order the
structure check alone would give them. The write path, which has run the structure check
already, walks with ``structure=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpbridge.fhir import bindings, conformance, profiles, reference_targets, spec
from gpbridge.fhir.core_plans import (
    EXTENSION,
    IDENTIFIER,
    BasePlan,
    Slot,
    base_plan,
    inert_without_extensions,
    is_extension_slot,
)
from gpbridge.fhir.extension_context import allowed_here, describe
from gpbridge.fhir.fhirpath_values import FhirPathError
from gpbridge.fhir.identifier_checks import NHS_NUMBER_SYSTEM, identifier_problems
from gpbridge.fhir.invariants import Invariant
from gpbridge.fhir.structure import (
    COMPLEX,
    FAST_PRINTABLE,
    FAST_TOKEN,
    PRIMITIVE,
    RESOURCE,
    SKIP,
    Element,
    check_member,
    check_required,
    check_subtree,
    choice_seen,
    id_alone,
    passes_fast,
    resource_type_at,
    scalar_problem,
    table,
    unknown_element,
)
from gpbridge.fhir.validation_run import Path, Run, render

Json = dict[str, Any]
Walker = Callable[[Json, Path, Run, str], None]
Handler = Callable[[Any, Json, Path, Run, str], None]  # (value(s) under a key, its object, path, run, owner)
ItemChecker = Callable[[Any, Path, Json, Run, str], None]  # (one value, its path, its object, run, owner)


def walk_resource(
    resource: Json,
    path: str,
    run: Run,
    contained: bool = False,
    extra_profiles: tuple[str, ...] = (),
    structure: bool = False,
) -> None:
    """Base checks of a resource at ``path``, then the profiles it claims (and ``extra_profiles``).

    ``structure``: check its structure in the same pass (``fhir.structure``'s checks, issues in
    ``run.structure``); the caller has checked that it is an object of a known resource type.
    """
    rtype = resource.get("resourceType")
    if type(rtype) is not str or not spec.is_resource_type(rtype):
        return  # fhir.structure reports it
    nested = resource is not run.root  # the Run starts in the root resource's frame already
    if run.plain is None:
        run.plain = not has_extensions(resource)
    if nested:
        run.enter_resource(resource, path, contained)
    try:
        walker_for(rtype, run.plain, structure)(resource, path, run, rtype)
        if extra_profiles or "meta" in resource:
            claimed = claimed_profiles(resource)
            for url in claimed + [u for u in extra_profiles if u not in claimed]:
                conformance.check_profile(resource, url, path, run)
    finally:
        if nested:
            run.leave_resource()


def claimed_profiles(resource: Json) -> list[str]:
    meta = resource.get("meta")
    claimed = meta.get("profile") if type(meta) is dict else None
    if type(claimed) is not list:
        return []
    return [profiles.strip_version(u) for u in claimed if type(u) is str]


def has_extensions(resource: Json) -> bool:
    """Whether an extension (or a primitive's ``_name`` object) occurs anywhere in ``resource``.

    Decides whether the walk may skip everything only extensions could make matter. A compiled
    scan of the keys: about a tenth of what serialising the resource and searching the bytes
    cost (which it replaced: 12% of validating a resource).
    """
    return _keys_extend(resource)


def _keys_extend(node: dict[str, Any]) -> bool:
    for key, value in node.items():
        if type(key) is str and key and (key[0] == "_" or key == "extension" or key == "modifierExtension"):
            return True
        if type(value) is dict:
            if _keys_extend(value):
                return True
        elif type(value) is list and _items_extend(value):
            return True
    return False


def _items_extend(items: list[Any]) -> bool:
    for item in items:
        if type(item) is dict:
            if _keys_extend(item):
                return True
        elif type(item) is list and _items_extend(item):  # not valid FHIR, but scanned all the same
            return True
    return False


_walkers: dict[tuple[str, bool, bool], Walker] = {}
_walkers_generation = [-1]


def walker_for(type_key: str, plain: bool = False, structure: bool = False) -> Walker:
    """The walker for a type; ``plain`` for resources known to carry no extensions at all;
    ``structure`` to check structure in the same pass (one walk instead of two for ``validate``)."""
    if _walkers_generation[0] != profiles.generation():
        _walkers.clear()
        _walkers_generation[0] = profiles.generation()
    key = (type_key, plain, structure)
    found = _walkers.get(key)
    if found is None:
        found = _walkers[key] = _make_walker(base_plan(type_key), plain, structure)
    return found


# ---------------------------------------------------------------------------------------------- walkers


def _natives(invariants: tuple[Invariant, ...]) -> tuple[tuple[Callable[..., Any], Invariant], ...]:
    """(verdict function, invariant) pairs: the function answers False only when the invariant is
    violated (a single false). An invariant without a native function gets one that defers to
    ``Invariant.holds`` (fhirpathpy) through the reporting path."""
    out: list[tuple[Callable[..., Any], Invariant]] = []
    for inv in invariants:
        native = inv.native
        if native is None:
            out.append((_defer, inv))
        elif native.truth is not None:
            out.append((native.truth, inv))  # a boolean expression: its verdict without a collection
        else:
            out.append((_verdict(native.fn), inv))
    return tuple(out)


def _verdict(fn: Callable[..., Any]) -> Callable[..., bool]:
    def verdict(items: Any, env: Any) -> bool:
        result = fn(items, env)
        return not (len(result) == 1 and result[0] is False)

    return verdict


def _defer(items: Any, env: Any) -> Any:
    raise FhirPathError("not translated")


def _make_walker(plan: BasePlan, plain: bool, structure: bool) -> Walker:
    # The type's invariants in groups, each with its test: (key, guard, invariants) runs when the
    # object has ``key``, or when ``key`` is None and it has a key of ``guard`` (None: always).
    invariant_groups = _guard_groups(plan.guarded, plain)
    if plan.invariants:
        invariant_groups = ((None, None, _natives(plan.invariants)), *invariant_groups)
    best_practice = plan.best_practice
    identifier = plan.kind == IDENTIFIER
    own = bool(invariant_groups or best_practice or identifier)  # anything to check on the object itself
    slots = {key: slot for key, slot in plan.slots.items() if not (plain and _skippable(slot))}
    keys = frozenset(slots)
    handlers = {key: _handler(slot, plan, plain) for key, slot in slots.items()}
    get = handlers.get
    if structure:
        tbl = table(plan.type_key)
        required = bool(tbl.required)
        # The usual answer of check_required without its loop: every required single key present
        # (one C-level subset test) and a key of each required choice; check_required reports otherwise.
        required_keys = frozenset(keys[0] for _, _, keys in tbl.required if len(keys) == 1)
        required_choices = tuple(frozenset(keys) for _, _, keys in tbl.required if len(keys) != 1)
        # Keys with content checks get handlers that check their structure too; every key of the
        # table gets a route (``_member_route``) that the loop below dispatches on.
        elements = tbl.elements
        structural = {key: _structural_handler(slots[key], plan, plain, elements[key], handlers[key]) for key in slots if key in elements}
        members = {key: _member_route(element, structural.get(key)) for key, element in elements.items()}

    def walk(obj: Json, path: Path, run: Run, owner: str) -> None:
        if own:
            env = run.env
            for key, guard, invariants in invariant_groups:
                if key is not None:
                    if key not in obj:
                        continue
                elif guard is not None and guard.isdisjoint(obj):
                    continue
                for fn, inv in invariants:
                    try:
                        if fn((obj,), env) is not False:
                            continue
                    except FhirPathError:
                        pass
                    _invariant(inv, obj, path, run)
            if best_practice and run.best_practice:
                for inv in best_practice:
                    _invariant(inv, obj, path, run)
            if identifier and obj.get("system") == NHS_NUMBER_SYSTEM:
                for element, problem in identifier_problems(obj):
                    run.add("error", "value", problem, (path, element, None))
        if structure:
            # fhir.structure.check_object with the content handlers, in one loop over the keys.
            issues = run.structure
            if "id" in obj and len(obj) == 1:
                issues.append(id_alone(path))
            groups: dict[str, str] | None = None
            for key, value in obj.items():
                try:  # a subscript is cheaper than .get() and a miss (an unknown element) is rare
                    route, arg, group = members[key]
                except KeyError:
                    issues.append(unknown_element(tbl, key, path))
                    handler = get(key)  # a prohibited element may still have content checks
                    if handler is not None:
                        handler(value, obj, path, run, owner)
                    continue
                if group is not None:
                    groups = choice_seen(groups, group, key, path, issues)
                if route == ROUTE_ITEM:
                    if type(value) is dict and value:
                        arg(value, (path, key, None), obj, run, owner)
                    else:
                        structural[key][0](value, obj, path, run, owner)  # reports the shape, then content
                elif route == ROUTE_HANDLER:
                    arg(value, obj, path, run, owner)
                elif route <= ROUTE_PRIMITIVE:
                    if (
                        route != ROUTE_PRIMITIVE and type(value) is str and value != "" and value.isprintable()
                        and (route == ROUTE_TEXT or " " not in value)
                    ):
                        continue  # structure.passes_fast(), inline
                    bad = arg(value)  # not ``problem``: that name holds a str above, and mypyc enforces it
                    if bad is not None:
                        issues.append(scalar_problem(value, bad, key, path))
                elif route == ROUTE_OBJECT and type(value) is dict and value:
                    check_subtree(value, arg, (path, key, None), issues)
                elif route == ROUTE_SKIP:
                    continue
                elif route == ROUTE_OBJECTS and type(value) is list and value:
                    for item in value:
                        if type(item) is not dict or not item:
                            check_member(obj, key, value, elements[key], path, issues)
                            break
                    else:
                        for i, item in enumerate(value):
                            check_subtree(item, arg, (path, key, i), issues)
                else:
                    check_member(obj, key, value, elements[key], path, issues)
            if required and not (
                obj.keys() >= required_keys and (not required_choices or all(not c.isdisjoint(obj) for c in required_choices))
            ):
                check_required(obj, tbl, path, issues)
            return
        if keys.isdisjoint(obj):
            return
        for key, value in obj.items():
            handler = get(key)
            if handler is not None:
                handler(value, obj, path, run, owner)

    return walk


# How the one-pass walk treats a key (``_member_route``): a single object for its item checker; its
# handler; a single primitive with a cheap test (FAST_PRINTABLE, FAST_TOKEN) or without; a single
# object with nothing but structure to check; an array of such objects; nothing to check
# (resourceType, checked before the walk); anything else through structure.check_member.
ROUTE_ITEM, ROUTE_HANDLER, ROUTE_TEXT, ROUTE_TOKEN, ROUTE_PRIMITIVE, ROUTE_OBJECT, ROUTE_OBJECTS, ROUTE_SKIP, ROUTE_MEMBER = range(9)


def _member_route(element: Element, handlers: tuple[Handler, ItemChecker | None] | None) -> tuple[int, Any, str | None]:
    """(route, its argument, choice group) for one JSON key of a structure table."""
    is_array, kind, payload, group, fast = element
    if handlers is not None:
        handler, single_item = handlers
        if single_item is not None:
            return ROUTE_ITEM, single_item, group
        return ROUTE_HANDLER, handler, group
    if kind == PRIMITIVE and not is_array:
        route = {FAST_PRINTABLE: ROUTE_TEXT, FAST_TOKEN: ROUTE_TOKEN}.get(fast, ROUTE_PRIMITIVE)
        return route, payload, group
    if kind == COMPLEX:
        return (ROUTE_OBJECTS if is_array else ROUTE_OBJECT), table(payload), group
    if kind == SKIP:
        return ROUTE_SKIP, None, group
    return ROUTE_MEMBER, None, group


GuardGroup = tuple[str | None, frozenset[str] | None, tuple[tuple[Callable[..., Any], Invariant], ...]]


def _guard_groups(guarded: tuple[Invariant, ...], plain: bool) -> tuple[GuardGroup, ...]:
    """Guarded invariants in order, neighbours with the same guard together (dom-2...dom-5), each
    group with its test: one key (``key in obj``, cheaper than ``isdisjoint``, which iterates the
    object's keys) or a set. A resource without extensions has no ``_name`` keys to look for."""
    groups: list[tuple[frozenset[str], list[tuple[Callable[..., Any], Invariant]]]] = []
    for fn, inv in _natives(guarded):
        guard = inv.guard or frozenset()
        if plain:
            guard = frozenset(k for k in guard if not k.startswith("_"))
        if groups and groups[-1][0] == guard:
            groups[-1][1].append((fn, inv))
        else:
            groups.append((guard, [(fn, inv)]))
    return tuple((next(iter(g)) if len(g) == 1 else None, g, tuple(members)) for g, members in groups)


def _invariant(inv: Invariant, focus: Any, path: Path, run: Run) -> None:
    """Evaluate once more through ``holds`` (which falls back to fhirpathpy) and report."""
    holds = inv.holds(focus, run.env)
    if holds is False:
        run.add(inv.severity, "invariant", f"Constraint {inv.key} failed: {inv.human}", path)
    elif holds is None:
        run.add("warning", "invariant", f"Constraint {inv.key} could not be evaluated: {inv.expression}", path)


# ---------------------------------------------------------------------------------------------- handlers


def _skippable(slot: Slot) -> bool:
    """In a resource without extensions: slots that cannot yield an issue."""
    return is_extension_slot(slot) or (slot.only_child and inert_without_extensions(slot.child or ""))


def _handler(slot: Slot, plan: BasePlan, plain: bool) -> Handler:
    """The function that checks the value(s) under one JSON key (a list item by item)."""
    if slot.only_child:
        return _child_handler(slot, plain)
    if slot.binding is not None and slot.valueset is not None and not slot.invariants:
        return _code_handler(slot)
    if slot.targets is not None and slot.binding is None and not slot.invariants and not slot.type_profiles:
        return _reference_handler(slot, plain)
    return _general_handler(slot, plan, plain)


def _item_checker(slot: Slot, plan: BasePlan, plain: bool, structure: bool) -> ItemChecker:
    """The function that checks one object under the key of a complex slot (``_handler``'s per
    item); with ``structure`` it walks with structure-checking walkers, and checks the structure
    of what it has no content check for."""
    if slot.only_child:
        return _child_item(slot, plain, structure)
    if slot.targets is not None and slot.binding is None and not slot.invariants and not slot.type_profiles:
        return _reference_item(slot, plain, structure)
    return _general_item(slot, plan, plain, structure)


def _structural_handler(
    slot: Slot, plan: BasePlan, plain: bool, element: Element, content: Handler
) -> tuple[Handler, ItemChecker | None]:
    """Structure and content of the value(s) under one key, in one pass: (handler, and for a
    single complex element the item checker a well-shaped object may be given directly).

    A well-shaped object or array of objects is walked once by structure-checking walkers; any
    other value (a primitive, a ``_name`` object, a wrong JSON shape) is checked by
    ``fhir.structure.check_member`` and then by the content handler ``content``, exactly as two
    separate walks would.
    """
    is_array, kind = element[0], element[1]
    key = slot.key
    if kind not in (COMPLEX, RESOURCE):

        checker, fast = element[2], element[4]

        def separately(value: Any, obj: Json, path: Path, run: Run, owner: str) -> None:
            if kind != PRIMITIVE or is_array:
                check_member(obj, key, value, element, path, run.structure)
            elif not passes_fast(fast, value):
                problem = checker(value)
                if problem is not None:
                    run.structure.append(scalar_problem(value, problem, key, path))
            content(value, obj, path, run, owner)

        return separately, None
    check_item = _item_checker(slot, plan, plain, structure=True)

    def handle(value: Any, obj: Json, path: Path, run: Run, owner: str) -> None:
        if is_array:
            if type(value) is list and value:
                for item in value:
                    if type(item) is not dict or not item:
                        break
                else:
                    for i, item in enumerate(value):
                        check_item(item, (path, key, i), obj, run, owner)
                    return
        elif type(value) is dict and value:
            check_item(value, (path, key, None), obj, run, owner)
            return
        check_member(obj, key, value, element, path, run.structure)
        content(value, obj, path, run, owner)

    return handle, (None if is_array else check_item)


def _each_dict(check_item: ItemChecker, key: str) -> Handler:
    """A handler applying ``check_item`` to the object(s) under ``key`` (other values are left
    to fhir.structure)."""

    def handle(value: Any, obj: Json, path: Path, run: Run, owner: str) -> None:
        if type(value) is dict:
            check_item(value, (path, key, None), obj, run, owner)
        elif type(value) is list:
            for i, item in enumerate(value):
                if type(item) is dict:
                    check_item(item, (path, key, i), obj, run, owner)

    return handle


def _items(value: Any, path: Path, key: str) -> list[tuple[Any, Path]]:
    if type(value) is list:
        return [(item, (path, key, i)) for i, item in enumerate(value) if item is not None]
    return [] if value is None else [(value, (path, key, None))]


def _child_walker(slot: Slot, plain: bool, structure: bool) -> Callable[[], tuple[Walker, BasePlan]]:
    cell: list[tuple[Walker, BasePlan]] = []

    def resolve() -> tuple[Walker, BasePlan]:
        if not cell:
            child = base_plan(slot.child)  # type: ignore[arg-type]
            cell.append((walker_for(child.type_key, plain, structure), child))
        return cell[0]

    return resolve


def _child_owner(slot: Slot, child: BasePlan) -> str:
    # A backbone's definition is its type key (which also resolves contentReference recursion).
    return child.type_key if "." in child.type_key else slot.label


def _child_handler(slot: Slot, plain: bool) -> Handler:
    """A datatype or backbone with nothing else to check: enter it unless it cannot matter."""
    return _each_dict(_child_item(slot, plain, structure=False), slot.key)


def _child_item(slot: Slot, plain: bool, structure: bool) -> ItemChecker:
    resolve = _child_walker(slot, plain, structure)
    state: list[Any] = []

    def check_item(value: Json, path: Path, obj: Json, run: Run, owner: str) -> None:
        if not state:
            walker, child = resolve()
            # Assigned whole, not extended: two threads may resolve the child at once.
            state[:] = (walker, child.keys if child.passive else None, _child_owner(slot, child), table(child.type_key))
        walker, skip_unless, child_owner, child_table = state
        if skip_unless is None or not skip_unless.isdisjoint(value):
            walker(value, path, run, child_owner)
        elif structure:
            check_subtree(value, child_table, path, run.structure)

    return check_item


def _code_handler(slot: Slot) -> Handler:
    """A bound code (status, gender...) whose value set is enumerable: one set lookup."""
    codes = slot.valueset.codes  # type: ignore[union-attr]
    strength, url = slot.binding  # type: ignore[misc]
    type_code = slot.type_code or ""
    label = slot.label
    key = slot.key

    def handle(value: Any, obj: Json, path: Path, run: Run, owner: str) -> None:
        if type(value) is str and value in codes:
            return
        for item, where in _items(value, path, key):
            if type(item) is str and item in codes:
                continue
            for severity, message in bindings.problems(item, type_code, strength, url):
                run.add(severity, "code-invalid", f"{label}: {message}", where)

    return handle


def _reference_handler(slot: Slot, plain: bool) -> Handler:
    """A Reference (subject, performer...): its target type, then the Reference itself (ref-1)."""
    return _each_dict(_reference_item(slot, plain, structure=False), slot.key)


def _reference_item(slot: Slot, plain: bool, structure: bool) -> ItemChecker:
    resolve = _child_walker(slot, plain, structure)
    targets = slot.targets or frozenset()
    state: list[Any] = []
    # Literals seen to be "Type/id" to an allowed type: the same practitioners, organisations and
    # locations are referred to again and again, so most literals are one set lookup.
    accepted: set[str] = set()

    def plain_target(literal: str, run: Run) -> bool:
        """"Patient/123" to an allowed type, decided without parsing; or a transaction-local
        urn:uuid outside a Bundle, whose target cannot be known."""
        if literal.startswith("urn:"):
            return run.root.get("resourceType") != "Bundle"
        slash = literal.find("/")
        if slash > 0 and literal[:slash] in targets and literal.find("/", slash + 1) < 0 and ":" not in literal:
            if len(accepted) >= _ACCEPTED_SIZE:
                accepted.clear()
            accepted.add(literal)
            return True
        return False

    # Literals whose Reference {"reference": literal} was found to have no issue at all here: most
    # References are just that, and their check (target, ref-1, structure) depends on the literal
    # alone, except a "#id" (the contained resources) and a urn: (whether the root is a Bundle).
    clean: set[str] = set()

    def check_item(value: Json, path: Path, obj: Json, run: Run, owner: str) -> None:
        literal = value.get("reference")
        single = len(value) == 1 and type(literal) is str
        if single and literal in clean and (literal[0] != "u" or run.root.get("resourceType") != "Bundle"):
            return
        found = len(run.issues) + len(run.structure)
        if type(literal) is not str or "type" in value or not (literal in accepted or plain_target(literal, run)):
            _reference(value, slot, path, run)
        if not state:
            walker, child = resolve()
            state[:] = (walker, _child_owner(slot, child), not child.best_practice)
        walker, child_owner, rememberable = state
        walker(value, path, run, child_owner)
        if single and rememberable and isinstance(literal, str) and literal[:1] != "#" \
                and len(run.issues) + len(run.structure) == found:
            if literal.startswith("urn:") and run.root.get("resourceType") == "Bundle":
                return  # inside a Bundle a urn: is checked against the entries
            if len(clean) >= _ACCEPTED_SIZE:
                clean.clear()
            clean.add(literal)

    return check_item


_ACCEPTED_SIZE = 4096


def _general_handler(slot: Slot, plan: BasePlan, plain: bool) -> Handler:
    """Everything else: bindings on complex types, references, element invariants, extensions,
    nested resources and datatype profiles, then the child object."""
    check_item = _general_item(slot, plan, plain, structure=False)
    key = slot.key

    def handle(value: Any, obj: Json, path: Path, run: Run, owner: str) -> None:
        for item, where in _items(value, path, key):
            check_item(item, where, obj, run, owner)

    return handle


def _general_item(slot: Slot, plan: BasePlan, plain: bool, structure: bool) -> ItemChecker:
    resolve = _child_walker(slot, plain, structure) if slot.child is not None else None
    inert: list[bool] = []  # whether the child needs no visit (known on first use)
    element_invariants = _natives(slot.invariants)
    concept_pairs = _concept_pairs(slot)

    def check_item(value: Any, path: Path, obj: Json, run: Run, owner: str) -> None:
        if slot.binding is not None and not (concept_pairs is not None and _concept_in(value, concept_pairs)):
            vs = slot.valueset
            if not (vs is not None and type(value) is str and value in vs.codes):
                strength, url = slot.binding
                for severity, message in bindings.problems(value, slot.type_code or "", strength, url):
                    run.add(severity, "code-invalid", f"{slot.label}: {message}", path)
        for fn, inv in element_invariants:
            try:
                if fn((value,), run.env) is not False:
                    continue
            except FhirPathError:
                pass
            _invariant(inv, value, path, run)
        if type(value) is not dict:
            return
        if slot.targets is not None:
            _reference(value, slot, path, run)
        if slot.resource:
            if not structure:
                walk_resource(value, render(path), run, contained=slot.key == "contained")
            elif resource_type_at(value, None, path, run.structure) is not None:
                walk_resource(value, render(path), run, contained=slot.key == "contained", structure=True)
            return
        if slot.extension:
            _extension(value, obj, plan, owner, path, run)
        if resolve is not None:
            walker, child = resolve()
            if not inert:
                # In a resource without extensions a CodeableConcept under a binding has nothing left.
                inert.append(plain and inert_without_extensions(child.type_key))
            if not inert[0] and not (child.passive and child.keys.isdisjoint(value)):
                walker(value, path, run, _child_owner(slot, child))
            elif structure:
                check_subtree(value, table(child.type_key), path, run.structure)
        for url in slot.type_profiles:
            conformance.check_profile(value, url, render(path), run, slot.type_code)

    return check_item


def _concept_pairs(slot: Slot) -> frozenset[tuple[str, str]] | None:
    """(system, code) pairs of an enumerable value set bound to a CodeableConcept or Coding."""
    if slot.binding is None or slot.type_code not in ("CodeableConcept", "Coding"):
        return None
    vs = bindings.valueset(slot.binding[1])
    return vs.pairs if vs is not None and vs.complete else None


def _concept_in(value: Any, pairs: frozenset[tuple[str, str]]) -> bool:
    """The common valid case of a bound CodeableConcept/Coding, without building messages."""
    if type(value) is not dict:
        return False
    codings = value.get("coding")
    if codings is None:
        return _pair(value) in pairs
    if type(codings) is list:
        for coding in codings:
            if type(coding) is dict and _pair(coding) in pairs:
                return True
    return False


def _pair(coding: Json) -> tuple[Any, Any]:
    system, code = coding.get("system"), coding.get("code")
    # Only strings can be in a value set (and only they are hashable); anything else is malformed.
    return (system, code) if type(system) is str and type(code) is str else (None, None)


def _reference(value: Json, slot: Slot, path: Path, run: Run) -> None:
    literal = value.get("reference")
    targets = slot.targets
    if type(literal) is str and targets is not None:
        if literal.startswith("urn:") and run.root.get("resourceType") != "Bundle":
            return  # a transaction-local id: its target is only known inside the Bundle
        slash = literal.find("/")
        # "Patient/123" to an allowed type: by far the common case, decided without parsing.
        if slash > 0 and literal[:slash] in targets and literal.find("/", slash + 1) < 0 and ":" not in literal:
            if "type" not in value:
                return
    reference_targets.check(value, targets or frozenset(), slot.label, render(path), run)


def _extension(ext: Json, parent: Json, plan: BasePlan, owner: str, path: Path, run: Run) -> None:
    url = ext.get("url")
    if type(url) is not str or ("/" not in url and ":" not in url):
        return  # a sub-extension of a complex extension: its parent's definition covers it
    definition = profiles.get(url)
    expression = render(path)
    if definition is None or definition.get("type") != "Extension":
        if ".modifierExtension[" in expression[expression.rfind(".") :]:
            run.add("error", "extension", f"Unknown modifier extension {url}: it cannot be safely ignored", expression)
        else:
            run.add("information", "extension", f"Unknown extension {url}: not checked", expression)
        return
    where = run.element_path(expression).rsplit(".", 1)[0].replace("._", ".")
    parent_url = parent.get("url") if plan.kind == EXTENSION else None
    contexts = definition.get("context", [])
    if not allowed_here(contexts, (where, owner), plan.datatype, parent_url if type(parent_url) is str else None):
        run.add(
            "error",
            "extension",
            f"The extension {url} may not be used on {where}; its definition allows: {describe(contexts)}",
            expression,
        )
    conformance.check_profile(ext, url, expression, run, "Extension")
