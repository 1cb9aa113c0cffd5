"""Compile the FHIRPath used by SearchParameter expressions into plain Python closures.

fhirpathpy interprets a tree per call and wraps every node; index extraction runs ~50 expressions
per resource, so we compile instead. An expression becomes a list of typed *branches*: each branch
is the path to one kind of value with its static FHIR type, e.g. ``(Observation.value as Quantity)
| Observation.component.code`` -> [(Quantity, key "valueQuantity"), (CodeableConcept, key
"component" then ".code")]. Knowing the type at compile time means

* choice elements need no key scanning: ``value as Quantity`` reads ``valueQuantity`` only, and an
  unqualified ``value`` fans out into one branch per allowed type;
* ``as``/``ofType``/``is`` are decided at compile time;
* the index converter for each branch is chosen once (CodeableConcept -> tokens, ...);
* the first JSON key of each branch lets the extractor skip everything a resource lacks.

Closures work on FHIRPath collections (Python lists) of orjson values and never raise on malformed
shapes: a string where an object belongs is simply not navigated. Expressions outside the subset
fall back to fhirpathpy, compiled once and cached, so every parameter still works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gpbridge.fhir.fhirpath_parse import (
    Binary,
    Call,
    FhirPathSyntaxError,
    Ident,
    Index,
    Literal,
    Member,
    Node,
    TypeOp,
    Var,
    parse,
    unparse,
)
from gpbridge.search import fhirpath_model as model
from gpbridge.search.fhirpath_fallback import fallback_step
from gpbridge.search.fhirpath_runtime import (
    LOGIC,
    Branch,
    Collection,
    Step,
    collapse,
    distinct,
    evaluator,
    filter_step,
    fp_equal,
    member_step,
    slice_step,
    to_boolean,
)
from gpbridge.search.references import reference_type

log = logging.getLogger(__name__)

_RESOLVED = "@resolved"  # type of ``x.resolve()``: the Reference itself, usable only by ``is Type``


class Unsupported(Exception):
    """The expression uses FHIRPath outside the natively compiled subset."""


@dataclass(slots=True)
class CompiledExpression:
    expression: str
    context_type: str
    branches: list[Branch]
    native: bool
    reason: str | None = None  # why it fell back to fhirpathpy
    distinct: bool = False  # a top-level union: FHIRPath removes duplicates

    def evaluate(self, resource: Any, root: Any = None) -> Collection:
        """All values, as FHIRPath would return them (used by tests and non-hot callers)."""
        context = [resource]
        anchored = [root if root is not None else resource]
        out: Collection = []
        for branch in self.branches:
            out.extend(v for v in branch.evaluate(anchored if branch.root else context) if v is not None)
        return distinct(out) if self.distinct else out


# --- compiler ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    type: str | None  # type of the focus
    root_type: str
    at_root: bool  # the focus is the resource itself, so %resource is $this


def _identity_branch(ctx: _Context) -> Branch:
    return Branch(ctx.type, None, (), "$this")


def _computed(fn: Step, type_: str | None, sig: str, constant: bool = False) -> Branch:
    return Branch(type_, None, (fn,), sig, constant=constant)


def _compile(node: Node, ctx: _Context) -> list[Branch]:
    if isinstance(node, Ident):
        return _compile_ident(node.name, ctx)
    if isinstance(node, Member):
        return [m for b in _compile(node.base, ctx) for m in _member(b, node.name)]
    if isinstance(node, Call):
        return _compile_call(node, ctx)
    if isinstance(node, TypeOp):
        base = _compile(node.base, ctx)
        type_name = model.type_specifier(node.type_name)
        if node.op == "as":
            return _as_type(base, type_name)
        return [_is_type(base, type_name, unparse(node))]
    if isinstance(node, Binary):
        return _compile_binary(node, ctx)
    if isinstance(node, Index):
        if not isinstance(node.index, Literal) or type(node.index.value) is not int:
            raise Unsupported("computed indexer")
        i = node.index.value
        return [_add_step(b, slice_step(i, i + 1), f"[{i}]") for b in _single(_compile(node.base, ctx))]
    if isinstance(node, Literal):
        return [_literal(node.value)]
    if isinstance(node, Var):
        if node.name == "this":
            return [_identity_branch(ctx)]
        if node.name in ("resource", "rootResource", "context") and ctx.at_root:
            return [_identity_branch(ctx)]
        if node.name in ("resource", "rootResource"):
            return [Branch(ctx.root_type, None, (), "%resource", root=True)]
    raise Unsupported(f"{type(node).__name__} {unparse(node)}")


def _compile_ident(name: str, ctx: _Context) -> list[Branch]:
    if name[:1].isupper() and ctx.type is not None and model.is_subtype(ctx.type, name):
        # ``Observation.code`` on an Observation, ``Resource.meta`` on anything: the focus itself.
        return [_identity_branch(ctx)]
    if name[:1].isupper():
        # A type name that is not the focus' type: FHIRPath yields nothing (element names are
        # lower-case, so this cannot be a member).
        return []
    return _member(_identity_branch(ctx), name)


def _member(branch: Branch, name: str) -> list[Branch]:
    if branch.type == _RESOLVED:
        raise Unsupported("navigation into a resolved resource")
    try:
        entries = model.member(branch.type, name) if branch.type is not None else ((name, None),)
    except model.PrimitiveNavigation as exc:  # e.g. birthDate.extension: lives in _birthDate
        raise Unsupported(str(exc)) from exc
    out: list[Branch] = []
    for key, type_ in entries:
        if branch.key is None and not branch.steps:
            out.append(
                Branch(type_, key, (), key if branch.sig == "$this" else f"{branch.sig}.{key}", branch.root)
            )
        else:
            out.append(
                Branch(
                    type_, branch.key, branch.steps + (member_step(key),), f"{branch.sig}.{key}", branch.root
                )
            )
    return out


def _add_step(branch: Branch, step: Step, text: str, type_: str | None = None) -> Branch:
    new_type = branch.type if type_ is None else type_
    return Branch(new_type, branch.key, branch.steps + (step,), branch.sig + text, branch.root)


def _single(branches: list[Branch]) -> list[Branch]:
    # Positional functions (``[0]``, ``first()``) see the whole collection; across several typed
    # branches the document order is lost, so we only compile them on one branch.
    if len(branches) > 1:
        raise Unsupported("positional function over a choice or union")
    return branches


def _literal(value: Any) -> Branch:
    if value is None:
        return _computed(lambda c: [], "empty", "{}", constant=True)
    constant = [value]
    type_ = {bool: "boolean", int: "integer", float: "decimal", str: "string"}[type(value)]
    return _computed(lambda c: list(constant), type_, repr(value), constant=True)


def _type_argument(node: Node) -> str:
    if isinstance(node, Ident):
        return model.type_specifier(node.name)
    if isinstance(node, Member) and isinstance(node.base, Ident):
        return model.type_specifier(f"{node.base.name}.{node.name}")
    raise Unsupported("type argument")


def _string_argument(node: Node) -> str:
    if isinstance(node, Literal) and type(node.value) is str:
        return node.value
    raise Unsupported("non-literal argument")


def _as_type(branches: list[Branch], type_name: str) -> list[Branch]:
    out = []
    for b in branches:
        if b.type is None and type_name in model.resource_types() | {"Resource", "DomainResource"}:
            # A resource-typed element (Bundle.entry.resource): its JSON says what it is.
            out.append(
                _add_step(b, filter_step(_resource_test(type_name)), f".ofType({type_name})", type_name)
            )
        elif b.type is None or b.type == _RESOLVED:
            raise Unsupported("type test on an untyped value")
        elif model.is_subtype(b.type, type_name):
            out.append(b)  # same values, same sig: shares evaluation with the un-narrowed path
    return out


def _resource_test(type_name: str) -> Callable[[Any], bool]:
    accepted = frozenset(t for t in model.resource_types() if model.is_subtype(t, type_name))
    return lambda x: type(x) is dict and x.get("resourceType") in accepted


def _is_type(branches: list[Branch], type_name: str, sig: str) -> Branch:
    _check_anchor(branches)
    if branches and all(b.type == _RESOLVED for b in branches):
        accepted = frozenset(t for t in model.resource_types() if model.is_subtype(t, type_name))
        values = collapse(branches)

        def is_resolved(collection: Collection) -> Collection:
            refs = values(collection)
            return [reference_type(refs[0]) in accepted] if len(refs) == 1 else []

        return _with_anchor(_computed(is_resolved, "boolean", sig), branches)
    typed = []
    for b in branches:
        if b.type is None or b.type == _RESOLVED:
            raise Unsupported("type test on an untyped value")
        typed.append((evaluator(b), model.is_subtype(b.type, type_name)))

    def is_type(collection: Collection) -> Collection:
        results = []
        for ev, matches in typed:
            results.extend([matches] * len(ev(collection)))
        return results if len(results) == 1 else []

    return _with_anchor(_computed(is_type, "boolean", sig), branches)


def _check_anchor(branches: list[Branch]) -> None:
    if len({b.root for b in branches if not b.constant}) > 1:
        raise Unsupported("mixes %resource and the focus in one operation")


def _with_anchor(branch: Branch, inputs: list[Branch]) -> Branch:
    branch.root = any(b.root for b in inputs)
    return branch


def _compile_call(node: Call, ctx: _Context) -> list[Branch]:
    base = _compile(node.base, ctx) if node.base is not None else [_identity_branch(ctx)]
    name, args = node.name, node.args
    sig = unparse(node)
    if name == "where" and len(args) == 1:
        return [
            _add_step(b, filter_step(_predicate(args[0], b, ctx)), f".where({unparse(args[0])})")
            for b in base
        ]
    if name in ("as", "ofType") and len(args) == 1:
        return _as_type(base, _type_argument(args[0]))
    if name == "is" and len(args) == 1:
        return [_is_type(base, _type_argument(args[0]), sig)]
    if name == "extension" and len(args) == 1:
        url = _string_argument(args[0])
        return [
            _add_step(
                e, filter_step(lambda x, url=url: type(x) is dict and x.get("url") == url), f"({url!r})"
            )
            for b in base
            for e in _member(b, "extension")
        ]
    if name == "hasExtension" and len(args) == 1:
        url = _string_argument(args[0])
        extensions = collapse([e for b in base for e in _member(b, "extension")])
        _check_anchor(base)

        def has_extension(collection: Collection) -> Collection:
            return [any(type(x) is dict and x.get("url") == url for x in extensions(collection))]

        return [_with_anchor(_computed(has_extension, "boolean", sig), base)]
    if name == "resolve" and not args:
        return [Branch(_RESOLVED, b.key, b.steps, f"{b.sig}.resolve()", b.root) for b in base]
    if name in ("exists", "empty") and len(args) <= 1:
        if args:
            base = [
                _add_step(b, filter_step(_predicate(args[0], b, ctx)), f".where({unparse(args[0])})")
                for b in base
            ]
        values = collapse(base)
        _check_anchor(base)
        if name == "exists":
            return [_with_anchor(_computed(lambda c: [bool(values(c))], "boolean", sig), base)]
        return [_with_anchor(_computed(lambda c: [not values(c)], "boolean", sig), base)]
    if name == "not" and not args:
        values = collapse(base)
        _check_anchor(base)

        def negate(collection: Collection) -> Collection:
            value = to_boolean(values(collection))
            return [] if value is None else [not value]

        return [_with_anchor(_computed(negate, "boolean", sig), base)]
    if name == "first" and not args:
        return [_add_step(b, slice_step(0, 1), ".first()") for b in _single(base)]
    raise Unsupported(f"function {name}()")


def _predicate(criteria: Node, item: Branch, ctx: _Context) -> Callable[[Any], bool]:
    """``where(criteria)``: keep an item when criteria, evaluated on it alone, is exactly true."""
    item_ctx = _Context(item.type, ctx.root_type, at_root=False)
    fast = _fast_predicate(criteria, item_ctx)
    if fast is not None:
        return fast
    branches = _compile(criteria, item_ctx)
    if any(b.root for b in branches):
        raise Unsupported("%resource inside where()")
    values = collapse(branches)

    def predicate(x: Any) -> bool:
        result = values([x])
        return len(result) == 1 and result[0] is True

    return predicate


def _fast_predicate(criteria: Node, ctx: _Context) -> Callable[[Any], bool] | None:
    """Direct predicates for the two shapes that dominate SearchParameters."""
    # where(resolve() is Patient)
    if (
        isinstance(criteria, TypeOp)
        and criteria.op == "is"
        and isinstance(criteria.base, Call)
        and criteria.base.name == "resolve"
        and criteria.base.base is None
        and not criteria.base.args
    ):
        type_name = model.type_specifier(criteria.type_name)
        accepted = frozenset(t for t in model.resource_types() if model.is_subtype(t, type_name))
        return lambda x: reference_type(x) in accepted
    # where(system = 'phone'), where(type = 'composed-of')
    if (
        isinstance(criteria, Binary)
        and criteria.op == "="
        and isinstance(criteria.left, Ident)
        and criteria.left.name[:1].islower()
        and isinstance(criteria.right, Literal)
        and criteria.right.value is not None
    ):
        try:
            entries = (
                model.member(ctx.type, criteria.left.name)
                if ctx.type is not None
                else ((criteria.left.name, None),)
            )
        except model.PrimitiveNavigation:
            return None
        if len(entries) != 1:
            return None
        key, literal = entries[0][0], criteria.right.value

        def equals(x: Any) -> bool:
            if type(x) is not dict:
                return False
            value = x.get(key)
            if type(value) is list:
                return len(value) == 1 and fp_equal(value[0], literal)
            return value is not None and fp_equal(value, literal)

        return equals
    return None


def _compile_binary(node: Binary, ctx: _Context) -> list[Branch]:
    if node.op == "|":
        return _compile(node.left, ctx) + _compile(node.right, ctx)
    left, right = _compile(node.left, ctx), _compile(node.right, ctx)
    _check_anchor(left + right)
    lhs, rhs = collapse(left), collapse(right)
    sig = unparse(node)
    if node.op in ("=", "!="):
        negate = node.op == "!="

        def equality(collection: Collection) -> Collection:
            a, b = lhs(collection), rhs(collection)
            if not a or not b:
                return []
            same = len(a) == len(b) and all(fp_equal(x, y) for x, y in zip(a, b, strict=True))
            return [same != negate]

        return [_with_anchor(_computed(equality, "boolean", sig), left + right)]
    if node.op in ("and", "or", "xor", "implies"):
        logic = LOGIC[node.op]

        def boolean(collection: Collection) -> Collection:
            result = logic(to_boolean(lhs(collection)), to_boolean(rhs(collection)))
            return [] if result is None else [result]

        return [_with_anchor(_computed(boolean, "boolean", sig), left + right)]
    raise Unsupported(f"operator {node.op}")


# --- entry point -------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def compile_expression(
    expression: str, context_type: str, root_type: str | None = None
) -> CompiledExpression:
    """Compile ``expression`` for a focus of ``context_type`` (a resource type, or the type of a
    composite's base element, with ``root_type`` the resource type for ``%resource``).

    Never raises for a readable-or-not expression: outside the native subset the result is a single
    fhirpathpy-backed branch and ``native`` is False (with the ``reason``)."""
    root = root_type or context_type
    ctx = _Context(context_type, root, at_root=context_type == root)
    try:
        tree = parse(expression)
        branches = _compile(tree, ctx)
        if any(b.type == _RESOLVED for b in branches):
            raise Unsupported("resolve() outside 'is Type'")
        distinct = isinstance(tree, Binary) and tree.op == "|"
        return CompiledExpression(expression, context_type, branches, native=True, distinct=distinct)
    except (Unsupported, FhirPathSyntaxError) as exc:
        log.info("FHIRPath %r on %s falls back to fhirpathpy: %s", expression, context_type, exc)
        try:
            branch = _computed(
                fallback_step(expression, ctx.type, ctx.at_root), None, f"fhirpathpy:{expression}"
            )
        except Exception as fp_exc:  # noqa: BLE001 - unreadable even for fhirpathpy: index nothing
            log.warning("FHIRPath %r cannot be evaluated: %s", expression, fp_exc)
            return CompiledExpression(expression, context_type, [], native=False, reason=f"{exc}; {fp_exc}")
        return CompiledExpression(expression, context_type, [branch], native=False, reason=str(exc))
