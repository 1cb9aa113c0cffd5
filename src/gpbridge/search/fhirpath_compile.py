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
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from gpbridge.search import fhirpath_model as model
from gpbridge.search.fhirpath_parse import (
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
from gpbridge.search.references import reference_type

log = logging.getLogger(__name__)

Collection = list[Any]
Step = Callable[[Collection], Collection]

_RESOLVED = "@resolved"  # type of ``x.resolve()``: the Reference itself, usable only by ``is Type``


class Unsupported(Exception):
    """The expression uses FHIRPath outside the natively compiled subset."""


@dataclass(slots=True)
class Branch:
    """One statically typed path: start at the anchor, read ``key`` (if any), then apply ``run``."""

    type: str | None  # FHIR type (or backbone path) of every value; None: unknown
    key: str | None  # first JSON key read from the anchor; None: start at the anchor itself
    steps: tuple[Step, ...]
    sig: str  # canonical text: equal sig, equal values (lets parameters share one evaluation)
    root: bool = False  # anchored at %resource instead of the evaluation context
    constant: bool = False  # a literal: independent of any anchor
    run: Step | None = field(init=False)  # steps fused into one callable; None: identity

    def __post_init__(self) -> None:
        self.run = _chain(self.steps)

    def evaluate(self, collection: Collection) -> Collection:
        if self.key is not None:
            collection = _member_step(self.key)(collection)
        if self.run is None or not collection:
            return collection
        return self.run(collection)


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
        return _distinct(out) if self.distinct else out


# --- steps -------------------------------------------------------------------------------------


def _chain(steps: tuple[Step, ...]) -> Step | None:
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def run(collection: Collection) -> Collection:
        for step in steps:
            collection = step(collection)
            if not collection:
                break
        return collection

    return run


@cache
def _member_step(key: str) -> Step:
    def member(collection: Collection) -> Collection:
        out: Collection = []
        for item in collection:
            if type(item) is dict:
                value = item.get(key)
                if value is not None:
                    if type(value) is list:
                        out.extend(value)
                    else:
                        out.append(value)
        return out

    return member


def _filter_step(predicate: Callable[[Any], bool]) -> Step:
    def where(collection: Collection) -> Collection:
        return [item for item in collection if predicate(item)]

    return where


def _slice_step(start: int, stop: int) -> Step:
    def index(collection: Collection) -> Collection:
        return collection[start:stop]

    return index


def evaluator(branch: Branch) -> Step:
    key, run = branch.key, branch.run
    if key is None:
        return run or _identity
    member = _member_step(key)
    if run is None:
        return member

    def evaluate(collection: Collection) -> Collection:
        values = member(collection)
        return run(values) if values else values

    return evaluate


def _identity(collection: Collection) -> Collection:
    return collection


def _collapse(branches: list[Branch]) -> Step:
    """One callable returning the concatenated values of all branches."""
    evaluators = [evaluator(b) for b in branches]
    if len(evaluators) == 1:
        return evaluators[0]

    def evaluate(collection: Collection) -> Collection:
        out: Collection = []
        for ev in evaluators:
            out.extend(ev(collection))
        return out

    return evaluate


# --- FHIRPath value semantics ------------------------------------------------------------------


def _fp_equal(a: Any, b: Any) -> bool:
    """FHIRPath ``=`` on two items: no implicit conversion between strings, booleans and numbers."""
    ta, tb = type(a), type(b)
    if ta is tb:
        return bool(a == b)
    numbers = (int, float, Decimal)
    if ta in numbers and tb in numbers:
        return bool(a == b)
    return False


def _to_boolean(collection: Collection) -> bool | None:
    """Singleton evaluation of a collection where a Boolean is expected (spec 4.5)."""
    if len(collection) != 1:
        return None
    value = collection[0]
    return value if type(value) is bool else True


def _distinct(values: Collection) -> Collection:
    out: Collection = []
    for value in values:
        if not any(_fp_equal(value, seen) for seen in out):
            out.append(value)
    return out


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
        return [_add_step(b, _slice_step(i, i + 1), f"[{i}]") for b in _single(_compile(node.base, ctx))]
    if isinstance(node, Literal):
        return [_literal(node.value)]
    if isinstance(node, Var):
        if node.name == "this":
            return [_identity_branch(ctx)]
        if node.name in ("resource", "rootResource", "context"):
            if ctx.at_root:
                return [_identity_branch(ctx)]
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
    entries = model.member(branch.type, name) if branch.type is not None else ((name, None),)
    out: list[Branch] = []
    for key, type_ in entries:
        if branch.key is None and not branch.steps:
            out.append(Branch(type_, key, (), key if branch.sig == "$this" else f"{branch.sig}.{key}", branch.root))
        else:
            out.append(Branch(type_, branch.key, branch.steps + (_member_step(key),), f"{branch.sig}.{key}", branch.root))
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
        if b.type is None or b.type == _RESOLVED:
            raise Unsupported("type test on an untyped value")
        if model.is_subtype(b.type, type_name):
            out.append(b)  # same values, same sig: shares evaluation with the un-narrowed path
    return out


def _is_type(branches: list[Branch], type_name: str, sig: str) -> Branch:
    _check_anchor(branches)
    if branches and all(b.type == _RESOLVED for b in branches):
        accepted = frozenset(t for t in model.resource_types() if model.is_subtype(t, type_name))
        values = _collapse(branches)

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
        return [_add_step(b, _filter_step(_predicate(args[0], b, ctx)), f".where({unparse(args[0])})") for b in base]
    if name in ("as", "ofType") and len(args) == 1:
        return _as_type(base, _type_argument(args[0]))
    if name == "is" and len(args) == 1:
        return [_is_type(base, _type_argument(args[0]), sig)]
    if name == "extension" and len(args) == 1:
        url = _string_argument(args[0])
        return [
            _add_step(e, _filter_step(lambda x, url=url: type(x) is dict and x.get("url") == url), f"({url!r})")
            for b in base
            for e in _member(b, "extension")
        ]
    if name == "hasExtension" and len(args) == 1:
        url = _string_argument(args[0])
        extensions = _collapse([e for b in base for e in _member(b, "extension")])
        _check_anchor(base)

        def has_extension(collection: Collection) -> Collection:
            return [any(type(x) is dict and x.get("url") == url for x in extensions(collection))]

        return [_with_anchor(_computed(has_extension, "boolean", sig), base)]
    if name == "resolve" and not args:
        return [Branch(_RESOLVED, b.key, b.steps, f"{b.sig}.resolve()", b.root) for b in base]
    if name in ("exists", "empty") and len(args) <= 1:
        if args:
            base = [_add_step(b, _filter_step(_predicate(args[0], b, ctx)), f".where({unparse(args[0])})") for b in base]
        values = _collapse(base)
        _check_anchor(base)
        if name == "exists":
            return [_with_anchor(_computed(lambda c: [bool(values(c))], "boolean", sig), base)]
        return [_with_anchor(_computed(lambda c: [not values(c)], "boolean", sig), base)]
    if name == "not" and not args:
        values = _collapse(base)
        _check_anchor(base)

        def negate(collection: Collection) -> Collection:
            value = _to_boolean(values(collection))
            return [] if value is None else [not value]

        return [_with_anchor(_computed(negate, "boolean", sig), base)]
    if name == "first" and not args:
        return [_add_step(b, _slice_step(0, 1), ".first()") for b in _single(base)]
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
    values = _collapse(branches)

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
        entries = model.member(ctx.type, criteria.left.name) if ctx.type is not None else ((criteria.left.name, None),)
        if len(entries) != 1:
            return None
        key, literal = entries[0][0], criteria.right.value

        def equals(x: Any) -> bool:
            if type(x) is not dict:
                return False
            value = x.get(key)
            if type(value) is list:
                return len(value) == 1 and _fp_equal(value[0], literal)
            return value is not None and _fp_equal(value, literal)

        return equals
    return None


def _compile_binary(node: Binary, ctx: _Context) -> list[Branch]:
    if node.op == "|":
        return _compile(node.left, ctx) + _compile(node.right, ctx)
    left, right = _compile(node.left, ctx), _compile(node.right, ctx)
    _check_anchor(left + right)
    lhs, rhs = _collapse(left), _collapse(right)
    sig = unparse(node)
    if node.op in ("=", "!="):
        negate = node.op == "!="

        def equality(collection: Collection) -> Collection:
            a, b = lhs(collection), rhs(collection)
            if not a or not b:
                return []
            same = len(a) == len(b) and all(_fp_equal(x, y) for x, y in zip(a, b, strict=True))
            return [same != negate]

        return [_with_anchor(_computed(equality, "boolean", sig), left + right)]
    if node.op in ("and", "or", "xor", "implies"):
        logic = _LOGIC[node.op]

        def boolean(collection: Collection) -> Collection:
            result = logic(_to_boolean(lhs(collection)), _to_boolean(rhs(collection)))
            return [] if result is None else [result]

        return [_with_anchor(_computed(boolean, "boolean", sig), left + right)]
    raise Unsupported(f"operator {node.op}")


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _xor(a: bool | None, b: bool | None) -> bool | None:
    return None if a is None or b is None else a != b


def _implies(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is True:
        return True
    return None if a is None or b is None else b


_LOGIC = {"and": _and, "or": _or, "xor": _xor, "implies": _implies}


# --- fhirpathpy fallback -----------------------------------------------------------------------


def _resolve_stub(references: Collection) -> Collection:
    """``resolve()`` for fhirpathpy without a server: a typed stand-in, enough for ``is Type``."""
    from fhirpathpy.engine.nodes import ResourceNode

    out = []
    for ref in references:
        type_ = reference_type(ref)
        if type_ is not None:
            out.append(ResourceNode.create_node({"resourceType": type_}, type_))
    return out


def _has_extension_stub(elements: Collection, url: str) -> Collection:
    return [
        any(type(x) is dict and x.get("url") == url for x in (e.get("extension") or []))
        for e in elements
        if type(e) is dict
    ]


def fhirpathpy_options() -> dict[str, Any]:
    """Options making fhirpathpy understand the functions SearchParameters use but it lacks."""
    return {
        "userInvocationTable": {
            "resolve": {"fn": _resolve_stub, "arity": {0: []}},
            "hasExtension": {"fn": _has_extension_stub, "arity": {1: ["String"]}},
        }
    }


def _plain(value: Any) -> Any:
    """fhirpathpy returns Decimals and its own date types; index converters expect JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _fallback(expression: str, ctx: _Context) -> Branch:
    from fhirpathpy import apply_parsed_path
    from fhirpathpy.engine.nodes import ResourceNode
    from fhirpathpy.parser import parse as fp_parse

    parsed = fp_parse(expression)
    fhir_model = model.fhir_model()
    options = fhirpathpy_options()
    context_type = ctx.type

    def evaluate(collection: Collection) -> Collection:
        out: Collection = []
        for item in collection:
            if type(item) is not dict:
                continue
            node = item if ctx.at_root else ResourceNode.create_node(item, context_type)
            try:
                result = apply_parsed_path(node, parsed, {"resource": item, "rootResource": item}, fhir_model, options)
            except Exception as exc:  # noqa: BLE001 - a bad value must never break ingest
                log.debug("fhirpathpy failed on %r: %s", expression, exc)
                continue
            out.extend(_plain(v) for v in result if v is not None)
        return out

    return _computed(evaluate, None, f"fhirpathpy:{expression}")  # type: ignore[arg-type]


# --- entry point -------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def compile_expression(expression: str, context_type: str, root_type: str | None = None) -> CompiledExpression:
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
            branch = _fallback(expression, ctx)
        except Exception as fp_exc:  # noqa: BLE001 - unreadable even for fhirpathpy: index nothing
            log.warning("FHIRPath %r cannot be evaluated: %s", expression, fp_exc)
            return CompiledExpression(expression, context_type, [], native=False, reason=f"{exc}; {fp_exc}")
        return CompiledExpression(expression, context_type, [branch], native=False, reason=str(exc))
