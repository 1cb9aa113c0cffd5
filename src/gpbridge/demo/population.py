"""The synthetic GP population: the public entry points behind ``gpbridge demo-data``.

``generate_population`` yields FHIR R4 transaction Bundles: first the shared resources (PUT, fixed
ids), then one Bundle per patient (POST with urn:uuid fullUrls; the Patient is created only if no
Patient has its NHS number). Output is a pure function of the arguments: one ``random.Random(seed)``
drives everything, each patient gets its own RNG seeded from it, and nothing reads the clock, so
the same arguments give byte-identical JSON.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gpbridge.demo.identifiers import NhsNumbers
from gpbridge.demo.person import sample_person
from gpbridge.demo.record import patient_bundle
from gpbridge.demo.shared import shared_bundle

# The 999 test range holds ~900,000 valid NHS numbers; stay well inside it.
MAX_PATIENTS = 500_000


def generate_population(
    patients: int, seed: int = 1, entries_per_patient: int = 40
) -> Iterator[dict[str, Any]]:
    """Yield the shared-resources Bundle, then one transaction Bundle per patient.

    ``entries_per_patient`` is the average number of entries in a patient's Bundle (the Patient
    included); individual records vary with age, health and chance.
    """
    if not 0 <= patients <= MAX_PATIENTS:
        raise ValueError(f"patients must be between 0 and {MAX_PATIENTS}, not {patients}")
    if entries_per_patient < 1:
        raise ValueError(f"entries_per_patient must be at least 1, not {entries_per_patient}")
    yield shared_bundle()
    rng = random.Random(seed)
    nhs_numbers = NhsNumbers(rng)
    for index in range(patients):
        nhs_number = nhs_numbers.draw() if index else ""  # patient-1's number is fixed
        patient_rng = random.Random(rng.getrandbits(64))
        person = sample_person(patient_rng, index, nhs_number)
        yield patient_bundle(patient_rng, person, entries_per_patient)


@dataclass
class PopulationSummary:
    """What ``write_population`` wrote: for the CLI to print."""

    bundles: int = 0
    patients: int = 0
    resources: int = 0
    bytes_written: int = 0
    files: list[str] = field(default_factory=list)
    resources_by_type: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the CLI: ``11 bundles (10 patients, 440 resources, 0.4 MB)``."""
        return (
            f"{self.bundles:,} bundles ({self.patients:,} patients, {self.resources:,} resources, "
            f"{self.bytes_written / 1e6:,.1f} MB)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "bundles": self.bundles,
            "patients": self.patients,
            "resources": self.resources,
            "bytes": self.bytes_written,
            "files": len(self.files),
            "resourcesByType": self.resources_by_type,
        }


def write_population(
    out_dir: str | Path,
    patients: int,
    seed: int = 1,
    entries_per_patient: int = 40,
    *,
    ndjson: bool = False,
    overwrite: bool = False,
) -> PopulationSummary:
    """Write the population to ``out_dir``: ``bundle-00000.json`` (shared resources), then one file per
    patient; or, with ``ndjson``, one ``population.ndjson`` holding a Bundle per line. Load the shared
    bundle first: patient bundles reference its resources.

    A directory already holding an earlier population is refused unless ``overwrite`` is set, which
    first removes the earlier files: stale bundles left beside a smaller new run would be loaded too.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    earlier = sorted(out.glob("bundle-*.json")) + sorted(out.glob("population.ndjson"))
    if earlier and not overwrite:
        raise FileExistsError(
            f"{out} already holds a population ({len(earlier)} files); use overwrite to replace it"
        )
    for path in earlier:
        path.unlink()
    summary = PopulationSummary()
    counts: Counter[str] = Counter()
    width = max(5, len(str(patients)))
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open(out / "population.ndjson", "wb")) if ndjson else None
        for number, bundle in enumerate(generate_population(patients, seed, entries_per_patient)):
            for entry in bundle["entry"]:
                counts[entry["resource"]["resourceType"]] += 1
            data = orjson.dumps(bundle)
            if stream is not None:
                stream.write(data + b"\n")
                summary.bytes_written += len(data) + 1
            else:
                path = out / f"bundle-{number:0{width}d}.json"
                path.write_bytes(data)
                summary.files.append(path.name)
                summary.bytes_written += len(data)
            summary.bundles += 1
    if ndjson:
        summary.files.append("population.ndjson")
    summary.patients = patients
    summary.resources = sum(counts.values())
    summary.resources_by_type = dict(sorted(counts.items()))
    return summary
