"""What a second writing process costs: one SQLite file written by one process, then by two.

``gpbridge serve`` runs two worker processes, and each writes the same SQLite file. This bench
takes HTTP out of the picture: it runs ``process_bundle`` (the store path, strict validation and
linkage on, as in ``bench/ingest.py``'s store mode) over the synthetic population from one forked
process, then from two sharing the Bundles and taking turns on the write lock, and prints
resources/s and CPU us/resource (all writing processes together) for each, alternating runs.

Two processes get more done per second (one prepares while the other writes) but spend more CPU
on each resource: each connection's page cache is dropped whenever the other process commits,
and the two working sets compete for the CPU caches. That difference is what a single writer
process would save.

    .venv/bin/python bench/ingest_processes.py [--patients 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median  # noqa: E402
from gpbridge.config import Settings  # noqa: E402
from gpbridge.demo.population import generate_population  # noqa: E402
from gpbridge.store import open_store  # noqa: E402
from gpbridge.store.transaction import process_bundle  # noqa: E402


def _child(url: str, warm: list[bytes], share: list[bytes], ready: int, go: int, report: int) -> None:
    """Runs in a forked process: warm up (compile validators and extractors), wait, time ``share``."""
    settings = Settings(database=url)
    store = open_store(url, settings)
    for raw in warm:
        process_bundle(store, orjson.loads(raw), settings=settings, base_url="")
    os.write(ready, b"r")
    os.read(go, 1)
    cpu = time.process_time()
    for raw in share:
        process_bundle(store, orjson.loads(raw), settings=settings, base_url="")
    os.write(report, f"{time.process_time() - cpu}\n".encode())
    store.close()


def run(url: str, bundles: list[bytes], warm: list[list[bytes]], processes: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every writing process) for the whole population."""
    open_store(url, Settings(database=url)).close()  # the schema, before anyone forks
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pids = []
    for k in range(processes):
        pid = os.fork()
        if pid == 0:
            try:
                _child(url, warm[k], bundles[k::processes], ready_w, go_r, out_w)
            finally:
                os._exit(0)
        pids.append(pid)
    for _ in range(processes):  # warm-up is off the clock: every child has compiled before the start
        os.read(ready_r, 1)
    started = time.perf_counter()
    os.write(go_w, b"x" * processes)
    for pid in pids:
        os.waitpid(pid, 0)
    wall = time.perf_counter() - started
    cpu = sum(float(x) for x in os.read(out_r, 4096).split())
    for fd in (ready_r, ready_w, go_r, go_w, out_r, out_w):
        os.close(fd)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--entries", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    bundles = [orjson.dumps(b) for b in generate_population(args.patients, seed=7, entries_per_patient=args.entries)]
    resources = sum(len(orjson.loads(b).get("entry") or []) for b in bundles)
    # Each process warms up on its own patients (another seed), so no warm-up Bundle collides.
    warm = [[orjson.dumps(b) for b in generate_population(2, seed=7_000_007 + k)] for k in range(2)]
    print(f"population: {len(bundles)} transaction Bundles, {resources:,} resources; runs alternate")
    results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmpdir:
        for n in range(args.repeat):
            for processes in (1, 2):
                url = f"sqlite:///{tmpdir}/p{processes}-{n}.db"
                results[processes].append(run(url, bundles, warm, processes))
    print(f"\n{'writers':8} {'resources/s':>12} {'CPU us/resource':>16}")
    cpu_per = {}
    for processes, runs in results.items():
        cpu_per[processes] = median([c for _, c in runs]) / resources * 1e6
        print(f"{processes:<8} {resources / median([w for w, _ in runs]):>12,.0f} {cpu_per[processes]:>16,.0f}")
    print(f"\na second writing process costs {cpu_per[2] / cpu_per[1] - 1:+.0%} CPU per resource")


if __name__ == "__main__":
    main()
