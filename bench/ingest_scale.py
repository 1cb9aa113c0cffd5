"""Ingest as the database grows: the same Bundles into an empty store and into a populated one.

``bench/ingest.py`` starts from an empty database, which flatters every cost that grows with the
data: index pages a commit dirties, searches the write path runs (conditional creates, identity
linkage's candidate search). This bench writes the same --patients Bundles (store mode: strict
validation and linkage on, one transaction per Bundle) into a fresh database and into one
already holding --prefill other patients (written the same way first, off the clock), side by
side, and prints resources/s and CPU microseconds per resource for each (PostgreSQL's own backends
are not counted, as in bench/ingest.py).

    .venv/bin/python bench/ingest_scale.py [--patients 300] [--prefill 3000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import postgres_available, reset_postgres  # noqa: E402
from gpbridge.config import Settings  # noqa: E402
from gpbridge.demo.population import generate_population  # noqa: E402
from gpbridge.store import open_store  # noqa: E402
from gpbridge.store.transaction import process_bundle  # noqa: E402

PREFILL_SEED = 11  # another population than the timed one: no conditional create matches


def run(url: str, prefill: int, timed: list[bytes], entries: int) -> tuple[float, float]:
    settings = Settings(database=url)
    store = open_store(url, settings)
    try:
        if prefill:
            for bundle in generate_population(prefill, seed=PREFILL_SEED, entries_per_patient=entries):
                process_bundle(store, bundle, settings=settings, base_url="")
        started, cpu = time.perf_counter(), time.process_time()
        for raw in timed:
            process_bundle(store, orjson.loads(raw), settings=settings, base_url="")
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--prefill", type=int, default=3000)
    ap.add_argument("--entries", type=int, default=40)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    timed = [orjson.dumps(b) for b in generate_population(args.patients, seed=7, entries_per_patient=args.entries)]
    resources = sum(len(orjson.loads(b).get("entry") or []) for b in timed)
    pg = None if args.no_postgres else postgres_available()
    print(f"timed: {resources:,} resources ({args.patients} patients); prefilled store: {args.prefill:,} "
          f"other patients written the same way first")
    print(f"\n{'store':12} {'prefill':>8} {'resources/s':>12} {'CPU us/resource':>16} {'vs empty':>9}")
    with tempfile.TemporaryDirectory() as tmpdir:
        for backend in ["sqlite"] + (["postgresql"] if pg else []):
            base_cpu = 0.0
            for n, prefill in enumerate((0, args.prefill)):
                if backend == "sqlite":
                    url = f"sqlite:///{tmpdir}/scale-{n}.db"
                else:
                    assert pg is not None
                    reset_postgres(pg)
                    url = pg
                wall, cpu = run(url, prefill, timed, args.entries)
                base_cpu = base_cpu or cpu
                print(f"{backend:12} {prefill:>8,} {resources / wall:>12,.0f} {cpu / resources * 1e6:>16,.0f} "
                      f"{cpu / base_cpu:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
