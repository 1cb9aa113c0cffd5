"""Read throughput with the durable audit on vs off, measured side by side in one process.

    .venv/bin/python -m gpbridge.security.bench_audit [--requests 2000] [--repeat 5]

Security is ON in both arms (a clinician's bearer token, relationship checks, filtering); only the
sink differs: ``NullAuditSink`` vs ``ChainedAuditSink`` (buffered, hash-chained, background
writer). Reads alternate between the arms per round so machine noise hits both; prints the
median req/s of each and their ratio (target >= 0.8). The lead folds this into bench/search.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from gpbridge.api.app import create_app
from gpbridge.config import Settings
from gpbridge.security.audit import NullAuditSink
from gpbridge.security.audit_chain import ChainedAuditSink, verify_audit_chain
from gpbridge.security.idp import mint_user_token
from gpbridge.store import open_store

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


def _population(patients: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Organization",
            "id": "practice-a",
            "identifier": [{"system": ODS, "value": "Y12345"}],
        }
    ]
    for i in range(patients):
        out.append({"resourceType": "Patient", "id": f"p{i}",
                    "generalPractitioner": [{"reference": "Organization/practice-a"}]})  # fmt: skip
        for j in range(5):
            out.append({"resourceType": "Observation", "id": f"o{i}-{j}", "status": "final",
                        "code": {"text": "bp"}, "subject": {"reference": f"Patient/p{i}"}})  # fmt: skip
    return out


async def _drive(app: Any, token: str, n: int, patients: int) -> float:
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        start = time.perf_counter()
        for k in range(n):
            response = await client.get(f"/fhir/Observation/o{k % patients}-{k % 5}", headers=headers)
            if response.status_code != 200:
                raise RuntimeError(response.text)
        return n / (time.perf_counter() - start)


def measure(requests: int = 2000, repeat: int = 5, patients: int = 200) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database=f"sqlite:///{Path(tmp)}/bench.db", insecure_dev=False, var_dir=tmp,
                            rate_limit_per_minute=0)  # one client: measure reads, not 429s
        store = open_store(settings.database, settings)
        store.bulk_load(iter(_population(patients)))
        token = mint_user_token(settings, "clinician-a")
        sink = ChainedAuditSink(store)
        arms = {
            "off": create_app(settings, store, audit=NullAuditSink()),
            "on": create_app(settings, store, audit=sink),
        }
        rates: dict[str, list[float]] = {"off": [], "on": []}
        asyncio.run(_drive(arms["on"], token, 200, patients))  # warm caches, JIT-free but page cache
        for round_ in range(repeat):
            order = list(arms.items()) if round_ % 2 == 0 else list(reversed(arms.items()))
            for name, app in order:  # alternate which arm goes first: no warm-up bias
                rates[name].append(asyncio.run(_drive(app, token, requests, patients)))
        sink.close()
        report = verify_audit_chain(store)
        store.close()
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    return {
        "off_rps": off,
        "on_rps": on,
        "ratio": on / off,
        "events": float(report.checked),
        "chain_ok": float(report.ok),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    r = measure(args.requests, args.repeat)
    print(f"reads with audit off: {r['off_rps']:.0f} req/s (median of {args.repeat})")
    print(
        f"reads with audit on:  {r['on_rps']:.0f} req/s ({int(r['events'])} events, chain ok={bool(r['chain_ok'])})"
    )
    print(f"ratio on/off: {r['ratio']:.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()
