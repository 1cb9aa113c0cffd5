"""Compile the FHIR R4 core package into the compact JSON artefacts in src/gpbridge/fhir/spec/.

    .venv/bin/python tools/compile_spec.py [--package DIR] [--out DIR]

Reads StructureDefinition-*, SearchParameter-*, ValueSet-*, CodeSystem-* and CompartmentDefinition-*
files from an unpacked ``hl7.fhir.r4.core`` package and writes search_parameters.json, types.json,
valuesets.json, compartments.json and resource_types.json. The output is deterministic (sorted keys,
sorted sets) so a rerun over the same package produces byte-identical files; tests rely on that.
What the compiler had to skip or guess is printed to stderr, so it can be quoted in a note.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PACKAGE = REPO.parent / "shared" / "data" / "fhir-r4-core" / "package"
DEFAULT_OUT = REPO / "src" / "gpbridge" / "fhir" / "spec"

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
# FHIRPath system types appear on .id/.value/.url elements; used only when the fhir-type extension is absent.
SYSTEM_TYPES = {
    "String": "string",
    "Boolean": "boolean",
    "Integer": "integer",
    "Decimal": "decimal",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
}
JSON_KIND = {"Boolean": "boolean", "Integer": "number", "Decimal": "number"}

Json = dict[str, Any]


class Report:
    """Things the compiler skipped or had to interpret; printed at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, line: str) -> None:
        self.lines.append(line)


# ---------------------------------------------------------------------------------------------- reading


def load_all(package: Path, prefix: str) -> list[Json]:
    return [orjson.loads(p.read_bytes()) for p in sorted(package.glob(f"{prefix}-*.json"))]


def last_segment(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def strip_version(url: str) -> str:
    return url.split("|", 1)[0]


# ---------------------------------------------------------------------------------------------- types


def is_type_definition(sd: Json) -> bool:
    """Base types only: resources, datatypes and primitives; profiles and extensions come later."""
    return (
        sd.get("kind") in ("resource", "complex-type", "primitive-type")
        and sd.get("derivation") != "constraint"
    )


def element_type_code(sd: Json, path: str, t: Json) -> str:
    code: str = t["code"]
    if not code.startswith(SYSTEM_PREFIX):
        return code
    # R4 4.0.1 gives Resource.id the fhir-type "string", but the spec (resource.html#id) and the JSON
    # format require an id there; the checker needs the id regex, so say "id".
    if sd["kind"] == "resource" and path == f"{sd['type']}.id":
        return "id"
    # A primitive's own value is of that primitive (its fhir-type extension says "string" for code,
    # positiveInt and others, which loses the regex and, for positiveInt, the JSON kind).
    if sd["kind"] == "primitive-type" and path == f"{sd['type']}.value":
        return str(sd["type"])
    for ext in t.get("extension", ()):
        if ext.get("url") == FHIR_TYPE_EXT:
            return str(ext["valueUrl"])
    return SYSTEM_TYPES.get(code[len(SYSTEM_PREFIX) :], "string")


def compile_element(sd: Json, el: Json) -> Json:
    out: Json = {"min": el.get("min", 0), "max": el.get("max", "*")}
    types = [element_type_code(sd, el["path"], t) for t in el.get("type", ())]
    if types:
        out["types"] = types
    targets = sorted({last_segment(p) for t in el.get("type", ()) for p in t.get("targetProfile", ())})
    if targets:
        out["targets"] = targets
    binding = el.get("binding")
    if binding:
        b: Json = {"strength": binding["strength"]}
        if binding.get("valueSet"):
            b["valueSet"] = strip_version(binding["valueSet"])
        out["binding"] = b
    if "xmlAttr" in el.get("representation", ()):
        # Element.id, Extension.url and primitive values: no `_name` extension sibling in JSON.
        out["xmlAttr"] = True
    ref = el.get("contentReference")
    if ref:
        # "#Observation.referenceRange" -> "referenceRange": relative to the type, like the keys.
        out["contentReference"] = ref.lstrip("#").split(".", 1)[1]
    for key, value in el.items():
        if key.startswith("fixed") and key != "fixed":
            out["fixed"] = value
        elif key.startswith("pattern") and key != "pattern":
            out["pattern"] = value
    return out


def primitive_facts(sd: Json, by_type: dict[str, Json]) -> Json:
    """Regex and JSON kind of a primitive, from the type extensions on its ``value`` element."""
    value = next(e for e in sd["snapshot"]["element"] if e["path"] == f"{sd['type']}.value")
    t = value["type"][0]
    facts: Json = {}
    for ext in t.get("extension", ()):
        if ext.get("url") == REGEX_EXT:
            facts["regex"] = ext["valueString"]
    # The JSON kind comes from the root of the primitive's derivation chain: R4 4.0.1 labels
    # positiveInt/unsignedInt values System.String, but they derive from integer and are JSON numbers.
    root = sd
    while root.get("baseDefinition") and last_segment(root["baseDefinition"]) in by_type:
        parent = by_type[last_segment(root["baseDefinition"])]
        if parent["kind"] != "primitive-type":
            break
        root = parent
    root_value = next(e for e in root["snapshot"]["element"] if e["path"] == f"{root['type']}.value")
    system = root_value["type"][0]["code"].removeprefix(SYSTEM_PREFIX)
    facts["json"] = JSON_KIND.get(system, "string")
    return facts


def compile_types(sds: list[Json], report: Report) -> dict[str, Json]:
    by_type = {sd["type"]: sd for sd in sds if is_type_definition(sd)}
    skipped: dict[str, int] = {}
    for sd in sds:
        if not is_type_definition(sd):
            what = (
                "extension definitions"
                if sd.get("type") == "Extension"
                else f"{sd.get('kind')} {sd.get('derivation') or ''}".strip()
            )
            skipped[what] = skipped.get(what, 0) + 1
    report.note(
        "types: skipped StructureDefinitions (for the profile validator): "
        + ", ".join(f"{n} {k}" for k, n in sorted(skipped.items()))
    )
    out: dict[str, Json] = {}
    for name, sd in sorted(by_type.items()):
        base = sd.get("baseDefinition")
        entry: Json = {
            "kind": sd["kind"],
            "abstract": bool(sd.get("abstract")),
            "base": last_segment(base) if base else None,
            "elements": {},
        }
        prefix = name + "."
        for el in sd["snapshot"]["element"]:
            if el["path"].startswith(prefix):
                entry["elements"][el["path"][len(prefix) :]] = compile_element(sd, el)
        if sd["kind"] == "primitive-type":
            entry.update(primitive_facts(sd, by_type))
        out[name] = entry
    return out


def descends_from(types: dict[str, Json], name: str, ancestor: str) -> bool:
    while name:
        if name == ancestor:
            return True
        name = types[name]["base"] or ""
    return False


def concrete_resources(types: dict[str, Json]) -> list[str]:
    return sorted(n for n, t in types.items() if t["kind"] == "resource" and not t["abstract"])


# ---------------------------------------------------------------------------------------------- search


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression at top-level ``|`` (not inside parentheses, brackets or strings)."""
    parts: list[str] = []
    depth = 0
    quote = ""
    start = 0
    i = 0
    while i < len(expression):
        ch = expression[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
        i += 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


_ROOT = re.compile(r"\(*\s*([A-Za-z_][A-Za-z0-9_]*)")


def expression_root(part: str) -> str:
    """The identifier a path starts from, skipping leading parentheses: ``(X.y as Z)`` -> ``X``."""
    m = _ROOT.match(part)
    return m.group(1) if m else ""


def expression_for(expression: str, base: str, report: Report, sp_id: str) -> str:
    """The parts of a (possibly multi-type) expression that apply to ``base``."""
    if not expression:
        return ""
    kept = []
    for part in split_union(expression):
        root = expression_root(part)
        if root == base:
            kept.append(part)
        elif root[:1].islower() and not part.startswith(("(", "%")):
            # R4 ships a few expressions relative to the resource (InsurancePlan-name: "name | alias");
            # root them so every expression in the registry starts at its type.
            kept.append(f"{base}.{part}")
            report.note(f"search: {sp_id}: relative part {part!r} rooted as {base}.{part}")
    if not kept:
        report.note(f"search: {sp_id}: no part of {expression!r} applies to {base}; expression left empty")
    return " | ".join(kept)


def sp_bases(sp: Json, report: Report) -> list[str]:
    if sp.get("base"):
        return list(sp["base"])
    # Ten CodeSystem/ValueSet extension parameters in R4 4.0.1 lack `base`; their xpath names it.
    m = re.match(r"f:([A-Za-z]+)/", sp.get("xpath", ""))
    if not m:
        report.note(f"search: {sp['id']}: no base and none in xpath; skipped")
        return []
    report.note(f"search: {sp['id']}: no base in the package; took {m.group(1)} from its xpath")
    return [m.group(1)]


def is_example(sp: Json) -> bool:
    """The package carries the spec's SearchParameter *examples*; they would shadow real parameters."""
    return bool(sp.get("experimental")) and sp["id"].startswith("example")


def compile_search(sps: list[Json], types: dict[str, Json], report: Report) -> dict[str, dict[str, Json]]:
    by_url = {sp["url"]: sp for sp in sps}
    resources = concrete_resources(types)
    out: dict[str, dict[str, Json]] = {}
    no_expression: list[str] = []
    for sp in sorted(sps, key=lambda s: s["id"]):
        if is_example(sp):
            report.note(
                f"search: skipped example SearchParameter {sp['id']} ({sp['code']} on {', '.join(sp.get('base', []))})"
            )
            continue
        if not sp.get("expression"):
            no_expression.append(sp["id"])
        for base in sp_bases(sp, report):
            if base in ("Resource", "DomainResource"):
                targets = [r for r in resources if descends_from(types, r, base)]
                if base == "Resource":
                    targets.append("Resource")
                for rtype in targets:
                    add_param(out, rtype, sp, sp.get("expression", ""), by_url, report)
            else:
                add_param(
                    out,
                    base,
                    sp,
                    expression_for(sp.get("expression", ""), base, report, sp["id"]),
                    by_url,
                    report,
                )
    report.note(
        f'search: {len(no_expression)} parameters without expression (kept with expression ""): {", ".join(no_expression)}'
    )
    return out


def add_param(
    out: dict[str, dict[str, Json]],
    rtype: str,
    sp: Json,
    expression: str,
    by_url: dict[str, Json],
    report: Report,
) -> None:
    params = out.setdefault(rtype, {})
    code = sp["code"]
    if code in params:
        report.note(f"search: {rtype}.{code}: {sp['url']} clashes with {params[code]['url']}; first kept")
        return
    components = []
    for comp in sp.get("component", ()):
        target = by_url.get(comp["definition"])
        if target is None:
            report.note(f"search: {sp['id']}: component {comp['definition']} is not in the package")
            components.append({"code": "", "type": "", "expression": comp.get("expression", "")})
            continue
        components.append(
            {"code": target["code"], "type": target["type"], "expression": comp.get("expression", "")}
        )
    params[code] = {
        "type": sp["type"],
        "expression": expression,
        "url": sp["url"],
        "targets": sorted(sp.get("target", ())),
        "modifiers": sorted(sp.get("modifier", ())),
        "comparators": sorted(sp.get("comparator", ())),
        "chains": sorted(sp.get("chain", ())),
        "components": components,
    }


# ---------------------------------------------------------------------------------------------- value sets


def required_bindings(sds: Iterable[Json]) -> set[str]:
    """Every ValueSet bound with required strength in any snapshot or differential, profiles included."""
    urls = set()
    for sd in sds:
        for part in ("snapshot", "differential"):
            for el in sd.get(part, {}).get("element", ()):
                b = el.get("binding") or {}
                if b.get("strength") == "required" and b.get("valueSet"):
                    urls.add(strip_version(b["valueSet"]))
    return urls


def walk_concepts(concepts: Iterable[Json], parent: str | None = None) -> Iterator[tuple[Json, str | None]]:
    for c in concepts:
        yield c, parent
        yield from walk_concepts(c.get("concept", ()), c["code"])


def concept_property(c: Json, code: str) -> list[Any]:
    return [
        next((v for k, v in p.items() if k.startswith("value")), None)
        for p in c.get("property", ())
        if p["code"] == code
    ]


class CodeSystemIndex:
    """Codes of one CodeSystem with their is-a children (nested concepts and parent/child properties)."""

    def __init__(self, cs: Json) -> None:
        self.complete = cs.get("content") == "complete"
        self.codes: list[str] = []
        self.abstract: set[str] = set()
        self.children: dict[str, set[str]] = {}
        for c, parent in walk_concepts(cs.get("concept", ())):
            code = c["code"]
            self.codes.append(code)
            if True in concept_property(c, "notSelectable"):
                self.abstract.add(code)
            if parent is not None:
                self.children.setdefault(parent, set()).add(code)
            for child in concept_property(c, "child"):
                self.children.setdefault(code, set()).add(str(child))
            for par in concept_property(c, "parent") + concept_property(c, "subsumedBy"):
                self.children.setdefault(str(par), set()).add(code)

    def selectable(self, codes: Iterable[str]) -> set[str]:
        # notSelectable concepts are groupings (e.g. v3 "_PersonNamePartQualifier"); an instance may not use them.
        return {c for c in codes if c not in self.abstract}

    def descendants(self, code: str) -> set[str]:
        seen: set[str] = set()
        todo = [code]
        while todo:
            for child in self.children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen


class Incomplete(Exception):
    """The value set refers to something this package cannot enumerate (external system, unknown VS)."""


def expand(
    url: str, valuesets: dict[str, Json], systems: dict[str, CodeSystemIndex], stack: tuple[str, ...] = ()
) -> dict[str, set[str]]:
    if url in stack:
        raise Incomplete(f"circular include of {url}")
    vs = valuesets.get(url)
    if vs is None:
        raise Incomplete(f"value set {url} is not in the package")
    compose = vs.get("compose")
    if not compose:
        if "expansion" in vs:
            result: dict[str, set[str]] = {}
            for c in walk_contains(vs["expansion"].get("contains", ())):
                result.setdefault(c["system"], set()).add(c["code"])
            return result
        raise Incomplete(f"value set {url} has neither compose nor expansion")
    result = {}
    for inc in compose.get("include", ()):
        for system, codes in include_codes(inc, valuesets, systems, stack + (url,)).items():
            result.setdefault(system, set()).update(codes)
    for exc in compose.get("exclude", ()):
        for system, codes in include_codes(exc, valuesets, systems, stack + (url,)).items():
            result.get(system, set()).difference_update(codes)
    return result


def walk_contains(contains: Iterable[Json]) -> Iterator[Json]:
    for c in contains:
        if "code" in c and not c.get("abstract"):
            yield c
        yield from walk_contains(c.get("contains", ()))


def include_codes(
    inc: Json, valuesets: dict[str, Json], systems: dict[str, CodeSystemIndex], stack: tuple[str, ...]
) -> dict[str, set[str]]:
    from_valuesets: list[dict[str, set[str]]] = [
        expand(strip_version(u), valuesets, systems, stack) for u in inc.get("valueSet", ())
    ]
    system = inc.get("system")
    if system is None:
        if not from_valuesets:
            raise Incomplete("include without system or valueSet")
        return intersect(from_valuesets)
    if "concept" in inc:
        codes = {c["code"] for c in inc["concept"]}
    else:
        cs = systems.get(system)
        if cs is None:
            raise Incomplete(f"code system {system} is not in the package")
        if not cs.complete:
            raise Incomplete(f"code system {system} is not complete in the package")
        codes = cs.selectable(cs.codes)
        for flt in inc.get("filter", ()):
            codes &= filtered(cs, flt)
    return intersect([{system: codes}, *from_valuesets])


def filtered(cs: CodeSystemIndex, flt: Json) -> set[str]:
    prop, op, value = flt.get("property"), flt.get("op"), flt.get("value", "")
    if prop == "concept" and op == "is-a":
        return cs.selectable({value} | cs.descendants(value))
    if prop == "concept" and op == "descendent-of":
        return cs.selectable(cs.descendants(value))
    if prop == "concept" and op == "is-not-a":
        return cs.selectable(set(cs.codes) - {value} - cs.descendants(value))
    if prop == "concept" and op == "in":
        return set(value.split(","))
    raise Incomplete(f"filter {prop} {op} {value} is not supported")


def intersect(sets: list[dict[str, set[str]]]) -> dict[str, set[str]]:
    result = sets[0]
    for other in sets[1:]:
        result = {s: codes & other[s] for s, codes in result.items() if s in other}
    return result


def compile_valuesets(sds: list[Json], vss: list[Json], css: list[Json], report: Report) -> dict[str, Json]:
    valuesets = {vs["url"]: vs for vs in vss}
    systems = {cs["url"]: CodeSystemIndex(cs) for cs in css}
    out: dict[str, Json] = {}
    for url in sorted(required_bindings(sds)):
        try:
            expansion = expand(url, valuesets, systems)
        except Incomplete as why:
            report.note(f"valuesets: {url} incomplete: {why}")
            out[url] = {"incomplete": True}
            continue
        out[url] = {system: sorted(codes) for system, codes in sorted(expansion.items())}
    return out


# ---------------------------------------------------------------------------------------------- compartments


def compile_compartments(cds: list[Json], report: Report) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for cd in cds:
        if cd["id"] == "example":
            # The spec's example CompartmentDefinition redefines the Device compartment with two
            # resources; the real ones are all marked experimental too, so the id is what tells them apart.
            report.note(f"compartments: skipped the example {cd['url']}")
            continue
        out[cd["code"]] = {r["code"]: list(r["param"]) for r in cd.get("resource", ()) if r.get("param")}
    return out


# ---------------------------------------------------------------------------------------------- main


def compile_package(package: Path, report: Report) -> dict[str, Any]:
    sds = load_all(package, "StructureDefinition")
    types = compile_types(sds, report)
    return {
        "types.json": types,
        "resource_types.json": concrete_resources(types),
        "search_parameters.json": compile_search(load_all(package, "SearchParameter"), types, report),
        "valuesets.json": compile_valuesets(
            sds, load_all(package, "ValueSet"), load_all(package, "CodeSystem"), report
        ),
        "compartments.json": compile_compartments(load_all(package, "CompartmentDefinition"), report),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--package", type=Path, default=DEFAULT_PACKAGE, help="unpacked hl7.fhir.r4.core package directory"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON artefacts")
    parser.add_argument("--quiet", action="store_true", help="do not print the compile report")
    args = parser.parse_args(argv)
    if not (args.package / "package.json").is_file():
        print(f"compile_spec: no FHIR package at {args.package}", file=sys.stderr)
        return 2
    report = Report()
    write_artefacts(compile_package(args.package, report), args.out, report, "compile_spec", quiet=args.quiet)
    return 0


def write_artefacts(artefacts: dict[str, Any], out: Path, report: Report, tool: str, *, quiet: bool) -> None:
    """Write generated JSON (sorted keys, so reruns are byte-identical) and say what was done."""
    out.mkdir(parents=True, exist_ok=True)
    for name, data in artefacts.items():
        (out / name).write_bytes(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
    if not quiet:
        for line in report.lines:
            print(line, file=sys.stderr)
        sizes = ", ".join(f"{n} {(out / n).stat().st_size // 1024} KiB" for n in artefacts)
        print(f"{tool}: wrote {sizes} to {out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
