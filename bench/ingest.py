"""Ingest throughput: the synthetic GP population as transaction Bundles, side by side.

For SQLite and PostgreSQL, in one run:
  raw     orjson parse + executemany of the very rows the store writes (resource, history and every
          index row, computed before the clock starts): the floor under any implementation
  store   ``process_bundle`` straight into the store (reference rewriting, structure checks,
          extraction, indexing, one transaction per Bundle)
  http    the same Bundles POSTed to ``gpbridge serve`` (--clients connections, --workers processes)
Prints resources/s (median of --repeat runs) and each mode's ratio to raw.

    .venv/bin/python bench/ingest.py [--patients 400] [--entries 40] [--repeat 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, postgres_available, reset_postgres, server  # noqa: E402
from gpbridge.config import Settings  # noqa: E402
from gpbridge.demo.population import generate_population  # noqa: E402
from gpbridge.store import open_store  # noqa: E402
from gpbridge.store.index_rows import INDEX_TABLES  # noqa: E402
from gpbridge.store.transaction import process_bundle  # noqa: E402


def population(patients: int, entries: int) -> tuple[list[bytes], int]:
    bundles = [orjson.dumps(b) for b in generate_population(patients, seed=7, entries_per_patient=entries)]
    resources = sum(len(orjson.loads(b).get("entry") or []) for b in bundles)
    return bundles, resources


def precompute_rows(url: str, bundles: list[bytes]) -> list[tuple[list[tuple], list[tuple], list[list[tuple]]]]:
    """The rows the store would write for each Bundle, built by a store once (not timed)."""
    store = open_store(url, Settings(database=url))
    out = []
    rid = 10_000_000
    for raw in bundles:
        bundle = orjson.loads(raw)
        res_rows, hist_rows, idx = [], [], [[] for _ in INDEX_TABLES]
        for entry in bundle.get("entry") or []:
            resource = entry["resource"]
            rid += 1
            res_rows.append((rid, resource["resourceType"], f"raw-{rid}", 1, 0.0, 0))
            hist_rows.append((rid, 1, 0.0, "2026-01-01T00:00:00+00:00", "POST", orjson.dumps(resource)))
            for k, rows in enumerate(store.index_builder.rows(resource["resourceType"], resource, rid)):
                idx[k].extend(rows)
        out.append((res_rows, hist_rows, idx))
    store.close()
    return out


def run_raw(url: str, bundles: list[bytes], rows: list) -> float:
    store = open_store(url, Settings(database=url))
    started = time.perf_counter()
    for raw, (res_rows, hist_rows, idx) in zip(bundles, rows, strict=True):
        orjson.loads(raw)
        with store._write_cursor() as cur:  # noqa: SLF001 - the raw floor bypasses the session on purpose
            store.insert_rows(cur, "resource", ("rid", "type", "id", "version", "lu", "deleted"), res_rows)
            store.insert_history(cur, hist_rows)
            for (table, cols), table_rows in zip(INDEX_TABLES, idx, strict=True):
                if table_rows:
                    store.insert_rows(cur, table, cols, table_rows)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def run_store(url: str, bundles: list[bytes]) -> float:
    settings = Settings(database=url)
    store = open_store(url, settings)
    started = time.perf_counter()
    for raw in bundles:
        process_bundle(store, orjson.loads(raw), settings=settings, base_url="")
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def run_http(url: str, bundles: list[bytes], clients: int = 2, workers: int = 1) -> float:
    """POST every Bundle from ``clients`` concurrent connections (senders overlap with the server)."""
    open_store(url, Settings(database=url)).close()  # create the schema before the clock starts
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
    with server(url, workers=workers) as base:

        def send(share: list[bytes]) -> None:
            with httpx.Client(timeout=120) as client:
                for raw in share:
                    r = client.post(base, content=raw, headers=headers)
                    if r.status_code != 200:
                        raise RuntimeError(f"transaction failed: {r.status_code} {r.text[:300]}")

        shares = [bundles[k::clients] for k in range(clients)]
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            for done in [pool.submit(send, share) for share in shares]:
                done.result()
        return time.perf_counter() - started


def fresh(backend: str, tmp: Path, n: int, pg: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp}/ingest-{n}-{time.monotonic_ns()}.db"
    assert pg is not None
    reset_postgres(pg)
    return pg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=400)
    ap.add_argument("--entries", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--clients", type=int, default=2, help="concurrent HTTP connections sending Bundles")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = ap.parse_args()

    bundles, resources = population(args.patients, args.entries)
    print(f"population: {len(bundles)} transaction Bundles, {resources:,} resources "
          f"({args.patients} patients x ~{args.entries} entries); every search parameter indexed")
    pg = None if args.no_postgres else postgres_available()
    backends = ["sqlite"] + (["postgresql"] if pg else [])
    if not pg and not args.no_postgres:
        print("PostgreSQL not reachable: skipping it (set GPBRIDGE_BENCH_POSTGRES)")
    results: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for backend in backends:
            rows = precompute_rows(fresh(backend, tmp, 0, pg), bundles)
            for mode in ("raw", "store", "http"):
                times = []
                for n in range(args.repeat):
                    url = fresh(backend, tmp, n, pg)
                    if mode == "raw":
                        times.append(run_raw(url, bundles, rows))
                    elif mode == "store":
                        times.append(run_store(url, bundles))
                    else:
                        times.append(run_http(url, bundles, args.clients, args.workers))
                results[(backend, mode)] = resources / median(times)
                print(f"  {backend:10} {mode:5} {results[(backend, mode)]:>10,.0f} resources/s "
                      f"(runs: {', '.join(f'{resources / t:,.0f}' for t in times)})", flush=True)
    print("\nresources/s (median)      raw      store      http   http/raw  target")
    targets = {"sqlite": 10_000, "postgresql": 5_000}
    for backend in backends:
        raw, st, http = (results[(backend, m)] for m in ("raw", "store", "http"))
        verdict = "met" if http >= targets[backend] else "NOT met"
        print(f"  {backend:12} {raw:>10,.0f} {st:>10,.0f} {http:>9,.0f}   {http / raw:>6.2f}   "
              f">= {targets[backend]:,} via HTTP: {verdict}")


if __name__ == "__main__":
    main()
