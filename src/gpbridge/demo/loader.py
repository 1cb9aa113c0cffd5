"""Load the synthetic demo population into a store through the transaction path."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gpbridge.config import Settings
from gpbridge.store.base import Store
from gpbridge.store.transaction import process_bundle


@dataclass
class LoadSummary:
    bundles: int
    resources: int
    seconds: float


def load_demo(store: Store, settings: Settings, *, patients: int = 300, seed: int = 1,
              entries_per_patient: int = 40) -> LoadSummary:
    from gpbridge.demo.population import generate_population

    started = time.perf_counter()
    bundles = resources = 0
    for bundle in generate_population(patients, seed=seed, entries_per_patient=entries_per_patient):
        process_bundle(store, bundle, settings=settings, base_url="")
        bundles += 1
        resources += len(bundle.get("entry") or [])
    return LoadSummary(bundles, resources, time.perf_counter() - started)
