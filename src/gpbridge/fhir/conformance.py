"""Checking a value against a profile: the rules of a constraint StructureDefinition.

``plan_for(url)`` turns a compiled profile (``fhir.profiles``: merged differentials keyed by element
id) into a tree, once per profile: a ``Node`` per object holds a ``Rule`` per constrained element;
a rule knows the JSON keys that carry the element (choice types resolved through spec/types.json),
which of them the profile forbids, cardinality, fixed/pattern values, binding, reference targets,
type profiles, invariants, and its slicing with compiled discriminators. ``check_profile`` walks
a value along the tree, so only constrained elements are visited and absent ones cost a lookup.

What the profile does not constrain is the base type's business (``fhir.structure`` and
``fhir.core_checks``); extensions found by a slice are checked against their own definitions by
``core_checks`` wherever they appear, so here a slice only counts them and applies what the
profile adds. Notes about what a plan could not resolve (an element the base type lacks, a
discriminator with no value) are kept on the plan for ``gpbridge ig install`` to print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gpbridge.fhir import bindings, profiles, reference_targets, spec
from gpbridge.fhir.element_types import Member, PrimitiveNavigation, is_primitive, member_of
from gpbridge.fhir.fhirpath_values import FhirPathError
from gpbridge.fhir.invariants import Invariant, from_constraint
from gpbridge.fhir.slicing import Discriminator, contains_pattern, equals_fixed, matches, values_at
from gpbridge.fhir.validation_run import Run

Json = dict[str, Any]
_MISSING: Any = object()


@dataclass(slots=True)
class Facts:
    fixed: Any = _MISSING
    pattern: Any = _MISSING
    binding: tuple[str, str] | None = None  # (strength, value set)
    targets: frozenset[str] | None = None
    type_profiles: tuple[str, ...] = ()
    constraints: tuple[Json, ...] = ()
    max_length: int | None = None

    def empty(self) -> bool:
        return (
            self.fixed is _MISSING
            and self.pattern is _MISSING
            and self.binding is None
            and self.targets is None
            and not self.type_profiles
            and not self.constraints
            and self.max_length is None
        )


@dataclass(slots=True)
class Rule:
    element: str  # FHIRPath name ("value" for value[x])
    label: str  # "Patient.identifier:nhsNumber.system", for messages
    members: tuple[Member, ...]
    disallowed: tuple[Member, ...]
    min: int | None
    max: int | None
    facts: Facts
    node: Node | None = None
    slicing: Slicing | None = None
    # The JSON keys of ``disallowed`` (and their "_name" forms), so a check is one isdisjoint.
    disallowed_keys: frozenset[str] = frozenset()


@dataclass(slots=True)
class Slice:
    name: str
    rule: Rule
    discriminators: tuple[Discriminator, ...]


@dataclass(slots=True)
class Slicing:
    rules: str
    slices: tuple[Slice, ...]


@dataclass(slots=True)
class Node:
    rules: tuple[Rule, ...]
    # Rules that can fail with their element absent (a minimum, or a required slice); the others
    # are only looked at when the object has one of their JSON keys.
    required: tuple[int, ...] = ()  # indexes into rules
    index: dict[str, tuple[int, ...]] = field(default_factory=dict)  # JSON key -> rules it concerns

    def can_fail(self, obj: dict[str, Any]) -> bool:
        """Whether checking ``obj`` against this node could report anything at all."""
        return bool(self.required) or not self.index.keys().isdisjoint(obj)


@dataclass(slots=True)
class ProfilePlan:
    url: str
    name: str
    type: str
    root: Node
    constraints: tuple[Json, ...]
    notes: list[str] = field(default_factory=list)
    resource_type: str | None = None  # the type, when it is a resource (for %resource)
    # When set, a value without any of these keys cannot fail the profile (SimpleQuantity on a
    # Quantity without a comparator): nothing required, every invariant guarded by them.
    skip_unless: frozenset[str] | None = None
    # Compiled invariants per (constraints, context type): a rule's context type is only known
    # from the JSON key a value arrives under (value[x] -> valueQuantity -> Quantity).
    compiled: dict[tuple[int, str | None], tuple[Invariant, ...]] = field(default_factory=dict)

    def invariants(self, constraints: tuple[Json, ...], context_type: str | None) -> tuple[Invariant, ...]:
        key = (id(constraints), context_type)
        found = self.compiled.get(key)
        if found is None:
            found = self.compiled[key] = tuple(
                from_constraint(c, context_type, self.resource_type) for c in constraints
            )
        return found


# ---------------------------------------------------------------------------------------------- building


class _Raw:
    """Elements of a profile as a tree: children by element name, slices by slice name."""

    __slots__ = ("facts", "children", "slices")

    def __init__(self) -> None:
        self.facts: Json = {}
        self.children: dict[str, _Raw] = {}
        self.slices: dict[str, _Raw] = {}

    def at(self, path: tuple[str, ...]) -> _Raw | None:
        node: _Raw | None = self
        for name in path:
            node = node.children.get(name) if node is not None else None
        return node

    def reachable(self, path: tuple[str, ...]) -> list[_Raw]:
        """Nodes at ``path``, also through required slices on the way: a discriminator on
        ``code.coding.code`` may find its value in slice ``coding:SBPCode`` (min 1)."""
        nodes = [self]
        for name in path:
            step: list[_Raw] = []
            for node in nodes:
                child = node.children.get(name)
                if child is not None:
                    step.append(child)
                    step.extend(s for s in child.slices.values() if s.facts.get("min", 0) >= 1)
            nodes = step
        return nodes


def _raw_tree(elements: dict[str, Json]) -> _Raw:
    root = _Raw()
    for element_id, facts in elements.items():
        node = root
        for segment in element_id.split(".") if element_id else ():
            name, _, slice_name = segment.partition(":")
            node = node.children.setdefault(name, _Raw())
            if slice_name:
                node = node.slices.setdefault(slice_name, _Raw())
        node.facts.update(facts)
    return root


_plans: dict[str, ProfilePlan | None] = {}
_plans_generation = [-1]


def plan_for(url: str) -> ProfilePlan | None:
    if _plans_generation[0] != profiles.generation():
        _plans.clear()
        _plans_generation[0] = profiles.generation()
    if url not in _plans:
        _plans[url] = _build_plan(url)
    return _plans[url]


def _build_plan(url: str) -> ProfilePlan | None:
    definition = profiles.get(url)
    if definition is None:
        return None
    type_name = definition["type"]
    raw = _raw_tree(definition["elements"])
    plan = ProfilePlan(url, definition.get("name") or url, type_name, Node(()), ())
    plan.resource_type = type_name if spec.is_resource_type(type_name) else None
    if definition.get("derivation") == "constraint":
        plan.constraints = tuple(raw.facts.get("constraints", ()))
        plan.root = _node(raw, type_name, type_name, [], plan)
        plan.skip_unless = _skip_unless(plan)
    return plan


def _skip_unless(plan: ProfilePlan) -> frozenset[str] | None:
    keys: set[str] = set()
    for inv in plan.invariants(plan.constraints, plan.type):
        if inv.guard is None:
            return None
        keys |= inv.guard
    for rule in plan.root.rules:
        if rule.min or rule.slicing is not None or rule.members == ():
            return None
        keys.update(k for key, _ in (*rule.members, *rule.disallowed) for k in (key, "_" + key))
    return frozenset(keys)


def _node(raw: _Raw, type_key: str | None, label: str, inherited: list[_Raw], plan: ProfilePlan) -> Node:
    rules = []
    for name, child in raw.children.items():
        rule = _rule(child, name, type_key, f"{label}.{name}", [i.children[name] for i in inherited if name in i.children], plan)
        if rule is not None:
            rules.append(rule)
    required = tuple(i for i, r in enumerate(rules) if _can_fail_when_absent(r))
    index: dict[str, list[int]] = {}
    for i, r in enumerate(rules):
        for key, _ in (*r.members, *r.disallowed):
            for k in (key, "_" + key):
                if i not in index.setdefault(k, []):
                    index[k].append(i)
    return Node(tuple(rules), required, {k: tuple(v) for k, v in index.items()})


def _can_fail_when_absent(rule: Rule) -> bool:
    return bool(rule.min) or (
        rule.slicing is not None and any(sl.rule.min for sl in rule.slicing.slices)
    )


def _rule(
    raw: _Raw, name: str, parent_type: str | None, label: str, inherited: list[_Raw], plan: ProfilePlan
) -> Rule | None:
    try:
        members = member_of("Element" if is_primitive(parent_type) else parent_type, name)
    except PrimitiveNavigation:
        members = None
    if not members:
        plan.notes.append(f"{label}: not an element of {parent_type}; not checked")
        return None
    facts = raw.facts
    allowed, disallowed = _restrict(members, facts.get("types"))
    child_types = {t for _, t in allowed}
    child_type = child_types.pop() if len(child_types) == 1 else None
    rule = Rule(
        element=name[:-3] if name.endswith("[x]") else name,
        label=label,
        members=allowed,
        disallowed=disallowed,
        min=facts.get("min"),
        max=_max(facts.get("max")),
        facts=_facts(facts),
        disallowed_keys=frozenset(k for key, _ in disallowed for k in (key, "_" + key)),
    )
    if raw.children:
        rule.node = _node(raw, child_type, label, inherited, plan)
    if raw.slices:
        rule.slicing = _slicing(raw, name, parent_type, label, inherited, plan)
    return rule


def _restrict(members: tuple[Member, ...], types: list[Json] | None) -> tuple[tuple[Member, ...], tuple[Member, ...]]:
    if not types or len(members) < 2:
        return members, ()
    codes = {t["code"] for t in types}
    allowed = tuple(m for m in members if m[1] in codes)
    return allowed, tuple(m for m in members if m[1] not in codes)


def _max(value: str | None) -> int | None:
    return None if value in (None, "*") else int(value)  # type: ignore[arg-type]


def _facts(facts: Json) -> Facts:
    out = Facts(
        fixed=facts.get("fixed", _MISSING),
        pattern=facts.get("pattern", _MISSING),
        constraints=tuple(facts.get("constraints", ())),
        max_length=facts.get("maxLength"),
    )
    binding = facts.get("binding")
    if binding:
        out.binding = (binding["strength"], binding["valueSet"])
    targets: set[str] = set()
    type_profiles: list[str] = []
    for t in facts.get("types", ()):
        for target in t.get("targets", ()):
            targets.add(_type_of_profile(target))
        if t["code"] != "Extension":
            type_profiles.extend(t.get("profiles", ()))
    if targets:
        out.targets = frozenset(targets)
    out.type_profiles = tuple(type_profiles)
    return out


def _type_of_profile(url: str) -> str:
    definition = profiles.get(url)
    if definition is not None:
        return str(definition["type"])
    return url.rsplit("/", 1)[-1]


def _slicing(
    raw: _Raw, name: str, parent_type: str | None, label: str, inherited: list[_Raw], plan: ProfilePlan
) -> Slicing:
    declared = raw.facts.get("slicing") or next((i.facts["slicing"] for i in inherited if "slicing" in i.facts), None)
    if declared is None and name in ("extension", "modifierExtension"):
        declared = {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}
    if declared is None:
        plan.notes.append(f"{label}: slices without a slicing definition; slices matched by nothing")
        declared = {"discriminator": [], "rules": "open"}
    slices = []
    for slice_name, sraw in raw.slices.items():
        # A slice starts as a copy of the unsliced element: its children inherit from it (and from
        # the same slice of any element this one inherits from).
        sources = [sraw] + [i.slices[slice_name] for i in inherited if slice_name in i.slices]
        base = [raw] + inherited
        rule = _rule(sraw, name, parent_type, f"{label}:{slice_name}", sources[1:] + base, plan)
        if rule is None:
            continue
        discriminators = []
        for d in declared.get("discriminator", ()):
            compiled = _discriminator(d, sources, name, slice_name, plan, f"{label}:{slice_name}")
            if compiled is not None:
                discriminators.append(compiled)
        if len(discriminators) != len(declared.get("discriminator", ())):
            continue  # an unresolvable discriminator: the slice can never be recognised
        slices.append(Slice(slice_name, rule, tuple(discriminators)))
    return Slicing(declared.get("rules", "open"), tuple(slices))


def _discriminator(
    d: Json, sources: list[_Raw], element: str, slice_name: str, plan: ProfilePlan, label: str
) -> Discriminator | None:
    kind, path_text = d["type"], d["path"]
    if "(" in path_text.replace("$this", ""):
        plan.notes.append(f"{label}: discriminator path {path_text} is not supported; slice not recognised")
        return None
    path = () if path_text == "$this" else tuple(path_text.removeprefix("$this.").split("."))
    if kind in ("value", "pattern"):
        for source in sources:
            for target in source.reachable(path):
                if "fixed" in target.facts:
                    return Discriminator("value", path, target.facts["fixed"])
                if "pattern" in target.facts:
                    return Discriminator("pattern", path, target.facts["pattern"])
            inherited = _from_ancestor_value(source, path)
            if inherited is not None:
                return inherited
        if path == ("url",) and element in ("extension", "modifierExtension"):
            for source in sources:
                for t in source.facts.get("types", ()):
                    if t.get("profiles"):
                        return Discriminator("value", path, t["profiles"][0])
            # A sub-extension of a complex extension is identified by its slice name.
            return Discriminator("value", path, slice_name)
    elif kind == "type":
        for source in sources:
            target = source.at(path)
            codes = [t["code"] for t in (target.facts.get("types", ()) if target is not None else ())]
            if len(codes) == 1:
                return Discriminator("type", path, codes[0])
    elif kind == "exists":
        for source in sources:
            target = source.at(path)
            if target is not None and ("min" in target.facts or "max" in target.facts):
                return Discriminator("exists", path, target.facts.get("max") != "0" and target.facts.get("min", 0) >= 1)
    elif kind == "profile":
        for source in sources:
            target = source.at(path)
            for t in target.facts.get("types", ()) if target is not None else ():
                found = t.get("profiles") or t.get("targets")
                if found:
                    return Discriminator("profile", path, found[0])
    plan.notes.append(f"{label}: no {kind} for discriminator {path_text}; slice not recognised")
    return None


def _from_ancestor_value(source: _Raw, path: tuple[str, ...]) -> Discriminator | None:
    """A discriminator value implied by a fixed/pattern value on an ancestor of its path: slicing
    ``component`` on ``code.coding.code`` when each slice fixes ``code`` with patternCodeableConcept."""
    node: _Raw | None = source
    for depth, name in enumerate(path[:-1]):
        node = node.children.get(name) if node is not None else None
        if node is None:
            return None
        for kind, fact in (("value", "fixed"), ("pattern", "pattern")):
            if fact in node.facts:
                rest = path[depth + 1 :]
                found = values_at(node.facts[fact], rest)
                if len(found) == 1:
                    # Inside a pattern the value need only be present among the instance's values.
                    return Discriminator("pattern" if kind == "pattern" else "value", path, found[0])
    return None


# ---------------------------------------------------------------------------------------------- checking


Entry = tuple[str, str | None, int | None, Any, Any]  # (JSON key, type, index, value, "_key" object)


def check_profile(value: Any, url: str, path: str, run: Run, type_key: str | None = None) -> None:
    """Check ``value`` (a resource, or a datatype of ``type_key``) against the profile ``url``."""
    plan = plan_for(url)
    if plan is None:
        run.add("warning", "not-supported", f"Profile {url} is not known to this server; not checked", path)
        return
    actual = value.get("resourceType") if type(value) is dict and "resourceType" in value else type_key
    if actual is not None and actual != plan.type:
        run.add("error", "invalid", f"Profile {plan.name} ({url}) is for {plan.type}, not {actual}", path)
        return
    if plan.skip_unless is not None and type(value) is dict and plan.skip_unless.isdisjoint(value):
        return
    for inv in plan.invariants(plan.constraints, plan.type):
        _invariant(inv, value, path, run, plan)
    if type(value) is dict:
        _check_node(value, plan.root, path, run, plan)


def conforms(value: Any, url: str, run: Run, type_key: str | None = None) -> bool:
    """Whether ``value`` passes ``url`` without errors (for profile discriminators)."""
    saved = run.issues
    run.issues = []
    try:
        check_profile(value, url, "", run, type_key)
        return not any(i.severity in ("error", "fatal") for i in run.issues)
    finally:
        run.issues = saved


def _check_node(obj: dict[str, Any], node: Node, path: str, run: Run, plan: ProfilePlan) -> None:
    # Only rules about elements the object has, and those a missing element can break (minimums).
    index = node.index
    wanted = set(node.required)
    for key in obj:
        found = index.get(key)
        if found is not None:
            wanted.update(found)
    for i in sorted(wanted):
        rule = node.rules[i]
        entries = _entries(obj, rule.members)
        for key, type_code in () if rule.disallowed_keys.isdisjoint(obj) else rule.disallowed:
            if key in obj or "_" + key in obj:
                allowed = ", ".join(t or "?" for _, t in rule.members) or "none"
                run.add(
                    "error",
                    "structure",
                    f"{plan.name}: {rule.label} may not be a {type_code} here; allowed: {allowed}",
                    f"{path}.{key}",
                )
        _check_count(len(entries), rule, rule.label, f"{path}.{rule.element}", run, plan)
        if entries:
            _check_values(entries, rule, path, run, plan)
            if rule.slicing is not None:
                _check_slices(entries, rule, rule.slicing, path, run, plan)
        elif rule.slicing is not None:
            for sl in rule.slicing.slices:
                _check_count(0, sl.rule, sl.rule.label, f"{path}.{rule.element}", run, plan)


def _entries(obj: dict[str, Any], members: tuple[Member, ...]) -> list[Entry]:
    out: list[Entry] = []
    for key, type_code in members:
        value = obj.get(key)
        ext = obj.get("_" + key)
        if value is None and ext is None:
            continue
        if type(value) is list or (value is None and type(ext) is list):
            values = value if type(value) is list else []
            exts = ext if type(ext) is list else []
            for i in range(max(len(values), len(exts))):
                out.append((key, type_code, i, values[i] if i < len(values) else None, exts[i] if i < len(exts) else None))
        else:
            out.append((key, type_code, None, value, ext))
    return out


def _expression(path: str, key: str, index: int | None) -> str:
    return f"{path}.{key}" if index is None else f"{path}.{key}[{index}]"


def _check_count(count: int, rule: Rule, label: str, expression: str, run: Run, plan: ProfilePlan) -> None:
    if rule.min is not None and count < rule.min:
        found = "but it is missing" if count == 0 else f"but found {count}"
        run.add(
            "error",
            "required",
            f"{plan.name}: {label} requires at least {rule.min} {_noun(rule.min)} {found}",
            expression,
        )
    if rule.max is not None and count > rule.max:
        if rule.max == 0:
            message = f"{plan.name}: {label} is not allowed by this profile but is present"
        else:
            message = f"{plan.name}: {label} allows at most {rule.max} {_noun(rule.max)} but found {count}"
        run.add("error", "structure", message, expression)


def _noun(n: int) -> str:
    return "value" if n == 1 else "values"


def _check_values(entries: list[Entry], rule: Rule, path: str, run: Run, plan: ProfilePlan) -> None:
    facts = rule.facts
    check_facts = not facts.empty()
    node = rule.node
    for key, type_code, index, value, ext in entries:
        if value is not None and check_facts:
            _check_value(value, type_code, facts, rule, _expression(path, key, index), run, plan)
        if node is not None:
            if type(value) is dict:
                if node.can_fail(value):
                    _check_node(value, node, _expression(path, key, index), run, plan)
            else:
                # Children of a primitive (its extensions) live in the "_name" object.
                target = ext if type(ext) is dict else {}
                if node.can_fail(target):
                    _check_node(target, node, _expression(path, "_" + key, index), run, plan)


def _check_value(
    value: Any, type_code: str | None, facts: Facts, rule: Rule, expression: str, run: Run, plan: ProfilePlan
) -> None:
    if facts.fixed is not _MISSING and not equals_fixed(value, facts.fixed):
        run.add(
            "error",
            "value",
            f"{plan.name}: {rule.label} must be exactly {_show(facts.fixed)}, not {_show(value)}",
            expression,
        )
    if facts.pattern is not _MISSING and not contains_pattern(value, facts.pattern):
        run.add(
            "error",
            "value",
            f"{plan.name}: {rule.label} must match the pattern {_show(facts.pattern)}",
            expression,
        )
    if facts.binding is not None and type_code is not None:
        strength, url = facts.binding
        for severity, message in bindings.problems(value, type_code, strength, url):
            run.add(severity, "code-invalid", f"{plan.name}: {rule.label}: {message}", expression)
    if facts.max_length is not None and type(value) is str and len(value) > facts.max_length:
        run.add(
            "error",
            "value",
            f"{plan.name}: {rule.label} is longer than {facts.max_length} characters",
            expression,
        )
    if facts.targets is not None:
        reference_targets.check(value, facts.targets, f"{plan.name}: {rule.label}", expression, run)
    for url in facts.type_profiles:
        if type_code == "Reference":
            continue
        check_profile(value, url, expression, run, type_code)
    if facts.constraints:
        for inv in plan.invariants(facts.constraints, type_code):
            _invariant(inv, value, expression, run, plan)


def _check_slices(
    entries: list[Entry], rule: Rule, slicing: Slicing, path: str, run: Run, plan: ProfilePlan
) -> None:
    buckets: dict[str, list[Entry]] = {sl.name: [] for sl in slicing.slices}
    unmatched: list[Entry] = []

    def profile_check(value: Any, url: str) -> bool:
        return conforms(value, url, run)

    for entry in entries:
        _, type_code, _, value, _ = entry
        for sl in slicing.slices:
            if matches(value, type_code, sl.discriminators, profile_check):
                buckets[sl.name].append(entry)
                break
        else:
            unmatched.append(entry)
    for sl in slicing.slices:
        matched = buckets[sl.name]
        _check_count(len(matched), sl.rule, sl.rule.label, f"{path}.{rule.element}", run, plan)
        if matched:
            _check_values(matched, sl.rule, path, run, plan)
            if sl.rule.slicing is not None:
                _check_slices(matched, sl.rule, sl.rule.slicing, path, run, plan)
    if slicing.rules == "closed":
        names = ", ".join(sl.name for sl in slicing.slices)
        for key, _, index, _, _ in unmatched:
            run.add(
                "error",
                "structure",
                f"{plan.name}: this {rule.label} matches none of the slices ({names}) and the slicing is closed",
                _expression(path, key, index),
            )


def _invariant(inv: Invariant, focus: Any, expression: str, run: Run, plan: ProfilePlan) -> None:
    if inv.best_practice and not run.best_practice:
        return
    native = inv.native
    if native is not None and native.truth is not None:
        # The verdict without building a collection; ``holds`` decides (and reports) otherwise.
        try:
            if native.truth((focus,), run.env) is not False:
                return
        except FhirPathError:
            pass
    holds = inv.holds(focus, run.env)
    if holds is False:
        run.add(inv.severity, "invariant", f"{plan.name}: {inv.key}: {inv.human}", expression)
    elif holds is None:
        run.add("warning", "invariant", f"{plan.name}: {inv.key} could not be evaluated: {inv.expression}", expression)


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, dict | list) else _compact(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()
