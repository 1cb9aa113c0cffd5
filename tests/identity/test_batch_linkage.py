"""Batch linkage on a small generated population (bench/linkage.py's generator) and EM estimation."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gpbridge.identity.batch import PersonIndex, link_records
from gpbridge.identity.blocking import blocking_keys
from gpbridge.identity.compare import compare
from gpbridge.identity.decide import Thresholds
from gpbridge.identity.model import Model, estimate, estimate_u, probability
from gpbridge.identity.profile import profile_of

BENCH = Path(__file__).resolve().parents[2] / "bench" / "linkage.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_linkage", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_linkage"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def population(bench: ModuleType) -> tuple[list[dict], list[int]]:
    rng = random.Random(11)
    people = bench.population(rng, 3000)
    return bench.records_for(rng, people, 7500)


def test_batch_linkage_quality(bench: ModuleType, population: tuple[list[dict], list[int]]) -> None:
    records, truth = population
    result = link_records((i, profile_of(r)) for i, r in enumerate(records))
    predicted = [result.person_of[i] for i in range(len(records))]
    c = bench.confusion(truth, predicted)
    precision = c["tp"] / (c["tp"] + c["fp"])
    recall = c["tp"] / (c["tp"] + c["fn"])
    assert precision >= 0.995 and recall >= 0.96, (precision, recall)
    assert result.compared < 3 * len(records)  # blocking: comparisons grow with records, not their square


def test_forbidden_pairs_are_not_linked() -> None:
    record = {"resourceType": "Patient", "name": [{"family": "Smith", "given": ["Ann"]}], "birthDate": "1970-01-01",
              "gender": "female", "address": [{"postalCode": "LS6 3AB", "line": ["1 Mill Lane"]}]}
    index = PersonIndex()
    index.forbidden["b"] = {"a"}
    result = link_records([("a", profile_of(record)), ("b", profile_of(record))], index=index)
    assert result.person_of["a"] != result.person_of["b"]
    assert link_records([("a", profile_of(record)), ("b", profile_of(record))]).people == 1


def test_em_learns_sensible_weights(population: tuple[list[dict], list[int]]) -> None:
    records, truth = population
    profiles = [profile_of(r) for r in records]
    blocks: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        for key in blocking_keys(p):
            blocks.setdefault(key, []).append(i)
    pairs = {(a, b) for members in blocks.values() if len(members) < 50 for a in members for b in members if a < b}
    u = estimate_u(profiles, random.Random(3), samples=50_000)
    assert u["nhs"][1] < 0.001 and u["birth"][3] < 0.01  # random people rarely share these
    learnt = estimate((compare(profiles[a], profiles[b]) for a, b in pairs), start=Model(u=u), fixed_u=True)
    assert learnt.m["birth"][3] > 0.8  # same person: date of birth usually exact
    assert learnt.m["nhs"][1] > 0.9  # same person: the same NHS number when both have one
    tp = fp = fn = 0
    for a, b in pairs:
        linked = probability(learnt.weight(compare(profiles[a], profiles[b]))) >= 0.95
        same = truth[a] == truth[b]
        tp, fp, fn = tp + (linked and same), fp + (linked and not same), fn + (same and not linked)
    # learnt m and u with the configured prior separate the candidate pairs about as well as
    # the configured weights do
    assert tp / (tp + fp) > 0.97 and tp / (tp + fn) > 0.98, (tp, fp, fn)


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError):
        Thresholds(upper=0.5, lower=0.9)
    assert Model.from_settings({"identity_prior": 1e-4}).prior == 1e-4


def test_weight_sums_present_fields_and_ignores_missing() -> None:
    model = Model()
    tables = model._tables
    for levels in [(1, 4, 4, 3, 1, 4), (-1, 0, 2, -1, 0, -1), (0, -1, -1, 1, -1, 2), (-1,) * 6]:
        expected = model._prior_weight
        for table, level in zip(tables, levels, strict=True):
            if level != -1:
                expected += table[level]
        assert model.weight(levels) == expected
    assert model.weight_without_nhs((1, 4, 4, 3, 1, 4)) == model.weight((-1, 4, 4, 3, 1, 4))


def test_address_normalisation_is_the_same_from_the_cache_and_odd_lines_are_safe() -> None:
    record = {"address": [{"line": ["1 High St", "Flat 2"], "postalCode": "ls6 3ab"},
                          {"line": [7], "postalCode": "LS6 3AB"},
                          {"postalCode": "ls1 1aa"},
                          {"line": ["x"], "postalCode": 42}]}
    first, again = profile_of(record), profile_of(record)  # the second reads the cache
    assert first.postcode == again.postcode == ("LS63AB", "LS11AA")
    assert first.address == again.address == ("LS63AB|FLAT2", "LS63AB|")
