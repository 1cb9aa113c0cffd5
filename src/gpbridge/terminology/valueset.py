"""ValueSet definitions -> code sets: compose includes/excludes, filters, implicit value sets.

Rules (FHIR R4 ValueSet.compose): includes are unioned, excludes subtracted; within one include
the system part (listed concepts, or all filters together, or the whole system) is intersected
with every referenced value set. Filters supported: ``concept`` is-a / descendent-of / is-not-a
/ generalizes / in / not-in / =, ``parent`` = and ``child`` =, ``inactive`` =, any loaded
property = / in, and on SNOMED CT ``constraint``/``expression`` = <ECL>. dm+d's ``parent`` =
VTM|VMP|AMP (how UK Core's dm+d value sets select a class) means the concept's class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from gpbridge.terminology import systems as sx
from gpbridge.terminology.codeset import (
    EMPTY,
    Above,
    ActiveIs,
    AllCodes,
    Below,
    Children,
    Codes,
    CodeSet,
    KindIs,
    Minus,
    Parents,
    PropertyIn,
    all_of,
    any_of,
)
from gpbridge.terminology.ecl import parse_ecl
from gpbridge.terminology.errors import cannot_expand, unknown_system, unknown_value_set

MAX_DEPTH = 16  # nested value set references; deeper is a cycle or a mistake
DMD_CLASSES = {"VTM", "VMP", "AMP", "VMPP", "AMPP"}
ECL_PROPERTIES = {"constraint", "expression", "ecl"}


@dataclass
class CompiledValueSet:
    node: CodeSet
    url: str | None = None
    version: str | None = None
    # displays the value set itself gives for listed concepts (used when the code system has none)
    displays: dict[tuple[str, str], str] = field(default_factory=dict)


Resolver = Callable[[str, str | None], dict[str, Any] | None]
SidOf = Callable[[str], int | None]


class ValueSetCompiler:
    """``sid_of(url)`` gives a loaded system's id; ``resolve(url, version)`` finds ValueSet resources.

    Both are callables rather than a cursor held open, so compiling never keeps one database
    connection while asking for another (which could exhaust PostgreSQL's pool under load).
    """

    def __init__(self, sid_of: SidOf, resolve: Resolver) -> None:
        self.sid_of = sid_of
        self.resolve = resolve
        self.displays: dict[tuple[str, str], str] = {}
        self._stack: list[str] = []

    def compile_url(self, canonical: str) -> CompiledValueSet:
        url, version = sx.split_canonical(canonical)
        node = self._reference(url, version)
        return CompiledValueSet(node, url, version, self.displays)

    def compile(self, vs: dict[str, Any]) -> CompiledValueSet:
        node = self._value_set(vs)
        return CompiledValueSet(node, vs.get("url"), vs.get("version"), self.displays)

    # -- value sets -----------------------------------------------------------------------------
    def _reference(self, url: str, version: str | None) -> CodeSet:
        implicit = sx.implicit_value_set(url)
        if implicit is not None:
            return self._implicit(url, *implicit)
        if url in self._stack or len(self._stack) >= MAX_DEPTH:
            raise cannot_expand(f"value set '{url}' includes itself (through {' -> '.join(self._stack)})")
        vs = self.resolve(url, version)
        if vs is None:
            raise unknown_value_set(url if version is None else f"{url}|{version}")
        self._stack.append(url)
        try:
            return self._value_set(vs)
        finally:
            self._stack.pop()

    def _value_set(self, vs: dict[str, Any]) -> CodeSet:
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            expansion = vs.get("expansion") or {}
            if expansion.get("contains"):
                return self._contains(expansion["contains"])
            raise cannot_expand(f"value set '{vs.get('url', '(inline)')}' has neither compose nor expansion")
        includes = [self._include(inc, f"ValueSet.compose.include[{i}]")
                    for i, inc in enumerate(compose.get("include") or ())]
        excludes = [self._include(exc, f"ValueSet.compose.exclude[{i}]")
                    for i, exc in enumerate(compose.get("exclude") or ())]
        node = any_of(includes)
        if excludes:
            node = Minus(node, any_of(excludes))
        if compose.get("inactive") is False:
            node = _active_only(node)
        return node

    def _contains(self, contains: list[dict[str, Any]]) -> CodeSet:
        by_system: dict[str, list[str]] = {}

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item.get("system") and item.get("code") and not item.get("abstract"):
                    by_system.setdefault(item["system"], []).append(item["code"])
                    if item.get("display"):
                        self.displays[(item["system"], item["code"])] = item["display"]
                walk(item.get("contains") or [])

        walk(contains)
        return any_of([Codes(system, tuple(codes)) for system, codes in by_system.items()])

    def _include(self, inc: dict[str, Any], where: str) -> CodeSet:
        parts: list[CodeSet] = []
        system = inc.get("system")
        if system:
            parts.append(self._system_part(system, inc, where))
        for i, ref in enumerate(inc.get("valueSet") or ()):
            url, version = sx.split_canonical(str(ref))
            try:
                parts.append(self._reference(url, version))
            except Exception as exc:
                _add_expression(exc, f"{where}.valueSet[{i}]")
                raise
        if not parts:
            raise cannot_expand(f"{where} has neither a system nor a value set", where)
        return all_of(parts)

    def _system_part(self, system: str, inc: dict[str, Any], where: str) -> CodeSet:
        concepts = inc.get("concept") or ()
        if concepts:
            codes = []
            for c in concepts:
                if isinstance(c, dict) and c.get("code"):
                    codes.append(c["code"])
                    if c.get("display"):
                        self.displays[(system, c["code"])] = c["display"]
            return Codes(system, tuple(dict.fromkeys(codes)))
        sid = self._sid(system, f"{where}.system")
        filters = inc.get("filter") or ()
        if not filters:
            return AllCodes(system, sid)
        return all_of([self._filter(system, sid, f, f"{where}.filter[{i}]") for i, f in enumerate(filters)])

    def _sid(self, system: str, where: str) -> int:
        sid = self.sid_of(system)
        if sid is None:
            raise unknown_system(system, where)
        return sid

    # -- filters ----------------------------------------------------------------------------------
    def _filter(self, system: str, sid: int, f: dict[str, Any], where: str) -> CodeSet:
        prop, op, value = f.get("property"), f.get("op"), f.get("value")
        if not prop or not op or value is None:
            raise cannot_expand(f"{where} needs property, op and value", where)
        value = str(value)
        if prop in ("concept", "code"):
            if op == "is-a":
                return Below(system, sid, value, True)
            if op == "descendent-of":
                return Below(system, sid, value, False)
            if op == "is-not-a":
                return Minus(AllCodes(system, sid), Below(system, sid, value, True))
            if op == "generalizes":
                return Above(system, sid, value, True)
            if op in ("=", "in"):
                return Codes(system, tuple(v.strip() for v in value.split(",") if v.strip()))
            if op == "not-in":
                return Minus(AllCodes(system, sid), Codes(system, tuple(v.strip() for v in value.split(","))))
        if prop in ECL_PROPERTIES and op == "=" and system == sx.SNOMED:
            return parse_ecl(value, system, sid)
        if prop == "parent" and op == "=":
            if system == sx.DMD and value.upper() in DMD_CLASSES:
                return KindIs(system, sid, value.upper())
            return Children(system, sid, value)
        if prop == "child" and op == "=":
            return Parents(system, sid, value)
        if prop == "inactive" and op == "=" and value in ("true", "false"):
            return ActiveIs(system, sid, value == "false")
        if op in ("=", "in"):
            values = (value,) if op == "=" else tuple(v.strip() for v in value.split(","))
            return PropertyIn(system, sid, prop, values)
        raise cannot_expand(f"{where}: filter '{prop} {op} {value}' is not supported", where)

    # -- implicit value sets ----------------------------------------------------------------------
    def _implicit(self, url: str, system: str, rest: str | None) -> CodeSet:
        sid = self._sid(system, "url")
        if rest is None:
            return AllCodes(system, sid)
        if system == sx.SNOMED and rest.startswith("isa/"):
            return Below(system, sid, rest[4:], True)
        if system == sx.SNOMED and rest.startswith("ecl/"):
            return parse_ecl(unquote(rest[4:]), system, sid)
        raise cannot_expand(f"implicit value set '{url}' is not supported (supported: ?fhir_vs, "
                            "?fhir_vs=isa/<id>, ?fhir_vs=ecl/<expression>)")


def _active_only(node: CodeSet) -> CodeSet:
    """compose.inactive = false: drop inactive codes of every system the set draws on."""
    systems: dict[str, int] = {}

    def walk(n: CodeSet) -> None:
        if isinstance(n, Codes):
            return
        if hasattr(n, "sid"):
            systems[n.system] = n.sid  # type: ignore[union-attr]
        for child in getattr(n, "parts", ()):
            walk(child)
        if isinstance(n, Minus):
            walk(n.left)
            walk(n.right)

    walk(node)
    if not systems:
        return node
    return Minus(node, any_of([ActiveIs(s, sid, False) for s, sid in systems.items()]))


def _add_expression(exc: Exception, expression: str) -> None:
    """Point a nested value set's error at the include that referenced it."""
    issues = getattr(exc, "issues", None)
    if issues:
        exc.issues = [replace(i, expression=i.expression or (expression,)) for i in issues]  # type: ignore[attr-defined]


__all__ = ["EMPTY", "CompiledValueSet", "ValueSetCompiler"]
