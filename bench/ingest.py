"""Ingest throughput: the synthetic GP population as transaction Bundles, side by side.

For SQLite and PostgreSQL, in one run:
  raw     orjson parse + executemany/COPY of the very rows the store writes (resource, history and
          every index row, computed before the clock starts): the floor under any implementation
  store   ``process_bundle`` straight into the store, with the server's defaults (strict UK Core
          validation): reference rewriting, validation, extraction and serialisation before the
          write transaction, then one transaction per Bundle
  http    the same Bundles POSTed to ``gpbridge serve`` with its defaults (strict validation, audit
          on) from --clients connections to --workers worker processes (default 2: one prepares
          its Bundle while the other writes). Audit on means one hash-chained AuditEvent per patient
          compartment a Bundle touches (``security.audit_bundle``), not one per entry
Every mode writes the store's index rows, which leave out parameters derived from others
(combo-*, phonetic: ``search.derived``), so raw is the floor of the layout actually used.
Prints resources/s (median of --repeat runs), each mode's ratio to raw, and CPU microseconds per
resource (this process, plus the server's processes in http mode; PostgreSQL's own backends are
not counted), which a busy machine disturbs far less than resources/s. A few warm-up Bundles from
another seed run first, off the clock: the one-off compile of validators and extractors is not
throughput.

    .venv/bin/python bench/ingest.py [--patients 400] [--entries 40] [--repeat 3] [--no-postgres]
                                     [--clients 2] [--workers 2]
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    encoded_post,
    median,
    postgres_available,
    process_tree_cpu,
    reset_postgres,
    send_encoded,
    server_process,
)
from gpbridge.config import Settings  # noqa: E402
from gpbridge.demo.population import generate_population  # noqa: E402
from gpbridge.store import open_store  # noqa: E402
from gpbridge.store.index_rows import INDEX_TABLES, stored_rows  # noqa: E402
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
        # references between the Bundle's entries as the store rewrites them (compartments follow them)
        targets = {e["fullUrl"]: f"{e['resource']['resourceType']}/raw-{rid + n}"
                   for n, e in enumerate(bundle.get("entry") or [], start=1) if e.get("fullUrl")}
        for entry in bundle.get("entry") or []:
            resource = _rewritten(entry["resource"], targets)
            rid += 1
            res_rows.append((rid, resource["resourceType"], f"raw-{rid}", 1, 0.0, 0))
            hist_rows.append((rid, 1, 0.0, "2026-01-01T00:00:00+00:00", "POST", orjson.dumps(resource)))
            rows_by_table, comp = store.index_builder.rows_and_compartment(resource["resourceType"], resource)
            for k, rows in enumerate(rows_by_table):
                idx[k].extend(stored_rows(rid, comp, rows, store.index_builder.global_pids() if k == 0 else frozenset()))
        out.append((res_rows, hist_rows, idx))
    store.close()
    return out


def _rewritten(node: Any, targets: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: (targets.get(v, v) if k == "reference" and isinstance(v, str) else _rewritten(v, targets))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewritten(v, targets) for v in node]
    return node


class Timing(NamedTuple):
    wall: float  # seconds for the whole population
    cpu: float  # CPU seconds spent on it: this process, plus the server's processes in http mode
    client_cpu: float = 0.0  # of which the sending client's (http mode)
    locked: float = 0.0  # seconds inside write transactions (store mode): what a second worker waits on


def run_raw(url: str, bundles: list[bytes], rows: list) -> Timing:
    store = open_store(url, Settings(database=url))
    started, cpu = time.perf_counter(), time.process_time()
    for raw, (res_rows, hist_rows, idx) in zip(bundles, rows, strict=True):
        orjson.loads(raw)
        with store._write_cursor() as cur:  # noqa: SLF001 - the raw floor bypasses the session on purpose
            store.insert_rows(cur, "resource", ("rid", "type", "id", "version", "lu", "deleted"), res_rows)
            store.insert_history(cur, hist_rows)
            for (table, cols), table_rows in zip(INDEX_TABLES, idx, strict=True):
                if table_rows:
                    store.insert_rows(cur, table, cols, table_rows)
    timing = Timing(time.perf_counter() - started, time.process_time() - cpu)
    store.close()
    return timing


def warm_up_bundles() -> list[bytes]:
    """A few patients from another seed: a server is long-running, so the one-off compile of
    validators and extractors on first use is kept off the clock (a fresh population, so nothing
    in it matches the timed one's ifNoneExist)."""
    return [orjson.dumps(b) for b in generate_population(4, seed=7_000_007)]


def run_store(url: str, bundles: list[bytes], warm_url: str) -> Timing:
    settings = Settings(database=url)
    warm = open_store(warm_url, Settings(database=warm_url))
    for raw in warm_up_bundles():
        process_bundle(warm, orjson.loads(raw), settings=settings, base_url="")
    warm.close()
    store = open_store(url, settings)
    locked = [0.0]
    open_session = store.session

    @contextlib.contextmanager
    def timed_session() -> Iterator[Any]:
        entered = time.perf_counter()
        with open_session() as session:
            yield session
        locked[0] += time.perf_counter() - entered

    store.session = timed_session  # type: ignore[method-assign]
    started, cpu = time.perf_counter(), time.process_time()
    for raw in bundles:
        process_bundle(store, orjson.loads(raw), settings=settings, base_url="")
    timing = Timing(time.perf_counter() - started, time.process_time() - cpu, locked=locked[0])
    store.close()
    return timing


def run_http(url: str, bundles: list[bytes], clients: int = 2, workers: int = 2) -> Timing:
    """POST every Bundle from ``clients`` concurrent connections (senders overlap with the server)."""
    open_store(url, Settings(database=url)).close()  # create the schema before the clock starts
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
    with server_process(url, workers=workers) as (base, proc):

        target = urlsplit(base)
        host, port = target.hostname or "127.0.0.1", target.port or 80

        def encoded(raws: list[bytes]) -> list[bytes]:
            return [encoded_post(host, port, target.path, raw, headers) for raw in raws]

        def send(share: list[bytes]) -> None:
            # A connection per Bundle: whichever worker is free accepts it. Kept open, both
            # connections land on one worker about half the time and the other worker idles.
            for request in share:
                status, answer = send_encoded(host, port, request)
                if status != 200:
                    raise RuntimeError(f"transaction failed: {status} {answer[:600]!r}")

        warm = encoded(warm_up_bundles())  # one connection per Bundle, concurrently: every worker gets some
        with ThreadPoolExecutor(len(warm)) as pool:
            for done in [pool.submit(send, [raw]) for raw in warm]:
                done.result()
        shares = [encoded(bundles[k::clients]) for k in range(clients)]
        started, cpu, server_cpu = time.perf_counter(), time.process_time(), process_tree_cpu(proc.pid)
        with ThreadPoolExecutor(clients) as pool:
            for done in [pool.submit(send, share) for share in shares]:
                done.result()
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - cpu
        return Timing(wall, client_cpu + process_tree_cpu(proc.pid) - server_cpu, client_cpu)


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
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = ap.parse_args()

    bundles, resources = population(args.patients, args.entries)
    print(f"population: {len(bundles)} transaction Bundles, {resources:,} resources "
          f"({args.patients} patients x ~{args.entries} entries); every search parameter indexed")
    pg = None if args.no_postgres else postgres_available()
    backends = ["sqlite"] + (["postgresql"] if pg else [])
    if not pg and not args.no_postgres:
        print("PostgreSQL not reachable: skipping it (set GPBRIDGE_BENCH_POSTGRES)")
    results: dict[tuple[str, str], float] = {}
    cpu_us: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for backend in backends:
            rows = precompute_rows(fresh(backend, tmp, 0, pg), bundles)
            for mode in ("raw", "store", "http"):
                times: list[Timing] = []
                for n in range(args.repeat):
                    url = fresh(backend, tmp, n, pg)
                    if mode == "raw":
                        times.append(run_raw(url, bundles, rows))
                    elif mode == "store":
                        times.append(run_store(url, bundles, fresh("sqlite", tmp, n + 1000, None)))
                    else:
                        times.append(run_http(url, bundles, args.clients, args.workers))
                results[(backend, mode)] = resources / median([t.wall for t in times])
                cpu_us[(backend, mode)] = median([t.cpu for t in times]) / resources * 1e6
                client = f" (client {median([t.client_cpu for t in times]) / resources * 1e6:,.0f})" if mode == "http" else ""
                if mode == "store":
                    client = f"; write transaction open {median([t.locked / t.wall for t in times]):.0%} of the time"
                print(f"  {backend:10} {mode:5} {results[(backend, mode)]:>10,.0f} resources/s "
                      f"(runs: {', '.join(f'{resources / t.wall:,.0f}' for t in times)}); "
                      f"CPU {cpu_us[(backend, mode)]:,.0f} us/resource{client}", flush=True)
    print("\nCPU us/resource (median; http = server processes + this client; the busy-machine-proof figure)")
    for backend in backends:
        print(f"  {backend:12} " + "  ".join(f"{m} {cpu_us[(backend, m)]:>6,.0f}" for m in ("raw", "store", "http")))
    print("\nresources/s (median)      raw      store      http   http/raw  target")
    targets = {"sqlite": 10_000, "postgresql": 5_000}
    for backend in backends:
        raw, st, http = (results[(backend, m)] for m in ("raw", "store", "http"))
        verdict = "met" if http >= targets[backend] else "NOT met"
        print(f"  {backend:12} {raw:>10,.0f} {st:>10,.0f} {http:>9,.0f}   {http / raw:>6.2f}   "
              f">= {targets[backend]:,} via HTTP: {verdict}")


if __name__ == "__main__":
    main()
