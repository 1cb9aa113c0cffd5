"""The fast structural check every write runs: is this JSON shaped like the FHIR R4 resource it claims to be?

``check_resource`` walks a parsed resource once against lookup tables compiled (lazily, once per
type) from ``gpbridge.fhir.spec.types()`` and returns *every* problem it finds, each an ``Issue``
with a FHIRPath expression such as ``Patient.name[0].given[1]``:

- the resource is a JSON object whose ``resourceType`` is a concrete resource type (and the expected one);
- every property is an element of its type, recursively through datatypes, backbone elements,
  content references, choice types (``valueQuantity`` for ``value[x]``), ``_name`` primitive-extension
  siblings and contained resources;
- array-ness follows the element's maximum cardinality (JSON arrays for ``*``, nulls only where the
  ``_name`` sibling carries the value), and required elements (min >= 1) are present;
- primitives have the right JSON kind and match the R4 regex of their type (date, id, code, ...);
  integers fit in 32 bits;
- no empty strings, objects or arrays (ele-1).

Objects whose check depends on their JSON alone and that recur (Codings, CodeableConcepts) are
remembered once found valid (``check_subtree``), so a coded value seen before costs one
serialisation and a set lookup.

Bindings, invariants, profiles and reference targets are the profile validator's business, not this.
Issue codes: ``structure`` (shape, unknown element), ``value`` (bad primitive), ``required`` (missing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from gpbridge.fhir import spec
from gpbridge.fhir.element_path import Path, render
from gpbridge.fhir.outcome import Issue, error

# Element kinds in a compiled table.
PRIMITIVE, COMPLEX, RESOURCE, PRIMITIVE_EXT, SKIP = range(5)

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # R4 integer is a signed 32-bit value (datatypes.html#integer)

# A primitive checker returns None when the value is valid, else a sentence ending without a full stop.
Checker = Callable[[Any], str | None]
# (is_array, kind, payload, choice_group, fast): payload is a Checker, a table key, or the base
# element name; fast is the primitive's cheap test (FAST_*), which walks run inline before calling it.
Element = tuple[bool, int, Any, str | None, int]
FAST_NONE, FAST_PRINTABLE, FAST_TOKEN = range(3)


class Table:
    """The elements one JSON object of a given type (or backbone element) may carry."""

    __slots__ = ("name", "elements", "required", "choices", "valid", "lookups", "hits")

    def __init__(self, name: str) -> None:
        self.name = name  # "HumanName", "Observation.component": used in messages only
        self.elements: dict[str, Element] = {}
        # (element as defined, its FHIRPath name, JSON keys that satisfy it): value[x] is "value" in FHIRPath
        self.required: list[tuple[str, str, tuple[str, ...]]] = []
        self.choices: dict[str, list[str]] = {}  # "value" -> allowed type suffixes, for diagnostics
        # check_subtree's memory: the JSON of objects found valid (None once found not to pay).
        self.valid: set[bytes] | None = set()
        self.lookups = 0
        self.hits = 0


_TABLES: dict[str, Table] = {}
_CHECKERS: dict[str, Checker] = {}


# --------------------------------------------------------------------------------------- primitives


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fast_path(name: str) -> int:
    """Which cheap test, when it passes, implies the type's regex matches; the regex decides otherwise.

    ``str.isprintable`` rejects every ASCII whitespace but the space, so a printable string matches
    ``[ \\r\\n\\t\\S]+`` (string, markdown: FAST_PRINTABLE) and, with no space in it, ``\\S*``
    (uri family) and the code regex (FAST_TOKEN). tests/fhir/test_structure.py checks the implication with
    hypothesis.
    """
    if name in ("string", "markdown"):
        return FAST_PRINTABLE
    if name in ("code", "uri", "url", "canonical"):
        return FAST_TOKEN
    return FAST_NONE


def passes_fast(fast: int, value: Any) -> bool:
    """Whether ``value`` passes the cheap test ``fast`` (walks inline this for speed)."""
    return (
        fast != FAST_NONE and type(value) is str and value != "" and value.isprintable()
        and (fast == FAST_PRINTABLE or " " not in value)
    )


def _is_integer_type(name: str) -> bool:
    while name:
        if name == "integer":
            return True
        name = spec.types()[name]["base"] or ""
    return False


def primitive_checker(name: str) -> Checker:
    checker = _CHECKERS.get(name)
    if checker is None:
        checker = _CHECKERS[name] = _make_checker(name)
    return checker


def _make_checker(name: str) -> Checker:
    definition = spec.types()[name]
    json_kind = definition.get("json", "string")
    # FHIR regexes are Java regexes: \s and \S are ASCII classes there, so compile with re.ASCII.
    regex = re.compile(definition["regex"], re.ASCII) if definition.get("regex") else None
    if json_kind == "boolean":
        return lambda v: (
            None if v is True or v is False else f"{_show(v)} is not a JSON boolean (true or false)"
        )
    if json_kind == "number" and _is_integer_type(name):
        return _integer_checker(name, regex)
    if json_kind == "number":
        return _decimal_checker(name)
    return _string_checker(name, regex, _fast_path(name))


def _integer_checker(name: str, regex: re.Pattern[str] | None) -> Checker:
    def check(v: Any) -> str | None:
        if type(v) is not int:  # excludes bool (a subclass of int) and floats such as 1.0
            return f"{_show(v)} is not a valid {name}: expected a JSON number without fraction or exponent"
        if not INT_MIN <= v <= INT_MAX:
            return f"{v} is out of range for {name} (32-bit signed integer)"
        if regex is not None and regex.fullmatch(str(v)) is None:
            return f"{v} is not a valid {name}"
        return None

    return check


def _decimal_checker(name: str) -> Checker:
    def check(v: Any) -> str | None:
        t = type(v)
        if t is int or (t is float and math.isfinite(v)):
            return None
        return f"{_show(v)} is not a valid {name}: expected a JSON number"

    return check


def _string_checker(name: str, regex: re.Pattern[str] | None, fast: int) -> Checker:
    fullmatch = regex.fullmatch if regex is not None else None

    def check(v: Any) -> str | None:
        if type(v) is not str:
            return f"{_show(v)} is not a valid {name}: expected a JSON string"
        if not v:
            return f"empty string is not a valid {name}: omit the element instead"
        if fullmatch is not None and fullmatch(v) is None:
            return f"{_show(v)} is not a valid {name}"
        return None

    if fast != FAST_NONE:
        return lambda v: None if passes_fast(fast, v) else check(v)
    return check


# --------------------------------------------------------------------------------------- tables


def table(key: str) -> Table:
    """The compiled table for a type ("Quantity") or backbone element ("Observation.component")."""
    found = _TABLES.get(key)
    if found is None:
        _compile_type(key.split(".", 1)[0])
        found = _TABLES[key]
    return found


def _compile_type(type_name: str) -> None:
    definition = spec.types()[type_name]
    elements: dict[str, dict[str, Any]] = definition["elements"]
    tables = {type_name: Table(type_name)}
    if definition["kind"] == "resource":
        tables[type_name].elements["resourceType"] = (False, SKIP, None, None, FAST_NONE)
    for path, el in elements.items():
        if el.get("types") in (["BackboneElement"], ["Element"]) or el.get("contentReference"):
            tables.setdefault(f"{type_name}.{path}", Table(f"{type_name}.{path}"))
    for path, el in elements.items():
        parent, _, name = path.rpartition(".")
        owner = tables[f"{type_name}.{parent}" if parent else type_name]
        _add_element(owner, type_name, path, name, el)
    # contentReference shares the referenced backbone's table rather than copying it.
    for path, el in elements.items():
        ref = el.get("contentReference")
        if ref:
            tables[f"{type_name}.{path}"] = tables[f"{type_name}.{ref}"]
    _TABLES.update(tables)


def _add_element(owner: Table, type_name: str, path: str, name: str, el: dict[str, Any]) -> None:
    max_ = el.get("max", "*")
    if max_ == "0":
        return  # prohibited (xhtml.extension): reported as an unknown element
    is_array = max_ != "1"
    ref = el.get("contentReference")
    types: list[str] = el.get("types", [])
    choice = name.endswith("[x]")
    stem = name[:-3] if choice else name
    keys: list[str] = []
    if choice:
        owner.choices[stem] = [t[0].upper() + t[1:] for t in types]
    for type_code in types or [""]:
        json_name = stem + type_code[0].upper() + type_code[1:] if choice else name
        keys.append(json_name)
        group = stem if choice else None
        if ref:
            owner.elements[json_name] = (is_array, COMPLEX, f"{type_name}.{path}", group, FAST_NONE)
        elif type_code == "Resource":
            owner.elements[json_name] = (is_array, RESOURCE, None, group, FAST_NONE)
        elif type_code in ("BackboneElement", "Element"):
            owner.elements[json_name] = (is_array, COMPLEX, f"{type_name}.{path}", group, FAST_NONE)
        elif spec.types()[type_code]["kind"] == "primitive-type":
            owner.elements[json_name] = (is_array, PRIMITIVE, primitive_checker(type_code), group, _fast_path(type_code))
            if not el.get("xmlAttr"):
                owner.elements["_" + json_name] = (is_array, PRIMITIVE_EXT, json_name, None, FAST_NONE)
                keys.append("_" + json_name)
        else:
            owner.elements[json_name] = (is_array, COMPLEX, type_code, group, FAST_NONE)
    if el.get("min", 0) >= 1:
        owner.required.append((name, stem, tuple(keys)))


# --------------------------------------------------------------------------------------- checking
# Paths are lazy (``fhir.element_path``): a tuple per step, rendered only when an issue is reported.
# ``fhir.core_checks`` runs the same per-object and per-member checks inside its own walk when it
# checks structure and content in one pass (``validate``), so they are public here.


def check_resource(resource: Any, expected_type: str | None = None) -> list[Issue]:
    """Every structural problem in ``resource``; an empty list means it is well formed."""
    issues: list[Issue] = []
    rtype = resource_type_at(resource, expected_type, "", issues)
    if rtype is not None:
        check_object(resource, table(rtype), rtype, issues)
    return issues


def resource_type_at(resource: Any, expected_type: str | None, path: Path, issues: list[Issue]) -> str | None:
    """The type of the resource at ``path`` when its elements can be checked, else None (reported)."""
    if type(resource) is not dict:
        issues.append(
            error("structure", f"A resource must be a JSON object, not {_json_kind(resource)}", render(path))
        )
        return None
    rtype = resource.get("resourceType")
    if rtype is None:
        issues.append(error("required", "The resource has no resourceType", render(path)))
        return None
    if type(rtype) is not str or not spec.is_resource_type(rtype):
        issues.append(
            error(
                "structure",
                f"Unknown resourceType {_show(rtype)}",
                f"{render(path)}.resourceType" if path else "resourceType",
            )
        )
        return None
    if expected_type is not None and rtype != expected_type:
        issues.append(error("invalid", f"Expected a {expected_type} resource but got {rtype}", render(path) or rtype))
    return rtype


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) in (int, float):
        return "a number"
    if type(value) is str:
        return "a string"
    if type(value) is list:
        return "an array"
    return "an object"


def check_object(obj: dict[str, Any], tbl: Table, path: Path, issues: list[Issue]) -> None:
    if "id" in obj and len(obj) == 1:
        issues.append(id_alone(path))
    elements = tbl.elements
    groups: dict[str, str] | None = None
    for name, value in obj.items():
        try:  # a subscript is cheaper than .get() and a miss (an unknown element) is rare
            element = elements[name]
        except KeyError:
            issues.append(unknown_element(tbl, name, path))
            continue
        is_array, kind, payload, group, fast = element
        if group is not None:
            groups = choice_seen(groups, group, name, path, issues)
        if kind == PRIMITIVE and not is_array:  # the commonest member, inline
            if fast and type(value) is str and value and value.isprintable() and (fast == FAST_PRINTABLE or " " not in value):
                continue  # passes_fast(), inline
            problem = payload(value)
            if problem is not None:
                issues.append(scalar_problem(value, problem, name, path))
        elif kind == COMPLEX and not is_array and type(value) is dict and value:
            check_subtree(value, _TABLES.get(payload) or table(payload), (path, name, None), issues)
        else:
            check_member(obj, name, value, element, path, issues)
    if tbl.required:
        check_required(obj, tbl, path, issues)


# check_subtree remembers at most this many valid objects per table, and stops remembering for a
# table where fewer than a quarter of its first lookups were found (HumanName, Period: no repeats).
MEMO_SIZE = 16384
MEMO_TRIAL = 1024
# Values orjson would write like JSON without being JSON (a str subclass, a datetime) raise, so
# they are checked, never looked up.
_MEMO_DUMP = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def check_subtree(obj: dict[str, Any], tbl: Table, path: Path, issues: list[Issue]) -> None:
    """``check_object`` for an object whose check depends on its JSON alone, remembering the
    objects found valid: coded values (a Coding, a CodeableConcept) recur across resources, and
    one serialisation and a set lookup cost a fraction of walking them again."""
    valid = tbl.valid
    if valid is None:
        check_object(obj, tbl, path, issues)
        return
    try:
        key = orjson.dumps(obj, option=_MEMO_DUMP)
    except TypeError:  # orjson.JSONEncodeError: not plain JSON
        check_object(obj, tbl, path, issues)
        return
    tbl.lookups += 1
    if key in valid:
        tbl.hits += 1
        return
    found = len(issues)
    check_object(obj, tbl, path, issues)
    # orjson writes NaN and infinities as null: an object with a null is never remembered.
    if len(issues) == found and b"null" not in key:
        if len(valid) >= MEMO_SIZE:
            valid.clear()
        valid.add(key)
    if tbl.lookups == MEMO_TRIAL and tbl.hits * 4 < MEMO_TRIAL:
        tbl.valid = None


def forget_valid_objects() -> None:
    """Empty check_subtree's memory (for benchmarks that measure a first sight)."""
    for tbl in _TABLES.values():
        tbl.valid, tbl.lookups, tbl.hits = set(), 0, 0


def id_alone(path: Path) -> Issue:
    # ele-1: an id alone is not content (resources always carry resourceType besides).
    return error("structure", "An element must have a value or children other than id", render(path))


def choice_seen(groups: dict[str, str] | None, group: str, name: str, path: Path, issues: list[Issue]) -> dict[str, str]:
    """Record ``name`` as the JSON key of choice element ``group``; a second one is an error."""
    if groups is None:
        return {group: name}
    if group in groups:
        issues.append(
            error(
                "structure",
                f"Only one of {group}[x] may be present, found {groups[group]} and {name}",
                f"{render(path)}.{name}",
            )
        )
    else:
        groups[group] = name
    return groups


def check_member(obj: dict[str, Any], name: str, value: Any, element: Element, path: Path, issues: list[Issue]) -> None:
    """The value(s) under one known key of ``obj``, and everything below them."""
    is_array, kind, payload, _, _ = element
    if kind == PRIMITIVE:
        if not is_array:
            problem = payload(value)
            if problem is not None:
                issues.append(scalar_problem(value, problem, name, path))
            return
        if type(value) is not list or not value:
            issues.append(array_problem(value, name, path))
            return
        for i, item in enumerate(value):
            if item is None:
                _check_null(obj, name, i, path, issues)
                continue
            problem = payload(item)
            if problem is not None:
                issues.append(error("value", problem, render((path, name, i))))
    elif kind == COMPLEX:
        child = _TABLES.get(payload) or table(payload)
        if is_array:
            if type(value) is not list or not value:
                issues.append(array_problem(value, name, path))
                return
            for i, item in enumerate(value):
                if type(item) is dict and item:
                    check_subtree(item, child, (path, name, i), issues)
                else:
                    issues.append(object_problem(item, (path, name, i)))
        elif type(value) is dict and value:
            check_subtree(value, child, (path, name, None), issues)
        else:
            issues.append(object_problem(value, (path, name, None), name))
    elif kind == RESOURCE:
        if is_array:
            if type(value) is not list or not value:
                issues.append(array_problem(value, name, path))
                return
            for i, item in enumerate(value):
                _check_resource(item, (path, name, i), issues)
        elif type(value) is list:
            issues.append(scalar_problem(value, "", name, path))
        else:
            _check_resource(value, (path, name, None), issues)
    elif kind == PRIMITIVE_EXT:
        _check_primitive_extension(obj, name, value, payload, is_array, path, issues)


def _check_resource(resource: Any, path: Path, issues: list[Issue]) -> None:
    rtype = resource_type_at(resource, None, path, issues)
    if rtype is not None:
        check_object(resource, table(rtype), path, issues)


def check_required(obj: dict[str, Any], tbl: Table, path: Path, issues: list[Issue]) -> None:
    for label, fhirpath_name, keys in tbl.required:
        for key in keys:
            if key in obj:
                break
        else:
            issues.append(
                error(
                    "required",
                    f"{tbl.name}.{label} is required (minimum cardinality 1) but missing",
                    f"{render(path)}.{fhirpath_name}",
                )
            )


# Problem reporters: only reached when something is wrong, so they may be slow and wordy.


def unknown_element(tbl: Table, name: str, at: Path) -> Issue:
    path = render(at)
    for stem, suffixes in tbl.choices.items():
        if name.startswith(stem) and name[len(stem) : len(stem) + 1].isupper():
            allowed = ", ".join(stem + s for s in suffixes)
            return error(
                "structure",
                f"{name} is not an allowed type for {tbl.name}.{stem}[x]; allowed: {allowed}",
                f"{path}.{name}",
            )
    if name == "resourceType":
        return error(
            "structure",
            f"resourceType is only allowed at the root of a resource, not in {tbl.name}",
            f"{path}.{name}",
        )
    return error("structure", f"Unknown element '{name}' in {tbl.name}", f"{path}.{name}")


def array_problem(value: Any, name: str, at: Path) -> Issue:
    path = render(at)
    if type(value) is list:
        return error("structure", f"{name} is an empty array: omit the element instead", f"{path}.{name}")
    return error(
        "structure",
        f"{name} may repeat, so it must be a JSON array, not {_json_kind(value)}",
        f"{path}.{name}",
    )


def scalar_problem(value: Any, problem: str, name: str, at: Path) -> Issue:
    path = render(at)
    if type(value) is list:
        return error(
            "structure", f"{name} has at most one value, so it must not be a JSON array", f"{path}.{name}"
        )
    if value is None:
        return error("structure", f"{name} is null: omit the element instead", f"{path}.{name}")
    return error("value", problem, f"{path}.{name}")


def object_problem(value: Any, at: Path, name: str | None = None) -> Issue:
    path = render(at)
    if type(value) is dict:
        return error("structure", "Empty object: an element must have a value or children", path)
    if name is not None and type(value) is list:
        return error("structure", f"{name} has at most one value, so it must not be a JSON array", path)
    return error("structure", f"Expected a JSON object, not {_json_kind(value)}", path)


def _check_null(obj: dict[str, Any], name: str, i: int, path: Path, issues: list[Issue]) -> None:
    """A null in a primitive array only holds a place for an extension in the ``_name`` array."""
    ext = obj.get("_" + name)
    if type(ext) is not list or i >= len(ext) or ext[i] is None:
        issues.append(
            error(
                "structure",
                f"null in {name} is only allowed where _{name} has an extension at the same index",
                render((path, name, i)),
            )
        )


def _check_primitive_extension(
    obj: dict[str, Any], name: str, value: Any, base: str, is_array: bool, path: Path, issues: list[Issue]
) -> None:
    element_table = table("Element")
    if not is_array:
        if type(value) is dict and value:
            check_object(value, element_table, (path, name, None), issues)
        else:
            issues.append(object_problem(value, (path, name, None), name))
        return
    if type(value) is not list or not value:
        issues.append(array_problem(value, name, path))
        return
    values = obj.get(base)
    if values is not None and (type(values) is not list or len(values) != len(value)):
        issues.append(error("structure", f"{name} must have one entry per entry of {base}", render((path, name, None))))
        values = None
    for i, item in enumerate(value):
        if item is None:
            if values is None or values[i] is None:
                issues.append(
                    error(
                        "structure",
                        f"null in {name} is only allowed where {base} has a value at the same index",
                        render((path, name, i)),
                    )
                )
        elif type(item) is dict and item:
            check_object(item, element_table, (path, name, i), issues)
        else:
            issues.append(object_problem(item, (path, name, i)))
