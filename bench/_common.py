"""Shared helpers for the benchmarks: medians, a server in a subprocess, a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH_POSTGRES = os.environ.get("GPBRIDGE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/gpbridge_bench")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_available(dsn: str = BENCH_POSTGRES) -> str | None:
    """A DSN for a fresh benchmark database, or None when PostgreSQL is not reachable."""
    try:
        import psycopg

        admin = dsn.rsplit("/", 1)[0] + "/postgres"
        name = dsn.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return dsn
    except Exception:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        return None


def reset_postgres(dsn: str) -> None:
    from gpbridge.store.postgres import PostgresStore

    store = PostgresStore(dsn)
    store.drop_all()
    store.close()


@contextlib.contextmanager
def server(database: str, *, workers: int = 1, extra: list[str] | None = None) -> Iterator[str]:
    """``gpbridge serve`` in a subprocess; yields its /fhir base URL and stops it afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "gpbridge", "serve", "--database", database, "--port", str(port),
           "--insecure-dev", *(extra or [])]
    env = {**os.environ, "GPBRIDGE_WORKERS": str(workers)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
