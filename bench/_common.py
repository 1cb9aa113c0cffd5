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
    # A load generator is one client hammering the server: the per-client rate limit would only throttle it.
    env = {**os.environ, "GPBRIDGE_WORKERS": str(workers), "GPBRIDGE_RATE_LIMIT_PER_MINUTE": "0"}
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


@contextlib.contextmanager
def server_process(
    database: str,
    *,
    workers: int = 1,
    extra: list[str] | None = None,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like ``server()``, for load tests: yields (base URL, the process) so callers can find the
    worker pids (profilers), sends stderr to ``log_path`` (or discards it) instead of a pipe nobody
    drains, which would stall a server that logs a lot under load, and adds ``env`` (GPBRIDGE_*
    settings) to the server's environment."""
    port = free_port()
    cmd = [sys.executable, "-m", "gpbridge", "serve", "--database", database, "--port", str(port),
           "--insecure-dev", "--workers", str(workers), *(extra or [])]
    env = {**os.environ, "GPBRIDGE_RATE_LIMIT_PER_MINUTE": "0", **(env or {}), "GPBRIDGE_WORKERS": str(workers)}
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(open(log_path, "ab")) if log_path else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        base = f"http://127.0.0.1:{port}/fhir"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    log = Path(log_path).read_text()[-2000:] if log_path else ""
                    raise RuntimeError(f"server exited with {proc.returncode}: {log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server on port {port} did not answer within 120 s")
                try:
                    if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            yield base, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def child_pids(pid: int) -> list[int]:
    """Direct children of a process (e.g. uvicorn's workers), from /proc; empty where unavailable."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live children, from /proc.
    Differences across a load run give CPU per request, which a busy machine disturbs less than
    req/s or latency do. NaN where /proc is unavailable."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        for p in [pid, *child_pids(pid)]:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    except (OSError, IndexError, ValueError):
        return float("nan")
    return total


def process_tree_memory(pid: int) -> dict[str, float]:
    """Resident memory (MB) of a process and its live children, from /proc: ``rss`` sums each
    process's resident set (pages of the database file mapped by several workers count once per
    worker, the strictest reading), ``pss`` shares such pages out (what the server really holds),
    ``anon`` is the private heap within ``pss``, and ``peak`` is the largest single process's
    high-water mark (VmHWM). NaN where /proc is unavailable."""
    totals = {"rss": 0.0, "pss": 0.0, "anon": 0.0, "peak": 0.0}
    try:
        for p in [pid, *child_pids(pid)]:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("Rss", "Pss", "Pss_Anon"):
                    totals[{"Rss": "rss", "Pss": "pss", "Pss_Anon": "anon"}[key]] += int(value.split()[0]) / 1024
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    totals["peak"] = max(totals["peak"], int(line.split()[1]) / 1024)
    except (OSError, IndexError, ValueError):
        return dict.fromkeys(totals, float("nan"))
    return totals


def encoded_post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A whole HTTP/1.1 POST (``Connection: close``) as bytes, for ``send_encoded``."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def send_encoded(host: str, port: int, request: bytes, timeout: float = 120.0) -> tuple[int, bytes]:
    """Send a request built by ``encoded_post`` on a new connection; ``(status, whole response)``.

    A load generator shares the machine's two cores with the server, so it should take as little of
    them as it can (wrk's role in bench/search.py): the request is encoded before the clock starts and
    the answer is read to the server's close, not parsed by http.client (which measured about 20 us of
    sender CPU for every resource ingested, a tenth of the server's own). The status line is still
    checked, and the whole answer read, so a failed Bundle is reported as before.
    """
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(262_144):
            chunks.append(chunk)
    answer = b"".join(chunks)
    try:
        status = int(answer[9:12])  # "HTTP/1.1 200 OK"
    except ValueError:
        raise RuntimeError(f"not an HTTP response: {answer[:200]!r}") from None
    return status, answer
