"""Compile FHIR StructureDefinitions (as JSON dicts) into the compact profile form the validator reads.

Shared by tools/compile_profiles.py (R4 core + UK Core, into spec/profiles.json) and by
``fhir.packages`` (a user's IG into the user profile store), so both produce the same shape:

    {url: {"type": "Observation", "kind": "resource", "derivation": "constraint" | "specialization",
           "base": <baseDefinition>, "name", "version", "context": [...]  # extensions only
           "elements": {element id relative to the type ("" = the root): compact element}}}

A compact element keeps only what the validator checks: ``min``, ``max``, ``types`` (code, profiles,
targetProfiles), ``fixed``, ``pattern``, ``binding`` (strength, valueSet), ``slicing``
(discriminators, rules), ``sliceName``, ``maxLength`` and ``constraints`` (key, severity, human,
FHIRPath expression, bestPractice).

Base types (derivation specialization) keep only their invariants and type profiles: their
cardinality, types and bindings are already in spec/types.json, which fhir.structure checks.
A constraint profile keeps the *merged differentials* of its derivation chain down to (not
including) the base type: UK Core publishes differentials only, and a derived profile may refer to
slices its parent declared, so the parent's elements are folded in first. Merged differentials are
not full snapshots: what a profile leaves unconstrained is checked by the base type anyway.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

Json = dict[str, Any]

BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
# ele-1 is what fhir.structure enforces natively (no empty objects/strings, no id-only elements).
NATIVE_INVARIANTS = frozenset({"ele-1"})


def strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def is_base_type(sd: Json) -> bool:
    return sd.get("derivation") != "constraint" and sd.get("kind") in (
        "resource",
        "complex-type",
        "primitive-type",
    )


# ---------------------------------------------------------------------------------------------- elements


def compact_constraint(c: Json) -> Json:
    out: Json = {
        "key": c["key"],
        "severity": c.get("severity", "error"),
        "human": c.get("human", ""),
        "expression": c.get("expression", ""),
    }
    if any(e.get("url") == BEST_PRACTICE and e.get("valueBoolean") for e in c.get("extension", ())):
        out["bestPractice"] = True
    return out


def compact_types(types: Iterable[Json]) -> list[Json]:
    out = []
    for t in types:
        entry: Json = {"code": t["code"]}
        if t.get("profile"):
            entry["profiles"] = [strip_version(p) for p in t["profile"]]
        if t.get("targetProfile"):
            entry["targets"] = [strip_version(p) for p in t["targetProfile"]]
        out.append(entry)
    return out


def compact_element(el: Json) -> Json:
    """The checkable facts of one differential ElementDefinition."""
    out: Json = {}
    if "min" in el:
        out["min"] = el["min"]
    if "max" in el:
        out["max"] = el["max"]
    if el.get("type"):
        out["types"] = compact_types(el["type"])
    for key, value in el.items():
        if key.startswith("fixed") and len(key) > 5:
            out["fixed"] = value
        elif key.startswith("pattern") and len(key) > 7:
            out["pattern"] = value
    binding = el.get("binding")
    if binding and binding.get("valueSet"):
        out["binding"] = {"strength": binding["strength"], "valueSet": strip_version(binding["valueSet"])}
    slicing = el.get("slicing")
    if slicing:
        out["slicing"] = {
            "discriminator": [
                {"type": d["type"], "path": d["path"]} for d in slicing.get("discriminator", ())
            ],
            "rules": slicing.get("rules", "open"),
            "ordered": bool(slicing.get("ordered", False)),
        }
    if el.get("sliceName"):
        out["sliceName"] = el["sliceName"]
    if "maxLength" in el:
        out["maxLength"] = el["maxLength"]
    constraints = [
        compact_constraint(c) for c in el.get("constraint", ()) if c.get("expression") and c["key"] not in NATIVE_INVARIANTS
    ]
    if constraints:
        out["constraints"] = constraints
    return out


def relative_id(el: Json, type_name: str) -> str:
    """``Observation.code.coding:loinc.system`` -> ``code.coding:loinc.system``; the root is ``""``."""
    element_id = el.get("id") or _id_from_path(el)
    head, _, rest = element_id.partition(".")
    if head.split(":", 1)[0] != type_name:
        raise ValueError(f"element {element_id} is not under {type_name}")
    return rest


def _id_from_path(el: Json) -> str:
    # Pre-R4 differentials may lack ids; the slice name then belongs to the last segment.
    path: str = el["path"]
    return f"{path}:{el['sliceName']}" if el.get("sliceName") else path


def choice_renames(elements: list[tuple[str, Json]]) -> dict[str, str]:
    """Type slices on choice elements as JSON names: ``value[x]:valueQuantity`` -> ``valueQuantity``.

    R4 profiles constrain one type of a choice either by the renamed path (``valueQuantity``) or by
    a type slice whose element has a single type; the validator works on JSON names, so both become
    the JSON property name.
    """
    renames: dict[str, str] = {}
    for rel, el in elements:
        last = rel.rsplit(".", 1)[-1]
        name, _, slice_name = last.partition(":")
        if name.endswith("[x]") and slice_name and len(el.get("type", ())) == 1:
            code = el["type"][0]["code"]
            renames[rel] = rel[: len(rel) - len(last)] + name[:-3] + code[0].upper() + code[1:]
    return renames


def apply_renames(rel: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        if rel == old or rel.startswith(old + "."):
            return new + rel[len(old) :]
    return rel


def merge_element(into: Json, extra: Json) -> None:
    for key, value in extra.items():
        if key == "constraints":
            known = {c["key"] for c in into.get("constraints", ())}
            into.setdefault("constraints", []).extend(c for c in value if c["key"] not in known)
        else:
            into[key] = value


# ---------------------------------------------------------------------------------------------- definitions


def compile_base(sd: Json) -> Json:
    """A base type's own invariants and the datatype profiles its elements use (SimpleQuantity...)."""
    type_name = sd["type"]
    url = sd["url"]
    elements: dict[str, Json] = {}
    for el in sd.get("snapshot", {}).get("element", ()):
        rel = relative_id(el, type_name)
        entry: Json = {}
        constraints = [
            compact_constraint(c)
            for c in el.get("constraint", ())
            if c.get("expression")
            and c["key"] not in NATIVE_INVARIANTS
            # Non-root elements repeat their datatype's invariants (ext-1 on every .extension);
            # those run where the datatype is checked, so keep only the ones defined here.
            and (rel == "" or c.get("source") in (None, url))
        ]
        if constraints:
            entry["constraints"] = constraints
        if any(t.get("profile") for t in el.get("type", ())):
            entry["types"] = compact_types(el["type"])
        if entry:
            elements[rel] = entry
    return _header(sd) | {"elements": elements}


def compile_constraint(sd: Json, parent: Json | None) -> Json:
    """A profile or extension definition: its differential merged over its parent's merged elements."""
    type_name = sd["type"]
    elements: dict[str, Json] = copy.deepcopy(parent["elements"]) if parent else {}
    raw = [(relative_id(el, type_name), el) for el in sd.get("differential", {}).get("element", ())]
    renames = choice_renames(raw)
    for rel, el in raw:
        facts = compact_element(el)
        if not facts:
            continue
        merge_element(elements.setdefault(apply_renames(rel, renames), {}), facts)
    out = _header(sd) | {"elements": elements}
    if sd.get("context"):
        out["context"] = [{"type": c["type"], "expression": c["expression"]} for c in sd["context"]]
    if sd.get("contextInvariant"):
        out["contextInvariant"] = list(sd["contextInvariant"])
    return out


def _header(sd: Json) -> Json:
    out: Json = {
        "type": sd["type"],
        "kind": sd.get("kind", "resource"),
        "derivation": sd.get("derivation", "specialization"),
        "name": sd.get("name", ""),
    }
    if sd.get("baseDefinition"):
        out["base"] = strip_version(sd["baseDefinition"])
    if sd.get("version"):
        out["version"] = sd["version"]
    if sd.get("abstract"):
        out["abstract"] = True
    return out


def compile_definitions(
    sds: Iterable[Json],
    known: Callable[[str], Json | None] = lambda url: None,
    notes: list[str] | None = None,
) -> dict[str, Json]:
    """Compile StructureDefinitions, resolving each profile's parent among ``sds`` or ``known``.

    ``known`` looks up already-compiled profiles (the built-in ones when compiling a user IG).
    Definitions whose parent cannot be found are skipped and noted, never guessed.
    """
    notes = notes if notes is not None else []
    by_url = {strip_version(sd["url"]): sd for sd in sds if sd.get("resourceType") == "StructureDefinition"}
    out: dict[str, Json] = {}

    def build(url: str, stack: tuple[str, ...]) -> Json | None:
        if url in out:
            return out[url]
        sd = by_url.get(url)
        if sd is None:
            return known(url)
        if url in stack:
            notes.append(f"{url}: circular baseDefinition; skipped")
            return None
        if sd.get("kind") == "logical":
            notes.append(f"{url}: logical model; skipped")
            return None
        if is_base_type(sd):
            out[url] = compile_base(sd)
            return out[url]
        parent_url = strip_version(sd.get("baseDefinition", ""))
        parent = build(parent_url, stack + (url,)) if parent_url else None
        if parent is None and parent_url:
            notes.append(f"{url}: base {parent_url} is unknown; skipped")
            return None
        base_is_type = parent is None or parent.get("derivation") == "specialization"
        out[url] = compile_constraint(sd, None if base_is_type else parent)
        return out[url]

    for url in sorted(by_url):
        try:
            build(url, ())
        except (KeyError, ValueError) as exc:
            notes.append(f"{url}: cannot compile ({exc}); skipped")
    return out
