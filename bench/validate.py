"""Validator throughput on the synthetic GP population, with fhir.resources (R4B) beside it.

In one run, on the same resources (every entry of the population's transaction Bundles):
  structure      fhir.structure.check_resource alone (the floor the validator builds on)
  validate       fhir.validate.validate: structure, bindings, invariants, references, extensions,
                 NHS numbers and claimed profiles (best-practice notes off, as on the write path),
                 structure and content in one walk
  validate+json  the same from JSON bytes (orjson.loads first)
  write path     what the store runs: fhir.validate.validate_for_store (structure and content in one
                 walk, split for the 400/422 answer)
  first sight    validate, one pass over a population generated with another seed, with the
                 memory of valid Codings/CodeableConcepts (structure.check_subtree) emptied first
  fhir.resources R4B model_validate_json on the same bytes (pydantic parse + validate)
Prints resources/s as the median of --repeat runs, with CPU-time figures beside wall-clock ones
(the machine is shared, so CPU time is the steadier figure), ratios to fhir.resources, and the
share of invariants the FHIRPath translator compiles natively.

    .venv/bin/python bench/validate.py [--patients 200] [--entries 40] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median  # noqa: E402
from gpbridge.fhir import profiles  # noqa: E402
from gpbridge.fhir.element_types import type_of_path  # noqa: E402
from gpbridge.fhir.fhirpath_py import Unsupported, compile_expression  # noqa: E402
from gpbridge.fhir.structure import check_resource, forget_valid_objects  # noqa: E402
from gpbridge.fhir.validate import validate, validate_for_store  # noqa: E402

_NO_SETTINGS = SimpleNamespace(var_dir=None, validation_require_ukcore="")


def population(patients: int, entries: int, seed: int = 1) -> list[dict[str, Any]]:
    try:
        from gpbridge.demo.population import generate_population
    except ImportError:  # the demo generator is optional: fall back to a small realistic sample
        return [_fallback_observation(i + seed) for i in range(patients * entries)]
    bundles = generate_population(patients, seed=seed, entries_per_patient=entries)
    return [e["resource"] for b in bundles for e in b.get("entry") or () if "resource" in e]


def _fallback_observation(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "27113001", "display": "Body weight"}]},
        "subject": {"reference": f"Patient/{i % 500}"},
        "effectiveDateTime": "2024-01-02T10:00:00+00:00",
        "valueQuantity": {"value": 60 + i % 40, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }


def rate(fn: Callable[[Any], Any], items: list[Any], repeat: int) -> tuple[float, float]:
    """(median wall-clock items/s, median CPU items/s) over ``repeat`` timed passes after a warm-up."""
    for item in items[: min(len(items), 500)]:
        fn(item)
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        for item in items:
            fn(item)
        wall.append(len(items) / (time.perf_counter() - w))
        cpu.append(len(items) / max(time.process_time() - c, 1e-9))
    return median(wall), median(cpu)


def first_sight(items: list[Any]) -> tuple[float, float]:
    """(wall, CPU) items/s of validate over resources it has not seen, its memory emptied."""
    forget_valid_objects()
    w, c = time.perf_counter(), time.process_time()
    for item in items:
        validate(item, best_practice=False)
    return len(items) / (time.perf_counter() - w), len(items) / max(time.process_time() - c, 1e-9)


def native_share() -> tuple[int, int, list[str]]:
    """(translated, total, keys not translated) over every invariant of the compiled definitions,
    each compiled with the type of the element it sits on (as the validator compiles it)."""
    native, total, outside = 0, 0, []
    for definition in profiles.builtin().values():
        for element_id, facts in definition["elements"].items():
            path = ".".join(segment.split(":")[0] for segment in element_id.split(".")) if element_id else ""
            context = type_of_path(definition["type"], path)
            for constraint in facts.get("constraints", ()):
                total += 1
                try:
                    compile_expression(constraint["expression"], context, definition["type"])
                    native += 1
                except Unsupported:
                    outside.append(constraint["key"])
    return native, total, sorted(set(outside))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--entries", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    resources = population(args.patients, args.entries)
    raw = [orjson.dumps(r) for r in resources]
    with_errors = sum(1 for r in resources if any(i.severity == "error" for i in validate(r, best_practice=False)))
    print(f"{len(resources):,} resources from {args.patients} patients; {with_errors} with errors")

    figures = {
        "structure": rate(check_resource, resources, args.repeat),
        "validate": rate(lambda r: validate(r, best_practice=False), resources, args.repeat),
        "validate+json": rate(lambda b: validate(orjson.loads(b), best_practice=False), raw, args.repeat),
        "write path": rate(lambda r: validate_for_store(r, _NO_SETTINGS), resources, args.repeat),
        "first sight": first_sight(population(args.patients, args.entries, seed=2)),
    }
    try:
        from fhir.resources.R4B import get_fhir_model_class

        models = {t: get_fhir_model_class(t) for t in {r["resourceType"] for r in resources}}
        pairs = list(zip((models[r["resourceType"]] for r in resources), raw, strict=True))
        figures["fhir.resources"] = rate(lambda p: p[0].model_validate_json(p[1]), pairs, max(1, args.repeat // 2))
    except ImportError:
        print("fhir.resources is not installed: no comparison")

    print(f"{'':16}{'wall res/s':>14}{'CPU res/s':>14}")
    for name, (wall, cpu) in figures.items():
        print(f"{name:16}{wall:>14,.0f}{cpu:>14,.0f}")
    if "fhir.resources" in figures:
        reference = figures["fhir.resources"][1]
        print(f"validate+json vs fhir.resources (CPU): {figures['validate+json'][1] / reference:.1f}x")
    print(f"validate vs structure alone (CPU): {figures['validate'][1] / figures['structure'][1]:.2f}x")
    native, total, outside = native_share()
    print(f"invariants translated natively: {native}/{total} ({native / total:.1%}); fhirpathpy for: {', '.join(outside) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
