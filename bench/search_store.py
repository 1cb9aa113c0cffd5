"""The stores bench/search.py measures: built once from the synthetic population, cached, sampled.

A store is keyed by what decides its content — generator parameters (patients, entries per patient,
seed) and the schema (a hash of every migration's DDL) — and cached under ``var/bench/`` (git-ignored):
``search-<key>.db`` beside ``search-<key>.json`` (how it was built). A SQLite store is built into a
``.tmp`` file and renamed only once complete, so an interrupted build is never reused. A PostgreSQL
store is remembered by a ``postgres-<dsn hash>.json`` beside the others and checked by count on reuse.

Bundles go straight to ``process_bundle`` (no HTTP): the same transaction path the API uses, one
write transaction per Bundle.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from gpbridge.config import Settings
from gpbridge.demo.population import generate_population
from gpbridge.store import migrations, open_store
from gpbridge.store.dialect import POSTGRESQL, SQLITE
from gpbridge.store.transaction import process_bundle

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "var" / "bench"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED = "http://snomed.info/sct"
SINCE = "2020-01-01"  # Observation?...&date=ge<SINCE>
SHAPES = ("patient_nhs", "obs_code_date", "medreq_status", "condition_include")


@dataclass(frozen=True)
class StoreSpec:
    patients: int
    entries: int
    seed: int

    @property
    def label(self) -> str:
        return f"{self.patients}p-{self.entries}e-s{self.seed}"


@dataclass
class BuiltStore:
    url: str
    spec: StoreSpec
    resources: int
    meta: dict[str, Any]
    reused: bool


def schema_hash(dialect: Any = SQLITE) -> str:
    """Changes whenever a migration's DDL does: a new index layout means a new store."""
    text = "\n".join(f"{m.version}:{s}" for m in migrations.migrations() for s in m.ddl(dialect))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def generator_fingerprint(spec: StoreSpec) -> str:
    """A hash of the first two Bundles: notices a changed generator without generating everything."""
    h = hashlib.sha256()
    for n, bundle in enumerate(generate_population(spec.patients, spec.seed, spec.entries)):
        h.update(orjson.dumps(bundle))
        if n >= 1:
            break
    return h.hexdigest()[:12]


def _load(url: str, spec: StoreSpec, settings: Settings, *, quiet: bool) -> tuple[int, float, float]:
    """Generate and load the population; (resources, load seconds, generation seconds)."""
    store = open_store(url, settings)
    resources = 0
    gen_seconds = 0.0
    started = time.perf_counter()
    last_report = started
    try:
        bundles: Iterator[dict[str, Any]] = iter(generate_population(spec.patients, spec.seed, spec.entries))
        n = 0
        while True:
            g0 = time.perf_counter()
            bundle = next(bundles, None)
            gen_seconds += time.perf_counter() - g0
            if bundle is None:
                break
            process_bundle(store, bundle, settings=settings, base_url="")
            resources += len(bundle.get("entry") or [])
            n += 1
            now = time.perf_counter()
            if not quiet and now - last_report >= 15:
                last_report = now
                rate = resources / (now - started)
                eta = (spec.patients + 1 - n) * (now - started) / n
                print(f"    {n - 1:,}/{spec.patients:,} patients, {resources:,} resources, "
                      f"{rate:,.0f}/s, ~{eta:,.0f}s to go", file=sys.stderr, flush=True)
    finally:
        store.close()
    return resources, time.perf_counter() - started, gen_seconds


def sqlite_store(spec: StoreSpec, *, rebuild: bool = False, quiet: bool = False) -> BuiltStore:
    CACHE.mkdir(parents=True, exist_ok=True)
    key = f"search-{spec.label}-schema{schema_hash()}"
    with open(CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second run waits for a build in progress, then reuses it
        return _sqlite_store(spec, key, rebuild=rebuild, quiet=quiet)


def _sqlite_store(spec: StoreSpec, key: str, *, rebuild: bool, quiet: bool) -> BuiltStore:
    path, meta_path = CACHE / f"{key}.db", CACHE / f"{key}.json"
    fingerprint = generator_fingerprint(spec)
    if path.exists() and meta_path.exists() and not rebuild:
        meta = json.loads(meta_path.read_text())
        if meta.get("generator") != fingerprint:
            if spec.patients <= 1000:  # cheap: just rebuild
                return _sqlite_store(spec, key, rebuild=True, quiet=quiet)
            print(f"  WARNING: the generator's output changed since {path.name} was built; "
                  f"reusing it anyway (--rebuild to build it again)")
        return BuiltStore(f"sqlite:///{path}", spec, meta["resources"], meta, True)
    for stale in CACHE.glob(f"{key}.db*"):
        stale.unlink()
    tmp = CACHE / f"{key}.tmp.db"
    for p in CACHE.glob(f"{key}.tmp.db*"):
        p.unlink()
    # synchronous=OFF only for the build (what is measured is reading): a crash loses the .tmp file.
    settings = Settings(database=f"sqlite:///{tmp}", sqlite_synchronous="OFF")
    resources, seconds, gen_seconds = _load(f"sqlite:///{tmp}", spec, settings, quiet=quiet)
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file; the server turns WAL back on
    conn.close()
    os.replace(tmp, path)
    meta = {
        "patients": spec.patients, "entries_per_patient": spec.entries, "seed": spec.seed,
        "resources": resources, "load_seconds": round(seconds, 1), "generate_seconds": round(gen_seconds, 1),
        "generator": fingerprint, "schema": schema_hash(), "bytes": path.stat().st_size,
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return BuiltStore(f"sqlite:///{path}", spec, resources, meta, False)


def postgres_store(dsn: str, spec: StoreSpec, *, rebuild: bool = False, quiet: bool = False) -> BuiltStore:
    """One population per DSN (a database holds one store): reused when the parameters and the
    resource count match, else dropped and loaded again."""
    from gpbridge.store.postgres import PostgresStore

    CACHE.mkdir(parents=True, exist_ok=True)
    meta_path = CACHE / f"postgres-{hashlib.sha256(dsn.encode()).hexdigest()[:10]}.json"
    wanted = {"patients": spec.patients, "entries_per_patient": spec.entries, "seed": spec.seed,
              "schema": schema_hash(POSTGRESQL)}
    if meta_path.exists() and not rebuild:
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in wanted} == wanted:
            store = open_store(dsn, Settings(database=dsn))
            try:
                count = store.count()
            finally:
                store.close()
            if count == meta["resources"]:
                return BuiltStore(dsn, spec, meta["resources"], meta, True)
    store = PostgresStore(dsn, Settings(database=dsn))
    store.drop_all()
    store.close()
    meta_path.unlink(missing_ok=True)
    resources, seconds, gen_seconds = _load(dsn, spec, Settings(database=dsn), quiet=quiet)
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum would reach eventually; fair for reads
    meta = {**wanted, "resources": resources, "load_seconds": round(seconds, 1),
            "generate_seconds": round(gen_seconds, 1), "generator": generator_fingerprint(spec),
            "built": datetime.now(UTC).isoformat(timespec="seconds")}
    meta_path.write_text(json.dumps(meta, indent=2))
    return BuiltStore(dsn, spec, resources, meta, False)


# -- requests sampled from the store --------------------------------------------------------------
def _q(value: str) -> str:
    return quote(value, safe="/:-.")


def sample_requests(url: str, per_shape: int = 500, seed: int = 11) -> dict[str, list[str]]:
    """Paths (``/fhir/...?...``) for each query shape, built from values that exist in the store, each
    chosen so the search has at least one match: e.g. an Observation's own patient and code, among
    Observations dated on or after SINCE."""
    store = open_store(url, Settings(database=url))
    d = store.dialect_obj
    pid = store.pids
    since = datetime.fromisoformat(SINCE).replace(tzinfo=UTC).timestamp()
    rng = random.Random(seed)

    def pick(rows: list[Any]) -> list[Any]:
        rows = sorted(set(rows))
        if len(rows) >= per_shape:
            return rng.sample(rows, per_shape)
        return rows + rng.choices(rows, k=per_shape - len(rows)) if rows else []

    try:
        with store._read_cursor() as cur:  # noqa: SLF001 - a benchmark peeking at its own store
            def rows(sql: str, params: list[Any]) -> list[Any]:
                cur.execute(d.sql(sql), params)
                return [tuple(r) for r in cur.fetchall()]

            # ``patient`` is a view of ``subject`` (search.derived): its rows are subject's, ttype Patient
            nhs = rows("SELECT code FROM ix_token WHERE pid = ? AND system = ?", [pid[("Patient", "identifier")], NHS])
            obs = rows(
                "SELECT r.tid, t.code FROM ix_date x "
                "JOIN ix_reference r ON r.rid = x.rid AND r.pid = ? AND r.ttype = 'Patient' "
                "JOIN ix_token t ON t.rid = x.rid AND t.pid = ? AND t.system = ? "
                "WHERE x.pid = ? AND x.hi > ?",
                [pid[("Observation", "subject")], pid[("Observation", "code")], SNOMED,
                 pid[("Observation", "date")], since],
            )
            med = rows(
                "SELECT r.tid, t.code FROM ix_reference r JOIN ix_token t ON t.rid = r.rid AND t.pid = ? "
                "WHERE r.pid = ? AND r.ttype = 'Patient'",
                [pid[("MedicationRequest", "status")], pid[("MedicationRequest", "subject")]],
            )
            cond = rows("SELECT DISTINCT tid FROM ix_reference WHERE pid = ? AND ttype = 'Patient'",
                        [pid[("Condition", "subject")]])
    finally:
        store.close()
    out = {
        "patient_nhs": [f"/fhir/Patient?identifier={_q(NHS + '|' + n)}" for (n,) in pick(nhs)],
        "obs_code_date": [f"/fhir/Observation?patient={_q('Patient/' + p)}&code={_q(SNOMED + '|' + c)}"
                          f"&date=ge{SINCE}" for p, c in pick(obs)],
        "medreq_status": [f"/fhir/MedicationRequest?patient={_q('Patient/' + p)}&status={_q(s)}"
                          for p, s in pick(med)],
        "condition_include": [f"/fhir/Condition?patient={_q('Patient/' + p)}&_include=Condition:subject"
                              for (p,) in pick(cond)],
    }
    for shape, paths in out.items():
        if not paths:
            raise RuntimeError(f"no {shape} requests could be sampled from {url}: is the store empty?")
    return out


def clear_audit(url: str) -> int:
    """Remove the AuditEvents a benchmark's searches left in a cached store (the server audits every
    read), so the cache keeps its built content run after run. Returns how many went."""
    if not url.startswith("sqlite:"):
        return 0
    conn = sqlite3.connect(url[len("sqlite:///"):], timeout=30)
    try:
        n = conn.execute("DELETE FROM audit_log").rowcount
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n
    except sqlite3.OperationalError:  # no audit table in this schema
        return 0
    finally:
        conn.close()


def interleave(by_shape: dict[str, list[str]], seed: int = 12) -> list[str]:
    """One list cycling through the shapes in equal shares, shuffled deterministically."""
    paths = [p for shape in SHAPES for p in by_shape[shape]]
    random.Random(seed).shuffle(paths)
    return paths
