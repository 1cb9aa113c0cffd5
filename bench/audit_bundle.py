"""The audit of transaction Bundles: one event per entry (the old shape) vs one per patient compartment.

Both shapes go through the durable sink the server uses (``ChainedAuditSink``: AuditEvent JSON,
SHA-256 chain, one INSERT batch per flush) into a fresh SQLite database, for the synthetic GP
population's Bundles, flushing once per Bundle. "per entry" records what the Bundle route used to:
the Bundle, then every entry without a patient or a server-assigned id. Prints CPU microseconds
per resource (time.process_time: robust on a busy machine), rows and event bytes per resource.

    .venv/bin/python bench/audit_bundle.py [--patients 100] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpbridge.config import Settings  # noqa: E402
from gpbridge.demo.population import generate_population  # noqa: E402
from gpbridge.security.audit_bundle import record_touched  # noqa: E402
from gpbridge.security.audit_chain import ChainedAuditSink  # noqa: E402
from gpbridge.security.policy import RequestContext, record  # noqa: E402
from gpbridge.security.rules import Decision  # noqa: E402
from gpbridge.store import open_store  # noqa: E402
from gpbridge.store.transaction import Touched  # noqa: E402

ALLOWED = Decision(True, "system scope")


def touched_bundles(patients: int) -> list[list[Touched]]:
    """What ``process_bundle`` reports for each Bundle: every entry created, with an assigned id."""
    out = []
    for bundle in generate_population(patients, seed=7, entries_per_patient=40):
        ids = {e["fullUrl"]: f"{e['resource']['resourceType']}/id-{n:032d}" for n, e in enumerate(bundle["entry"])}
        touched = []
        for entry in bundle["entry"]:
            type_, _, id_ = ids[entry["fullUrl"]].partition("/")
            touched.append(Touched("create", type_, id_, entry["resource"]))
        out.append(touched)
    return out


def measure(shape: str, bundles: list[list[Touched]], directory: str) -> tuple[float, int, int]:
    url = f"sqlite:///{directory}/{shape}-{time.monotonic_ns()}.db"
    settings = Settings(database=url, insecure_dev=True)
    store = open_store(url, settings)
    sink = ChainedAuditSink(store, background=False)
    context = RequestContext(settings=settings, audit=sink, request_id="bench", source_ip="127.0.0.1")
    start = time.process_time()
    for touched in bundles:
        if shape == "per entry":
            record(context, ALLOWED, "transaction", None, None)
            for item in touched:
                record(context, ALLOWED, item.interaction, item.type, None)
        else:
            record_touched(context, "transaction", ALLOWED, touched)
        sink.flush()
    cpu = time.process_time() - start
    with store._read_cursor() as cur:
        cur.execute("SELECT count(*), sum(length(event)) FROM audit_log")
        rows, size = cur.fetchone()
    store.close()
    return cpu, rows, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    bundles = touched_bundles(args.patients)
    resources = sum(len(t) for t in bundles)
    print(f"{len(bundles)} Bundles, {resources:,} resources")
    with tempfile.TemporaryDirectory() as directory:
        for run in range(args.repeat):
            for shape in ("per entry", "per patient"):
                cpu, rows, size = measure(shape, bundles, directory)
                print(f"  run {run + 1}  {shape:12s} CPU {cpu / resources * 1e6:5.1f} us/resource   "
                      f"{rows:,} events ({rows / resources:.2f}/resource)   {size / resources:,.0f} event bytes/resource")


if __name__ == "__main__":
    main()
