"""Search under load: GP-typical searches against a 1M-resource store and a 10k one, side by side.

  1. Builds (or reuses, from var/bench/) a SQLite store of the synthetic population — 10,000
     patients x ~100 entries = 1,003,226 resources — and a small one from the same generator
     (100 patients, ~8.5k resources), loaded through ``process_bundle`` straight into the store.
  2. Samples real NHS numbers, patient ids, codes and statuses from each store and builds an equal
     mix of four searches, each with at least one match:
       Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|<n>
       Observation?patient=Patient/<id>&code=http://snomed.info/sct|<code>&date=ge2020-01-01
       MedicationRequest?patient=Patient/<id>&status=<status>
       Condition?patient=Patient/<id>&_include=Condition:subject
  3. Starts ``gpbridge serve`` (2 workers, then 1) for both stores, checks a sample of every shape
     returns a searchset with matches, then drives each with 32 concurrent keep-alive connections
     (wrk + bench/search_load.lua; an asyncio httpx client if wrk cannot be had) for --duration
     seconds after a --warmup, alternating the stores --repeat times. Prints req/s, p50, p99 and
     errors (medians of the runs), the p50(1M)/p50(10k) ratio and the targets, and the resident
     memory of the 1M store's server after its runs under load (all its processes, < 500 MB).
  4. Audit on vs off: two servers on the large store, one with GPBRIDGE_AUDIT=false, runs
     alternating; prints both req/s and their ratio (target >= 0.8). --no-audit-compare skips it.
  --explain   EXPLAIN QUERY PLAN of every statement of each shape on the large store, timed
  --profile   in-process: where a request's time goes (parse, store.search and its SQL, Bundle,
              JSON, the rest) per shape on both stores, and the top functions under cProfile

    .venv/bin/python bench/search.py [--duration 20] [--warmup 5] [--repeat 3] [--workers 2,1]
        [--explain] [--profile] [--postgres DSN] [--client wrk|python] [--rebuild]

The client shares the machine's 2 cores with the server: the figures include that cost (wrk is
light; the Python fallback is not, and understates throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    median,
    postgres_available,
    process_tree_cpu,
    process_tree_memory,
    server_process,
)
from search_store import (  # noqa: E402
    CACHE,
    SHAPES,
    BuiltStore,
    StoreSpec,
    clear_audit,
    interleave,
    postgres_store,
    sample_requests,
    sqlite_store,
)

HERE = Path(__file__).resolve().parent
LUA = HERE / "search_load.lua"
TARGET_RPS = 3000
TARGET_P99_MS = 25.0
TARGET_RATIO = 1.5
TARGET_RSS_MB = 500  # the house rule: a server holding a million resources stays under 500 MB resident
TARGET_AUDIT_RATIO = 0.8  # req/s with the audit on / off (issue 7)


# -- the load client ------------------------------------------------------------------------------
def ensure_wrk() -> str | None:
    """wrk on PATH, installing Debian's package when we may (root with apt-get); else None."""
    found = shutil.which("wrk")
    if found or os.environ.get("GPBRIDGE_BENCH_NO_INSTALL"):
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("  wrk not found: installing the Debian package (apt-get install wrk)…", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet)
        return shutil.which("wrk")
    return None


def run_wrk(wrk: str, base: str, paths_file: Path, seconds: float, connections: int, threads: int) -> dict[str, Any]:
    origin = base.rsplit("/fhir", 1)[0]
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s",
           "-s", str(LUA), origin, "--", str(paths_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()[-500:]} {out.stdout[-500:]}")
    r = json.loads(line[len("WRKJSON "):])
    seconds_run = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {"rps": r["requests"] / seconds_run, "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000,
            "requests": r["requests"], "non2xx": r["status"], "errors": errors,
            "mb_s": r["bytes"] / seconds_run / 1e6}


def run_python(base: str, paths: list[str], seconds: float, connections: int) -> dict[str, Any]:
    """Fallback client: ``connections`` asyncio tasks over one keep-alive pool (httpx)."""
    origin = base.rsplit("/fhir", 1)[0]

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        status_bad = errors = nbytes = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=origin, limits=limits, timeout=5,
                                     headers={"Accept": "application/fhir+json"}) as client:
            stop = time.perf_counter() + seconds

            async def worker(k: int) -> None:
                nonlocal status_bad, errors, nbytes
                i = k * 7919
                while time.perf_counter() < stop:
                    i += 1
                    t0 = time.perf_counter()
                    try:
                        r = await client.get(paths[i % len(paths)])
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t0)
                    nbytes += len(r.content)
                    if not 200 <= r.status_code < 300:
                        status_bad += 1

            started, cpu0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker(k) for k in range(connections)))
            took, cpu = time.perf_counter() - started, time.process_time() - cpu0
        latencies.sort()
        q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
        return {"rps": len(latencies) / took, "p50": q[49] * 1000, "p99": q[98] * 1000, "requests": len(latencies),
                "non2xx": status_bad, "errors": errors, "mb_s": nbytes / took / 1e6, "client_cpu": cpu}

    return asyncio.run(main())


def children_cpu() -> float:
    """CPU seconds of this process's finished children (wrk runs once it has exited)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# -- checks before the load -----------------------------------------------------------------------------
def verify(base: str, by_shape: dict[str, list[str]], per_shape: int) -> dict[str, dict[str, float]]:
    """Each shape's first ``per_shape`` requests, one at a time: every one must be a 200 searchset with
    matches of the right type (and, for _include, the included Patient). Then the same requests again,
    timed: the unloaded latency (client included)."""
    origin = base.rsplit("/fhir", 1)[0]
    out: dict[str, dict[str, float]] = {}
    problems: list[str] = []
    with httpx.Client(base_url=origin, timeout=30, headers={"Accept": "application/fhir+json"}) as client:
        for shape in SHAPES:
            times, matches, sizes = [], [], []
            for path in by_shape[shape][:per_shape]:
                r = client.get(path)
                sizes.append(len(r.content))
                if r.status_code != 200:
                    problems.append(f"{shape}: {r.status_code} for {path}: {r.text[:200]}")
                    continue
                bundle = r.json()
                entries = bundle.get("entry") or []
                hits = [e for e in entries if e.get("search", {}).get("mode") == "match"]
                wanted = path.split("/fhir/", 1)[1].split("?", 1)[0]
                if bundle.get("type") != "searchset" or not hits:
                    problems.append(f"{shape}: no matches for {path}")
                elif any(e["resource"]["resourceType"] != wanted for e in hits):
                    problems.append(f"{shape}: a match of the wrong type for {path}")
                elif shape == "condition_include" and not any(
                        e.get("search", {}).get("mode") == "include" and e["resource"]["resourceType"] == "Patient"
                        for e in entries):
                    problems.append(f"{shape}: no included Patient for {path}")
                matches.append(len(hits))
            for path in by_shape[shape][:per_shape]:
                t0 = time.perf_counter()
                client.get(path)
                times.append(time.perf_counter() - t0)
            out[shape] = {"checked": len(times), "ms": median(times) * 1000,
                          "matches": statistics.mean(matches) if matches else 0.0, "kb": median(sizes) / 1024}
    if problems:
        raise SystemExit("responses are not real searchsets with matches:\n  " + "\n  ".join(problems[:10]))
    return out


# -- the run ---------------------------------------------------------------------------------------------
def size_label(resources: int) -> str:
    return f"{resources / 1e6:.1f}M" if resources >= 1e6 else f"{resources / 1e3:.1f}k"


def describe(built: BuiltStore) -> str:
    how = "reused" if built.reused else "built"
    m = built.meta
    size = f", {m['bytes'] / 1e9:.2f} GB" if "bytes" in m else ""
    storing = max(m["load_seconds"] - m["generate_seconds"], 1e-9)
    return (f"{built.resources:,} resources ({built.spec.patients:,} patients x ~{built.spec.entries} entries, "
            f"seed {built.spec.seed}{size}); {how}; load {m['load_seconds']:,.0f} s: "
            f"{m['generate_seconds']:,.0f} s generating, {storing:,.0f} s in process_bundle = "
            f"{built.resources / storing:,.0f} resources/s ({built.resources / m['load_seconds']:,.0f}/s overall)")


def audit_on_off(url: str, name: str, load: Any, workers: int, args: Any, logs: Path) -> None:
    """Req/s on one store with the durable audit on and off, two servers side by side, runs
    alternating so machine noise hits both arms; prints the medians and their ratio (target 0.8)."""
    arms = {"audit on": {}, "audit off": {"GPBRIDGE_AUDIT": "false"}}
    rps: dict[str, list[float]] = {arm: [] for arm in arms}
    print(f"\n  audit on vs off: {name}, {workers} worker(s), {args.repeat} x {args.duration:.0f} s each, "
          "alternating", flush=True)
    with contextlib.ExitStack() as stack:
        bases = {arm: stack.enter_context(server_process(url, workers=workers, log_path=logs, env=env))[0]
                 for arm, env in arms.items()}
        time.sleep(1)
        for base in bases.values():
            if args.warmup > 0:
                load(base, name, args.warmup)
        for rep in range(args.repeat):
            for arm, base in (bases.items() if rep % 2 == 0 else reversed(bases.items())):
                r = load(base, name, args.duration)
                rps[arm].append(r["rps"])
                print(f"    run {rep + 1} {arm:>9}: {r['rps']:>7,.0f} req/s  p50 {r['p50']:6.2f} ms  "
                      f"non-2xx {r['non2xx']}", flush=True)
    on, off = median(rps["audit on"]), median(rps["audit off"])
    ratio = on / off if off else 0.0
    print(f"    median req/s: audit on {on:,.0f}, audit off {off:,.0f}; ratio {ratio:.2f} "
          f"(target >= {TARGET_AUDIT_RATIO})   {'met' if ratio >= TARGET_AUDIT_RATIO else 'NOT met'}")
    clear_audit(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--small-patients", type=int, default=100)
    ap.add_argument("--entries", type=int, default=100, help="entries per patient (generator average)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    ap.add_argument("--repeat", type=int, default=3, help="measured runs per store and worker count")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", default="2,1", help="server worker counts to measure, e.g. 2 or 2,1")
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--postgres", metavar="DSN", help="also measure PostgreSQL (the large store only)")
    ap.add_argument("--explain", action="store_true", help="print each shape's query plans on the large store")
    ap.add_argument("--profile", action="store_true", help="in-process breakdown of a request's time")
    ap.add_argument("--rebuild", action="store_true", help="build the stores again even if cached")
    ap.add_argument("--no-audit", action="store_true",
                    help="serve with GPBRIDGE_AUDIT=false (default: the server's default, every read audited)")
    ap.add_argument("--per-shape", type=int, default=500, help="sampled requests per query shape")
    ap.add_argument("--no-audit-compare", dest="audit_compare", action="store_false",
                    help="skip the audit on/off comparison on the large store (on by default)")
    args = ap.parse_args()
    t_start = time.perf_counter()

    print(f"search benchmark: {args.connections} concurrent clients, equal mix of {len(SHAPES)} shapes, "
          f"{os.cpu_count()} CPUs; cache {CACHE.relative_to(CACHE.parents[1])}/")
    large_spec = StoreSpec(args.patients, args.entries, args.seed)
    small_spec = StoreSpec(args.small_patients, args.entries, args.seed)
    print(f"  large store: building or reusing {large_spec.label} (the first build takes several minutes)…",
          flush=True)
    large = sqlite_store(large_spec, rebuild=args.rebuild)
    small = sqlite_store(small_spec, rebuild=args.rebuild, quiet=True)
    print(f"  large: {describe(large)}\n  small: {describe(small)}")
    big_name, small_name = size_label(large.resources), size_label(small.resources)
    stores: dict[str, BuiltStore] = {big_name: large, small_name: small}
    if args.postgres:
        print("  PostgreSQL: building or reusing the large store…", flush=True)
        dsn = postgres_available(args.postgres)
        if dsn is None:
            raise SystemExit(f"PostgreSQL is not reachable at {args.postgres}")
        pg = postgres_store(dsn, large_spec, rebuild=args.rebuild)
        print(f"  postgres: {describe(pg)}")
        stores[big_name + "-pg"] = pg

    client = args.client
    wrk = None
    if client in ("auto", "wrk"):
        wrk = ensure_wrk()
        if wrk is None:
            if client == "wrk":
                raise SystemExit("wrk is not installed and could not be installed (apt-get install wrk)")
            print("  wrk unavailable: falling back to the asyncio httpx client (it competes for CPU: "
                  "expect lower req/s than wrk would show)")
        client = "wrk" if wrk else "python"
    print(f"  client: {client}" + (f" ({args.threads} threads)" if client == "wrk" else ""))

    requests: dict[str, dict[str, list[str]]] = {}
    paths_files: dict[str, Path] = {}
    tmpdir = Path(tempfile.mkdtemp(prefix="gpbridge-search-"))
    for name, built in stores.items():
        requests[name] = sample_requests(built.url, per_shape=args.per_shape)
        paths_files[name] = tmpdir / f"paths-{name}.txt"
        paths_files[name].write_text("\n".join(interleave(requests[name])) + "\n")
    print(f"  requests: {args.per_shape} sampled per shape per store, interleaved; e.g.")
    for shape in SHAPES:
        print(f"    {requests[big_name][shape][0]}")

    def load(base: str, name: str, seconds: float) -> dict[str, Any]:
        if client == "wrk":
            assert wrk is not None
            return run_wrk(wrk, base, paths_files[name], seconds, args.connections, args.threads)
        return run_python(base, interleave(requests[name]), seconds, args.connections)

    # Every connection comes from 127.0.0.1, one client to the rate limiter: a load test must switch it
    # off or it measures 429s. Everything else is the server's default (audit on unless --no-audit).
    server_env = {"GPBRIDGE_RATE_LIMIT_PER_MINUTE": "0"}
    if args.no_audit:
        server_env["GPBRIDGE_AUDIT"] = "false"
    print(f"  server: gpbridge serve --insecure-dev, {' '.join(f'{k}={v}' for k, v in server_env.items())}"
          f"{'' if args.no_audit else ', audit on (default)'}")
    for built in stores.values():
        clear_audit(built.url)
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    unloaded: dict[str, dict[str, dict[str, float]]] = {}
    memory: dict[tuple[str, int], dict[str, float]] = {}
    logs = CACHE / "search-server.log"
    logs.unlink(missing_ok=True)
    for workers in worker_counts:
        with contextlib.ExitStack() as stack:
            procs = {name: stack.enter_context(server_process(built.url, workers=workers, log_path=logs,
                                                              env=server_env))
                     for name, built in stores.items()}
            bases = {name: base for name, (base, _) in procs.items()}
            time.sleep(1)  # let every worker finish starting before anything is timed
            for name, base in bases.items():
                checked = verify(base, requests[name], per_shape=50)
                unloaded.setdefault(name, checked)
                if args.warmup > 0:
                    load(base, name, args.warmup)
            print(f"\n  [{time.perf_counter() - t_start:4.0f} s] {workers} worker{'s' if workers > 1 else ''}: "
                  f"every shape checked "
                  f"(200 searchsets with matches); {args.warmup:.0f} s warm-up, then "
                  f"{args.repeat} x {args.duration:.0f} s per store, alternating", flush=True)
            for rep in range(args.repeat):
                for name, base in bases.items():
                    server_cpu, client_cpu = process_tree_cpu(procs[name][1].pid), children_cpu()
                    r = load(base, name, args.duration)
                    # CPU per request: a busy machine disturbs it far less than req/s or latency
                    r["server_ms"] = (process_tree_cpu(procs[name][1].pid) - server_cpu) / r["requests"] * 1000
                    used = children_cpu() - client_cpu if client == "wrk" else r["client_cpu"]
                    r["client_ms"] = used / r["requests"] * 1000
                    results.setdefault((name, workers), []).append(r)
                    print(f"    [{time.perf_counter() - t_start:4.0f} s] run {rep + 1} {name:>6}: "
                          f"{r['rps']:>7,.0f} req/s  p50 {r['p50']:6.2f} ms  "
                          f"p99 {r['p99']:6.2f} ms  non-2xx {r['non2xx']}  errors {r['errors']}  "
                          f"CPU/request: server {r['server_ms']:.3f} ms, client {r['client_ms']:.3f} ms  "
                          f"({r['mb_s']:.1f} MB/s; load average {os.getloadavg()[0]:.1f})", flush=True)
            # after every run under load, while the servers still hold what the load made them hold
            for name, (_, proc) in procs.items():
                memory[(name, workers)] = process_tree_memory(proc.pid)

    print("\n  unloaded latency, one request at a time (median of 50 per shape; mean matches; median size)")
    print("    shape                " + "".join(f"{n:>26}" for n in stores))
    for shape in SHAPES:
        cells = "".join(f"{unloaded[n][shape]['ms']:>8.2f} ms {unloaded[n][shape]['matches']:>5.1f} "
                        f"{unloaded[n][shape]['kb']:>5.1f} kB" for n in stores)
        print(f"    {shape:20} {cells}")

    def agg(name: str, workers: int) -> dict[str, float]:
        runs = results[(name, workers)]
        return {k: median([r[k] for r in runs]) for k in ("rps", "p50", "p99", "server_ms", "client_ms")} | {
            "non2xx": sum(r["non2xx"] for r in runs), "errors": sum(r["errors"] for r in runs)}

    print(f"\n  median of {args.repeat} runs x {args.duration:.0f} s, {args.connections} connections ({client})")
    print("    store   resources  workers     req/s   p50 ms   p99 ms   non-2xx  errors   CPU ms/req: server "
          "client   CPU-bound req/s")
    cores = os.cpu_count() or 1
    for workers in worker_counts:
        for name, built in stores.items():
            a = agg(name, workers)
            # one worker is one event loop (one core at most); the client shares the cores
            bound = min(workers * 1000 / a["server_ms"], cores * 1000 / (a["server_ms"] + a["client_ms"]))
            print(f"    {name:6} {built.resources:>10,}  {workers:>7} {a['rps']:>9,.0f} {a['p50']:>8.2f} "
                  f"{a['p99']:>8.2f} {a['non2xx']:>9} {a['errors']:>7}   {a['server_ms']:>15.3f} "
                  f"{a['client_ms']:>7.3f}   {bound:>13,.0f}")
    print("    (CPU-bound req/s: what the measured CPU per request would allow on this machine's cores if "
          "nothing else ran and the workers were evenly loaded"
          + ("; for PostgreSQL the database's own processes are not counted)" if args.postgres else ")"))
    if len(worker_counts) > 1:
        for name in stores:
            ratios = ", ".join(f"{w}w {agg(name, w)['rps'] / agg(name, worker_counts[-1])['rps']:.2f}x"
                               for w in worker_counts[:-1])
            print(f"    {name}: req/s relative to {worker_counts[-1]} worker(s): {ratios}")

    workers = 2 if 2 in worker_counts else worker_counts[0]
    big, little = agg(big_name, workers), agg(small_name, workers)
    ratio = big["p50"] / little["p50"]
    ok_rps = big["rps"] >= TARGET_RPS and little["rps"] >= TARGET_RPS
    ok_p99 = big["p99"] < TARGET_P99_MS and little["p99"] < TARGET_P99_MS
    clean = all(agg(n, w)["non2xx"] == 0 and agg(n, w)["errors"] == 0 for n in stores for w in worker_counts)
    print(f"\n  targets ({workers} workers, {os.cpu_count()} cores, client on the same cores; "
          f"load average now {os.getloadavg()[0]:.1f}):")
    print(f"    >= {TARGET_RPS:,} req/s           {big_name} {big['rps']:>7,.0f}   {small_name} "
          f"{little['rps']:>7,.0f}   {'met' if ok_rps else 'NOT met'}")
    print(f"    p99 < {TARGET_P99_MS:.0f} ms              {big_name} {big['p99']:>7.2f}   {small_name} "
          f"{little['p99']:>7.2f}   {'met' if ok_p99 else 'NOT met'}")
    print(f"    p50({big_name})/p50({small_name}) <= {TARGET_RATIO}   {big['p50']:.2f} / {little['p50']:.2f} ms "
          f"= {ratio:.2f}x   {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    print(f"    no errors, every response 2xx: {'met' if clean else 'NOT met'}")
    for w in worker_counts:
        m = memory[(big_name, w)]
        # the whole server (uvicorn's supervisor and its workers), each worker's mmap of the file included
        print(f"    resident < {TARGET_RSS_MB} MB, {big_name} server, {w} worker{'s' if w > 1 else ''}: "
              f"{m['rss']:,.0f} MB summed over its processes ({m['pss']:,.0f} MB proportional, {m['anon']:,.0f} MB "
              f"heap; largest process peaked at {m['peak']:,.0f} MB)   "
              f"{'met' if m['rss'] < TARGET_RSS_MB else 'NOT met'}")
    if big_name + "-pg" in stores:
        pg = agg(big_name + "-pg", workers)
        print(f"    PostgreSQL {big_name}: {pg['rps']:,.0f} req/s, p50 {pg['p50']:.2f} ms, p99 {pg['p99']:.2f} ms")

    if args.audit_compare and not args.no_audit:
        audit_on_off(stores[big_name].url, big_name, load, workers, args, logs)

    if args.explain:
        from search_explain import explain_shapes

        explain_shapes(large.url, requests[big_name])
    if args.profile:
        from search_profile import profile_shapes

        names = (big_name, small_name)
        profile_shapes({n: stores[n].url for n in names}, {n: requests[n] for n in names}, audit=not args.no_audit)
    for built in stores.values():
        clear_audit(built.url)
    shutil.rmtree(tmpdir, ignore_errors=True)
    print(f"\n  whole run: {time.perf_counter() - t_start:,.0f} s")


if __name__ == "__main__":
    main()
