"""Compile profiles, extension definitions and UK Core value sets into src/gpbridge/fhir/spec/.

    .venv/bin/python tools/compile_profiles.py [--core DIR] [--ukcore DIR] [--out DIR]

Reads the R4 core package (JSON: base-type invariants, the 396 core extension definitions and the
constraint profiles such as vitalsigns) and UK Core (FHIR **XML**, read through
``gpbridge.fhir.fhir_xml``, which follows the element definitions rather than guessing arrays), and
writes

- ``profiles.json``: {url: compact definition} (see ``gpbridge.fhir.profile_compiler``);
- ``valuesets_ukcore.json``: expansions of the value sets UK Core binds (any strength), of every
  UK Core ValueSet and of those core extensions/profiles bind below required strength, in the
  shape of valuesets.json; a value set that cannot be enumerated here (SNOMED CT ECL, dm+d, UCUM)
  is ``{"incomplete": true, "systems": [...]}`` so the validator can still tell a code from a
  foreign system apart from one it merely cannot check. Core required value sets that
  valuesets.json marks incomplete get the same ``systems`` record here.

Value set expansion reuses tools/compile_spec.py. Output is deterministic (sorted keys).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compile_spec import (  # noqa: E402  (tools/ is not a package: imported by path)
    CodeSystemIndex,
    Incomplete,
    Report,
    expand,
    load_all,
    strip_version,
    write_artefacts,
)
from gpbridge.fhir import spec  # noqa: E402
from gpbridge.fhir.fhir_xml import parse_resource  # noqa: E402
from gpbridge.fhir.profile_compiler import compile_definitions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORE = REPO.parent / "shared" / "data" / "fhir-r4-core" / "package"
DEFAULT_UKCORE = REPO.parent / "shared" / "data" / "uk-core"
DEFAULT_OUT = REPO / "src" / "gpbridge" / "fhir" / "spec"

Json = dict[str, Any]


def load_xml(folder: Path) -> list[Json]:
    return [parse_resource(p.read_bytes()) for p in sorted(folder.glob("*.xml"))]


def bound_valuesets(sds: list[Json]) -> set[str]:
    urls = set()
    for sd in sds:
        for part in ("snapshot", "differential"):
            for el in sd.get(part, {}).get("element", ()):
                vs = (el.get("binding") or {}).get("valueSet")
                if vs:
                    urls.add(strip_version(vs))
    return urls


def systems_of(url: str, valuesets: dict[str, Json], seen: frozenset[str] = frozenset()) -> set[str] | None:
    """The code systems a value set draws on, even when its codes cannot be enumerated.

    None when that is not known either (it includes a value set this compile does not have).
    """
    vs = valuesets.get(url)
    if vs is None or url in seen or "compose" not in vs:
        return None
    found: set[str] = set()
    for inc in vs["compose"].get("include", ()):
        if inc.get("system"):
            found.add(inc["system"])
        for inner in inc.get("valueSet", ()):
            systems = systems_of(strip_version(inner), valuesets, seen | {url})
            if systems is None:
                return None
            found |= systems
    return found


def incomplete(url: str, valuesets: dict[str, Json]) -> Json:
    systems = systems_of(url, valuesets)
    return {"incomplete": True, "systems": sorted(systems)} if systems else {"incomplete": True}


def compile_valuesets(
    wanted: set[str], vss: list[Json], css: list[Json], report: Report
) -> dict[str, Json]:
    valuesets = {strip_version(vs["url"]): vs for vs in vss}
    systems = {cs["url"]: CodeSystemIndex(cs) for cs in css}
    out: dict[str, Json] = {}
    for url in sorted(wanted):
        try:
            expansion = expand(url, valuesets, systems)
        except Incomplete as why:
            report.note(f"valuesets_ukcore: {url} incomplete: {why}")
            out[url] = incomplete(url, valuesets)
            continue
        out[url] = {system: sorted(codes) for system, codes in sorted(expansion.items())}
    return out


def compile_all(core: Path, ukcore: Path, report: Report) -> dict[str, Any]:
    core_sds = load_all(core, "StructureDefinition")
    uk_sds = load_xml(ukcore / "structuredefinitions")
    notes: list[str] = []
    profiles = compile_definitions(core_sds + uk_sds, notes=notes)
    for line in notes:
        report.note(f"profiles: {line}")
    uk_vss = load_xml(ukcore / "valuesets")
    uk_css = load_xml(ukcore / "codesystems")
    wanted = bound_valuesets(uk_sds) | {strip_version(vs["url"]) for vs in uk_vss}
    # Core extension definitions and profiles bind value sets at extensible/preferred strength too;
    # the core package carries only the required ones (valuesets.json), so try the rest here.
    wanted |= bound_valuesets([sd for sd in core_sds if sd.get("derivation") == "constraint"])
    wanted -= set(spec.valuesets())
    all_vss = load_all(core, "ValueSet") + uk_vss
    valuesets = compile_valuesets(wanted, all_vss, load_all(core, "CodeSystem") + uk_css, report)
    # Core required bindings valuesets.json could not expand: record which systems they draw on,
    # so a code from another system is still rejected (e.g. a Read code where UCUM is required).
    by_url = {strip_version(vs["url"]): vs for vs in all_vss}
    for url, entry in spec.valuesets().items():
        if entry.get("incomplete"):
            found = incomplete(url, by_url)
            if "systems" in found:
                valuesets[url] = found
    return {"profiles.json": profiles, "valuesets_ukcore.json": valuesets}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--core", type=Path, default=DEFAULT_CORE, help="unpacked hl7.fhir.r4.core package")
    parser.add_argument("--ukcore", type=Path, default=DEFAULT_UKCORE, help="UK Core (XML) folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON artefacts")
    parser.add_argument("--quiet", action="store_true", help="do not print the compile report")
    args = parser.parse_args(argv)
    for folder, marker in ((args.core, "package.json"), (args.ukcore, "structuredefinitions")):
        if not (folder / marker).exists():
            print(f"compile_profiles: {folder / marker} not found", file=sys.stderr)
            return 2
    report = Report()
    write_artefacts(compile_all(args.core, args.ukcore, report), args.out, report, "compile_profiles",
                    quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
