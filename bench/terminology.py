"""Terminology benchmark: a synthetic SNOMED CT RF2 release of realistic shape, loaded and queried.

Prints, for a release of ``--concepts`` concepts (350k by default, about an International
Edition):

- the in-memory closure build alone (time, peak RSS of a process doing only that), against the
  closure size;
- the whole ``load_snomed_rf2`` (time per stage, peak RSS of the loading process, database size);
- ``$lookup`` in-process: p50/p99 uncached (first sight of a code) and cached.

The release is a DAG, not a tree: 19 top-level hierarchies, a random recursive tree within each
(depth grows like ln n, as SNOMED CT's does) with about a third of concepts given a second or
third parent near the first (multiple inheritance is local in SNOMED CT), 5% inactive concepts,
FSN + preferred term + 0-2 synonyms each, a GB English language refset and one attribute
relationship per concept beside the is-a rows. Identifiers carry valid Verhoeff check digits.

    .venv/bin/python bench/terminology.py                 # 350k concepts, SQLite in a temp dir
    .venv/bin/python bench/terminology.py --concepts 50000
    .venv/bin/python bench/terminology.py --database postgresql://postgres@127.0.0.1/gpbridge_bench
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = "138875005"
HIERARCHIES = [  # (name, semantic tag, share of concepts)
    ("Clinical finding", "finding", 0.30), ("Procedure", "procedure", 0.16), ("Body structure", "body structure", 0.10),
    ("Organism", "organism", 0.09), ("Pharmaceutical / biologic product", "product", 0.07),
    ("Substance", "substance", 0.07), ("Observable entity", "observable entity", 0.03),
    ("Qualifier value", "qualifier value", 0.03), ("Situation with explicit context", "situation", 0.015),
    ("Event", "event", 0.01), ("Physical object", "physical object", 0.02), ("Specimen", "specimen", 0.01),
    ("Environment or geographical location", "environment", 0.005), ("Social context", "social concept", 0.01),
    ("Staging and scales", "staging scale", 0.005), ("Physical force", "physical force", 0.001),
    ("Record artifact", "record artifact", 0.004), ("Special concept", "special concept", 0.001),
    ("SNOMED CT Model Component", "metadata", 0.004),
]
WORDS = ("acute chronic primary secondary left right upper lower anterior posterior benign malignant "
         "congenital acquired viral bacterial allergic traumatic diabetic renal hepatic cardiac pulmonary "
         "cerebral spinal gastric intestinal dermal ocular otic nasal oral dental vascular lymphatic muscular "
         "skeletal joint tendon nerve gland cyst tumour ulcer fracture infection inflammation lesion "
         "disorder syndrome deficiency stenosis hypertrophy atrophy necrosis haemorrhage obstruction "
         "dysfunction insufficiency").split()
_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def sctid(item: int, partition: str) -> str:
    """An SCTID: item identifier, partition, Verhoeff check digit."""
    base = f"{item}{partition}"
    c = 0
    for i, ch in enumerate(reversed(base)):
        c = _D[c][_P[(i + 1) % 8][ord(ch) - 48]]
    return base + str(_INV[c])


def generate(directory: Path, n: int, seed: int = 1) -> dict[str, int]:
    """Write an RF2 Snapshot of ``n`` concepts under ``directory``; return row counts."""
    rng = random.Random(seed)
    term_dir = directory / "Snapshot" / "Terminology"
    lang_dir = directory / "Snapshot" / "Refset" / "Language"
    term_dir.mkdir(parents=True)
    lang_dir.mkdir(parents=True)
    date, core = "20240101", "900000000000207008"
    ids = [ROOT] + [sctid(200000 + i, "00") for i in range(1, n)]  # items clear of ROOT's (138875)
    parents: list[list[int]] = [[] for _ in range(n)]
    hierarchy_of = [0] * n
    tops = list(range(1, len(HIERARCHIES) + 1))
    members: list[list[int]] = [[t] for t in tops]
    for h, top in enumerate(tops):
        parents[top] = [0]
        hierarchy_of[top] = h
    weights = [share for _, _, share in HIERARCHIES]
    children: list[list[int]] = [[] for _ in range(n)]
    inactive = set()
    for i in range(len(tops) + 1, n):
        if rng.random() < 0.05:
            inactive.add(i)
            continue
        h = rng.choices(range(len(HIERARCHIES)), weights)[0]
        pool = members[h]
        first = pool[rng.randrange(len(pool))]  # random recursive tree: depth ~ ln(size)
        ps = [first]
        roll = rng.random()
        for _ in range(2 if roll < 0.05 else 1 if roll < 0.32 else 0):
            # a further parent: half the time a sibling of the first (multiple inheritance is mostly local)
            siblings = children[parents[first][0]] if parents[first] else []
            if siblings and rng.random() < 0.5:
                other = siblings[rng.randrange(len(siblings))]
            else:  # or anywhere in the same hierarchy: ancestor sets then merge two lineages
                other = pool[rng.randrange(len(pool))]
            if other not in ps:
                ps.append(other)
        parents[i] = ps
        for p in ps:
            children[p].append(i)
        hierarchy_of[i] = h
        pool.append(i)
    del children
    counts = {"concepts": n, "descriptions": 0, "language": 0, "relationships": 0}
    with open(term_dir / f"sct2_Concept_Snapshot_INT_{date}.txt", "w", newline="") as fh:
        fh.write("id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId\r\n")
        for i, cid in enumerate(ids):
            fh.write(f"{cid}\t{date}\t{0 if i in inactive else 1}\t{core}\t900000000000074008\r\n")
    did_item = rel_item = 100000
    with open(term_dir / f"sct2_Description_Snapshot-en_INT_{date}.txt", "w", newline="") as desc, \
            open(lang_dir / f"der2_cRefset_LanguageSnapshot-en_INT_{date}.txt", "w", newline="") as lang:
        desc.write("id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId\r\n")
        lang.write("id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\tacceptabilityId\r\n")
        for i, cid in enumerate(ids):
            name, tag, _ = HIERARCHIES[hierarchy_of[i]]
            if i == 0:
                base = "SNOMED CT Concept"
            elif i <= len(tops):
                base = name
            else:
                base = " ".join(rng.sample(WORDS, rng.randint(2, 5))).capitalize() + f" {i}"
            terms = [(f"{base} ({tag})", "900000000000003001", True), (base, "900000000000013009", True)]
            terms += [(" ".join(rng.sample(WORDS, 3)) + f" {i}", "900000000000013009", False)
                      for _ in range(rng.choice((0, 1, 1, 2)))]
            for term, type_id, preferred in terms:
                did_item += 1
                did = sctid(did_item, "01")
                desc.write(f"{did}\t{date}\t1\t{core}\t{cid}\ten\t{type_id}\t{term}\t900000000000448009\r\n")
                accept = "900000000000548007" if preferred else "900000000000549004"
                lang.write(f"{did_item:08x}-0000-4000-8000-000000000000\t{date}\t1\t{core}\t900000000000508004\t"
                           f"{did}\t{accept}\r\n")
                counts["descriptions"] += 1
                counts["language"] += 1
    with open(term_dir / f"sct2_Relationship_Snapshot_INT_{date}.txt", "w", newline="") as fh:
        fh.write("id\teffectiveTime\tactive\tmoduleId\tsourceId\tdestinationId\trelationshipGroup\ttypeId\t"
                 "characteristicTypeId\tmodifierId\r\n")
        for i, ps in enumerate(parents):
            for p in ps:
                rel_item += 1
                fh.write(f"{sctid(rel_item, '02')}\t{date}\t1\t{core}\t{ids[i]}\t{ids[p]}\t0\t116680003\t"
                         "900000000000011006\t900000000000451002\r\n")
                counts["relationships"] += 1
            if ps and i > len(tops):  # one attribute per concept (a finding site, say): not is-a
                rel_item += 1
                fh.write(f"{sctid(rel_item, '02')}\t{date}\t1\t{core}\t{ids[i]}\t{ids[rng.randrange(1, n)]}\t1\t"
                         "363698007\t900000000000011006\t900000000000451002\r\n")
                counts["relationships"] += 1
    return counts


# -- measured in child processes, so each peak RSS is that step's own -------------------------------
def _closure_only(release: str, out: Any) -> None:
    from gpbridge.terminology.closure import closure_rows
    from gpbridge.terminology.files import find_files, read_tsv
    from gpbridge.terminology.rf2 import CONCEPT_COLUMNS, RELATIONSHIP_COLUMNS

    root = Path(release)
    codes = [f[c["id"]] for file in find_files(root, "sct2_Concept_*Snapshot*.txt")
             for c, f in read_tsv(file, "c", None, CONCEPT_COLUMNS)]
    index = {c: i for i, c in enumerate(codes)}
    parents: list[list[int]] = [[] for _ in codes]
    for file in find_files(root, "sct2_Relationship_*Snapshot*.txt"):
        for c, f in read_tsv(file, "r", None, RELATIONSHIP_COLUMNS):
            if f[c["typeId"]] == "116680003" and f[c["active"]] == "1":
                parents[index[f[c["sourceId"]]]].append(index[f[c["destinationId"]]])
    del index
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    total, rows = closure_rows(codes, parents)
    built = time.perf_counter() - start
    n = sum(1 for _ in rows)
    emitted = time.perf_counter() - start
    assert n == total
    out.put({"rows": total, "build_s": built, "with_sorted_rows_s": emitted, "inputs_rss_kb": before,
             "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "concepts": len(codes)})


def _load(release: str, database: str, out: Any) -> None:
    from gpbridge.store import open_store
    from gpbridge.terminology.rf2 import load_snomed_rf2

    store = open_store(database)
    _ensure_schema(store)
    stages: dict[str, float] = {}
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int | None) -> None:
        stages.setdefault(stage + " (first report)", time.perf_counter() - start)
        stages[stage] = time.perf_counter() - start

    report = load_snomed_rf2(store, release, progress=progress)
    store.close()
    out.put({"seconds": report.seconds, "counts": report.counts, "stages": stages,
             "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})


def _ensure_schema(store: Any) -> None:
    """Until the lead registers migration v3, apply it here (as the tests do)."""
    from gpbridge.store.migrations import v3_terminology

    if store.schema_version() < 3:
        with store._write_cursor() as cur:
            for statement in v3_terminology.MIGRATION.ddl(store.dialect_obj):
                cur.execute(statement)


def _child(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    while True:  # a child that dies never answers: notice instead of waiting forever
        try:
            result = queue.get(timeout=1.0)
            break
        except Exception:
            if not proc.is_alive():
                raise SystemExit(f"{target.__name__} failed (exit code {proc.exitcode})") from None
    proc.join()
    return result


def lookup_latency(database: str, samples: int, seed: int = 2) -> dict[str, float]:
    from gpbridge.store import open_store
    from gpbridge.terminology.service import Terminology

    store = open_store(database)
    with store._read_cursor() as cur:
        cur.execute("SELECT code FROM tx_concept")
        codes = [r[0] for r in cur.fetchall()]
    rng = random.Random(seed)
    picks = rng.sample(codes, min(samples, len(codes)))
    tx = Terminology(store, recheck_seconds=3600)
    sct = "http://snomed.info/sct"
    tx.lookup(sct, picks[0])  # warm the connection and system cache
    cold, warm = [], []
    for code in picks:
        t = time.perf_counter()
        tx.lookup(sct, code)
        cold.append(time.perf_counter() - t)
    for code in picks:
        t = time.perf_counter()
        tx.lookup(sct, code)
        warm.append(time.perf_counter() - t)
    store.close()

    def pct(xs: list[float], q: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000

    return {"cold_p50": statistics.median(cold) * 1000, "cold_p99": pct(cold, 0.99),
            "warm_p50": statistics.median(warm) * 1000, "warm_p99": pct(warm, 0.99), "n": len(picks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concepts", type=int, default=350_000)
    parser.add_argument("--database", default="", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gpbridge-tx-bench-"))
    release = tmp / "release"
    database = args.database or f"sqlite:///{tmp / 'bench.db'}"
    print(f"terminology bench: {args.concepts:,} concepts -> {database}")

    t = time.perf_counter()
    counts = generate(release, args.concepts)
    print(f"  generated RF2 in {time.perf_counter() - t:.1f}s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))

    closure = _child(_closure_only, str(release))
    print(f"  closure in memory: {closure['rows']:,} rows ({closure['rows'] / closure['concepts']:.1f} per concept) "
          f"built in {closure['build_s']:.1f}s, {closure['with_sorted_rows_s']:.1f}s with rows sorted for writing; "
          f"peak RSS {closure['peak_rss_kb'] / 1024:.0f} MB (inputs alone {closure['inputs_rss_kb'] / 1024:.0f} MB)")

    load = _child(_load, str(release), database)
    stages = ", ".join(f"{k} at {v:.0f}s" for k, v in load["stages"].items() if "first" not in k)
    print(f"  load_snomed_rf2: {load['seconds']:.1f}s total, peak RSS {load['peak_rss_kb'] / 1024:.0f} MB "
          f"({', '.join(f'{v:,} {k}' for k, v in load['counts'].items())})")
    print(f"    stage ends: {stages}")
    if database.startswith("sqlite:///"):
        size = os.path.getsize(database[len("sqlite:///"):])
        print(f"    database file {size / 2**20:.0f} MB")

    lat = lookup_latency(database, args.lookups)
    print(f"  $lookup in-process over {lat['n']:,} random codes: uncached p50 {lat['cold_p50']:.3f} ms, "
          f"p99 {lat['cold_p99']:.3f} ms; cached p50 {lat['warm_p50']:.4f} ms, p99 {lat['warm_p99']:.4f} ms "
          f"(target p50 < 1 ms)")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"  kept {tmp}")


if __name__ == "__main__":
    sys.exit(main())
