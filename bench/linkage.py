"""Linkage quality and speed: one person across sources, with the ground truth known.

Generates a population (default 42,000 people) and, for each person, 1-5 source records (default
~105,000 in all) as FHIR Patient resources from GP systems, hospitals and CSV extracts, with the
errors those sources really have: typos, nicknames, first and middle names swapped, transposed
and mistyped dates of birth, missing, unverified and wrong NHS numbers, moved addresses, married
names (sometimes with the maiden name recorded, often not). The population has the confounders
that make linkage hard: twins, households sharing surname and postcode, common names.

Then it links the records in one batch (``identity.batch.link_records``, the engine behind
``gpbridge link --rebuild``), timing extraction + blocking + scoring + clustering, and prints the
pairwise confusion matrix, precision, recall and records/s against the targets (precision >=
0.995, recall >= 0.98, >= 50,000 records/s). Run: ``.venv/bin/python bench/linkage.py``.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gpbridge.demo import names  # noqa: E402
from gpbridge.identity.batch import forget_normalised_values, link_records  # noqa: E402
from gpbridge.identity.blocking import blocking_keys  # noqa: E402
from gpbridge.identity.compare import compare  # noqa: E402
from gpbridge.identity.decide import Thresholds  # noqa: E402
from gpbridge.identity.model import Model, estimate, estimate_u  # noqa: E402
from gpbridge.identity.nhs_number import NHS_NUMBER_SYSTEM, check_digit  # noqa: E402
from gpbridge.identity.nicknames import NICKNAMES  # noqa: E402
from gpbridge.identity.profile import VERIFICATION_EXTENSION, profile_of  # noqa: E402

VERIFICATION_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"

# Error rates per source record (what a record from each kind of source gets wrong).
RATES = {
    "given_typo": 0.03,
    "given_nickname": 0.04,
    "given_middle_first": 0.01,
    "family_typo": 0.03,
    "birth_swap_day_month": 0.01,
    "birth_digit_typo": 0.015,
    "birth_missing": 0.01,
    "sex_missing": 0.02,
    "sex_wrong": 0.003,
    "moved": 0.15,  # an older record: the person has since moved
    "postcode_typo": 0.01,
    "address_missing": 0.03,
    "nhs_wrong": 0.005,  # a valid number, but someone else's (a relative's, a mis-keyed one)
    "maiden_name_recorded": 0.4,  # of married women's post-marriage records: old name kept as use=old
    "before_marriage": 0.25,  # of married women's records: made before marriage (maiden name current)
}
# Source kinds: share of records, chance the NHS number is present, whether it is verified.
SOURCES = (("gp", 0.45, 0.99, True), ("hospital", 0.35, 0.85, False), ("csv", 0.20, 0.60, False))


@dataclass
class Person:
    index: int
    nhs: str
    sex: str
    birth: str
    given: list[str]
    family: str
    maiden: str | None
    postcode: str
    line: str
    old_postcode: str
    old_line: str


def nhs_numbers(rng: random.Random, n: int) -> list[str]:
    seen: set[str] = set()
    out = []
    while len(out) < n:
        body = f"999{rng.randrange(1_000_000):06d}"
        check = check_digit(body)
        if check is None:
            continue
        number = body + str(check)
        if number not in seen:
            seen.add(number)
            out.append(number)
    return out


def address(rng: random.Random) -> tuple[str, str]:
    _, _, area, districts = rng.choice(names.TOWNS_A + names.TOWNS_B)
    return names.postcode(rng, area, districts), f"{rng.randrange(1, 180)} {rng.choice(names.STREETS)}"


def population(rng: random.Random, count: int) -> list[Person]:
    numbers = nhs_numbers(rng, count + 1000)
    people: list[Person] = []
    while len(people) < count:
        i = len(people)
        year = rng.randint(1925, 2024)
        birth = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        sex = rng.choice(("male", "female"))
        postcode, line = address(rng)
        old_postcode, old_line = address(rng)
        family = names.surname(rng)
        maiden = names.surname(rng) if sex == "female" and year < 2000 and rng.random() < 0.5 else None
        person = Person(i, numbers[i], sex, birth, names.given_names(rng, sex, year), family, maiden,
                        postcode, line, old_postcode, old_line)
        people.append(person)
        roll = rng.random()
        if roll < 0.01 and len(people) < count:  # a twin: same birth, surname and home
            twin_sex = rng.choice(("male", "female"))
            people.append(Person(i + 1, numbers[i + 1], twin_sex, birth, names.given_names(rng, twin_sex, year),
                                 family, None, postcode, line, old_postcode, old_line))
        elif roll < 0.25 and len(people) < count:  # a household member: same surname and home
            y2 = min(2024, max(1925, year + rng.choice((-30, -28, -2, 0, 2, 25, 30))))
            s2 = rng.choice(("male", "female"))
            b2 = f"{y2}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            people.append(Person(i + 1, numbers[i + 1], s2, b2, names.given_names(rng, s2, y2), family, None,
                                 postcode, line, old_postcode, old_line))
    return people


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.35:  # substitution
        return word[:i] + rng.choice("aeioulnrst") + word[i + 1:]
    if kind < 0.6:  # deletion
        return word[:i] + word[i + 1:]
    if kind < 0.8:  # insertion
        return word[:i] + rng.choice("aeioulnrst") + word[i:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]  # adjacent swap


def nickname(rng: random.Random, given: str) -> str:
    shorts = NICKNAMES.get(given.upper())
    return rng.choice(shorts).title() if shorts else given


def source_record(rng: random.Random, p: Person, people: list[Person], n: int) -> dict[str, Any]:
    r = RATES
    roll = rng.random()
    kind, _, nhs_present, verified = next(s for s, acc in zip(SOURCES, _cum(), strict=True) if roll < acc)
    given = list(p.given)
    if rng.random() < r["given_nickname"]:
        given[0] = nickname(rng, given[0])
    if rng.random() < r["given_typo"]:
        given[0] = typo(rng, given[0])
    if len(given) > 1 and rng.random() < r["given_middle_first"]:
        given = given[1:2]  # known by their middle name
    family = p.family
    old_name = None
    if p.maiden is not None:
        if rng.random() < r["before_marriage"]:
            family = p.maiden
        elif rng.random() < r["maiden_name_recorded"]:
            old_name = p.maiden
    if rng.random() < r["family_typo"]:
        family = typo(rng, family)
    names_: list[dict[str, Any]] = [{"use": "official", "family": family, "given": given}]
    if old_name:
        names_.append({"use": "old", "family": old_name, "given": given})
    resource: dict[str, Any] = {"resourceType": "Patient", "id": f"r{n}", "name": names_}
    if rng.random() < nhs_present:
        number = p.nhs
        is_verified = verified
        if rng.random() < r["nhs_wrong"]:
            number = rng.choice(people).nhs
            is_verified = False  # a wrong number cannot have been traced to this person
        ident: dict[str, Any] = {"system": NHS_NUMBER_SYSTEM, "value": number}
        if is_verified:
            ident["extension"] = [{"url": VERIFICATION_EXTENSION, "valueCodeableConcept": {
                "coding": [{"system": VERIFICATION_SYSTEM, "code": "01"}]}}]
        resource["identifier"] = [ident]
    if rng.random() >= r["sex_missing"]:
        sex = p.sex if rng.random() >= r["sex_wrong"] else ("female" if p.sex == "male" else "male")
        resource["gender"] = sex
    birth = p.birth
    roll = rng.random()
    if roll < r["birth_swap_day_month"] and int(birth[8:10]) <= 12:
        birth = f"{birth[:4]}-{birth[8:10]}-{birth[5:7]}"
    elif roll < r["birth_swap_day_month"] + r["birth_digit_typo"]:
        birth = _birth_typo(rng, birth)
    if rng.random() >= r["birth_missing"]:
        resource["birthDate"] = birth
    if rng.random() >= r["address_missing"]:
        moved = rng.random() < r["moved"]
        postcode, line = (p.old_postcode, p.old_line) if moved else (p.postcode, p.line)
        if rng.random() < r["postcode_typo"]:
            postcode = postcode[:-1] + rng.choice(names.INWARD_LETTERS)
        resource["address"] = [{"use": "home", "line": [line], "postalCode": postcode}]
    return resource


def _cum() -> list[float]:
    acc, out = 0.0, []
    for _, share, _, _ in SOURCES:
        acc += share
        out.append(acc)
    out[-1] = 1.01
    return out


def _birth_typo(rng: random.Random, birth: str) -> str:
    for _ in range(10):
        i = rng.choice((2, 3, 6, 9))  # decade, year, month units, day units
        candidate = birth[:i] + str(rng.randrange(10)) + birth[i + 1:]
        month, day = int(candidate[5:7]), int(candidate[8:10])
        if candidate != birth and 1 <= month <= 12 and 1 <= day <= 28:
            return candidate
    return birth


def records_for(rng: random.Random, people: list[Person], target: int) -> tuple[list[dict[str, Any]], list[int]]:
    records: list[dict[str, Any]] = []
    truth: list[int] = []
    mean = target / len(people)
    for p in people:
        k = max(1, min(6, round(rng.gauss(mean, 1.0))))
        for _ in range(k):
            records.append(source_record(rng, p, people, len(records)))
            truth.append(p.index)
    order = list(range(len(records)))
    rng.shuffle(order)  # sources arrive interleaved, not person by person
    return [records[i] for i in order], [truth[i] for i in order]


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def _engine() -> str:
    """Whether the linkage engine runs compiled (setup.py builds it with mypyc) or as plain Python."""
    import gpbridge.identity.batch as batch

    return "engine compiled by mypyc" if (batch.__file__ or "").endswith(".so") else "engine in plain Python"


def confusion(truth: list[int], predicted: list[int]) -> dict[str, int]:
    joint = Counter(zip(predicted, truth, strict=True))
    tp = sum(pairs(c) for c in joint.values())
    predicted_pairs = sum(pairs(c) for c in Counter(predicted).values())
    true_pairs = sum(pairs(c) for c in Counter(truth).values())
    fp, fn = predicted_pairs - tp, true_pairs - tp
    return {"tp": tp, "fp": fp, "fn": fn, "tn": pairs(len(truth)) - tp - fp - fn}


def run(people_count: int, record_count: int, seed: int, repeats: int, model: Model, thresholds: Thresholds,
        learn: bool = True, splink: bool = False) -> None:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    people = population(rng, people_count)
    records, truth = records_for(rng, people, record_count)
    print(f"generated {len(records):,} source records for {len(people):,} people "
          f"in {time.perf_counter() - t0:.1f}s (seed {seed})")
    # Verified records first: they anchor people deterministically (what a rebuild does too).
    order = sorted(range(len(records)), key=lambda i: not _has_verified(records[i]))
    times, cpu = [], []
    result = None
    for _ in range(repeats):
        forget_normalised_values()  # every run starts as a rebuild in a new process does
        t, c = time.perf_counter(), time.process_time()
        result = link_records(((i, profile_of(records[i])) for i in order), model, thresholds)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    assert result is not None
    predicted = [result.person_of[i] for i in range(len(records))]
    c = confusion(truth, predicted)
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    elapsed = statistics.median(times)
    rate = len(records) / elapsed
    actions = Counter(item.action for item in result.reviews)
    print()
    print("pairwise confusion matrix (record pairs)")
    print(f"{'':>22}{'same person':>16}{'different people':>20}")
    print(f"{'linked':>22}{c['tp']:>16,}{c['fp']:>20,}")
    print(f"{'not linked':>22}{c['fn']:>16,}{c['tn']:>20,}")
    print()
    print(f"people found {result.people:,} (true {len(people):,}); comparisons {result.compared:,} "
          f"({result.compared / len(records):.2f} per record); review queue {actions.get('review', 0):,}, "
          f"conflicts flagged {actions.get('conflict', 0):,}")
    print(f"thresholds upper {thresholds.upper} lower {thresholds.lower}; runs {[round(t, 2) for t in times]}s")
    print()
    print(f"{'figure':<14}{'measured':>12}{'target':>10}")
    print(f"{'precision':<14}{precision:>12.4f}{'>= 0.995':>10}  {'ok' if precision >= 0.995 else 'MISSED'}")
    print(f"{'recall':<14}{recall:>12.4f}{'>= 0.98':>10}  {'ok' if recall >= 0.98 else 'MISSED'}")
    print(f"{'records/s':<14}{rate:>12,.0f}{'>= 50,000':>10}  {'ok' if rate >= 50_000 else 'MISSED'}"
          f"   (wall clock, median of {repeats}: {elapsed:.2f}s, one process, caches emptied before each run, "
          f"{_engine()}; best run "
          f"{len(records) / min(times):,.0f}/s)")
    cpu_rate = len(records) / statistics.median(cpu)
    print(f"{'records/cpu-s':<14}{cpu_rate:>12,.0f}{'':>10}  (CPU time of the process: what the work costs "
          f"when other jobs share the cores; load average {_load()})")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"{'F1':<14}{f1:>12.4f}")
    if math.isnan(rate):
        raise SystemExit(1)
    if learn:
        compare_learnt(records, truth, order, thresholds)
    if splink:
        compare_splink(records, truth, thresholds)


def compare_learnt(records: list[dict[str, Any]], truth: list[int], order: list[int], thresholds: Thresholds) -> None:
    """The same linkage with m and u learnt from the data (u: random pairs; m: EM over candidate pairs)."""
    t = time.perf_counter()
    profiles = [profile_of(r) for r in records]
    u = estimate_u(profiles, random.Random(1), samples=300_000)
    blocks: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        for key in blocking_keys(p):
            blocks.setdefault(key, []).append(i)
    pairs = {(a, b) for members in blocks.values() if len(members) <= 60
             for n, a in enumerate(members) for b in members[n + 1:]}
    learnt = estimate((compare(profiles[a], profiles[b]) for a, b in pairs), start=Model(u=u), fixed_u=True)
    trained = time.perf_counter() - t
    result = link_records(((i, profile_of(records[i])) for i in order), learnt, thresholds)
    c = confusion(truth, [result.person_of[i] for i in range(len(records))])
    print()
    print(f"EM-learnt weights ({len(pairs):,} candidate pairs, trained in {trained:.1f}s): precision "
          f"{c['tp'] / (c['tp'] + c['fp']):.4f}, recall {c['tp'] / (c['tp'] + c['fn']):.4f} "
          f"(configured weights above)")


def compare_splink(records: list[dict[str, Any]], truth: list[int], thresholds: Thresholds) -> None:
    """Splink (MoJ, on DuckDB) on the same records with the same blocking keys, when installed.

    Not a project dependency: install it in a separate environment with gpbridge's src on the path
    (``pip install splink jellyfish rapidfuzz orjson``; ``PYTHONPATH=src python bench/linkage.py --splink``).
    """
    try:
        import splink.comparison_library as cl
        from splink import Linker, SettingsCreator, block_on
        from splink.backends.duckdb import DuckDBAPI
    except ImportError:
        print("\nsplink is not installed: comparison skipped (see compare_splink's docstring)")
        return
    import csv
    import tempfile

    from gpbridge.identity.blocking import given_sound, sound

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/records.csv"
        with open(path, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["unique_id", "nhs_number", "given", "family", "dob", "sex", "postcode",
                          "given_sx", "family_sx", "year"])
            for i, record in enumerate(records):
                p = profile_of(record)
                g, fam, dob = (p.given or ("",))[0], (p.family or ("",))[0], (p.birth or ("",))[0]
                # Splink's postcode comparison wants the usual spaced form (sector = "LS6 3")
                spaced = next((a.get("postalCode", "") for a in record.get("address") or ()), "").upper()
                out.writerow([i, (p.nhs or ("",))[0], g, fam, dob, (p.sex or ("",))[0], spaced,
                              given_sound(g) if g else "", sound(fam) if fam else "", dob[:4]])
        db_api = DuckDBAPI()
        frame = db_api.register_from_csv(path)
        settings = SettingsCreator(
            link_type="dedupe_only",
            comparisons=[cl.ExactMatch("nhs_number"), cl.NameComparison("given"), cl.NameComparison("family"),
                         cl.DateOfBirthComparison("dob", input_is_string=False), cl.ExactMatch("sex"),
                         cl.PostcodeComparison("postcode")],
            blocking_rules_to_generate_predictions=[
                block_on("nhs_number"), block_on("dob", "given_sx"), block_on("dob", "family_sx"),
                block_on("family_sx", "given_sx", "year"), block_on("postcode", "given_sx")],
        )
        t = time.perf_counter()
        linker = Linker(frame, settings, log_level=None)
        linker.training.estimate_probability_two_random_records_match([block_on("nhs_number")], recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("family_sx", "given_sx"))
        trained = time.perf_counter() - t
        t = time.perf_counter()
        predictions = linker.inference.predict(threshold_match_probability=thresholds.lower)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, thresholds.upper)
        cluster_of = {int(r["unique_id"]): r["cluster_id"] for r in clusters.as_record_list()}
        linked = time.perf_counter() - t
    c = confusion(truth, [cluster_of[i] for i in range(len(records))])
    print(f"\nSplink, same blocking, clustered at {thresholds.upper}: precision {c['tp'] / (c['tp'] + c['fp']):.4f}, "
          f"recall {c['tp'] / (c['tp'] + c['fn']):.4f}, predict + cluster {linked:.1f}s "
          f"({len(records) / linked:,.0f} records/s), training {trained:.1f}s")


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def _has_verified(record: dict[str, Any]) -> bool:
    return any("extension" in i for i in record.get("identifier", ()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=42_000)
    parser.add_argument("--records", type=int, default=105_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--upper", type=float, default=Thresholds().upper)
    parser.add_argument("--lower", type=float, default=Thresholds().lower)
    parser.add_argument("--no-em", action="store_true", help="skip the EM-learnt comparison run")
    parser.add_argument("--splink", action="store_true", help="also run Splink on the same records, if installed")
    args = parser.parse_args()
    run(args.people, args.records, args.seed, args.repeats, Model(), Thresholds(args.upper, args.lower),
        learn=not args.no_em, splink=args.splink)


if __name__ == "__main__":
    main()
