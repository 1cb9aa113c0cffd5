"""Fellegi–Sunter scoring: per-field m and u probabilities turned into a match weight.

For each field and agreement level, ``m`` is P(level | same person) and ``u`` is P(level |
different people); the level adds ``log2(m/u)`` to the match weight. With the prior λ (the chance
that two records compared are the same person), the match probability is
``1 / (1 + 2^-(log2(λ/(1-λ)) + Σ weights))``. Missing values add nothing.

The defaults below are configured from what GP data looks like (an NHS number shared by chance is
about one in a million; a date of birth about one in 20,000; Smith is common). ``estimate`` learns
m, u and λ from the data itself with expectation–maximisation over the comparison patterns of the
candidate pairs (as Splink does), and ``Model.from_settings`` reads overrides from settings.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpbridge.identity.compare import FIELDS, MISSING, compare
from gpbridge.identity.profile import Profile

# m and u per level, index = level (see compare.LEVELS).
DEFAULT_M: dict[str, tuple[float, ...]] = {
    "nhs": (0.03, 0.97),
    "given": (0.03, 0.02, 0.05, 0.05, 0.85),
    "family": (0.06, 0.01, 0.04, 0.05, 0.84),
    "birth": (0.01, 0.01, 0.05, 0.93),
    "sex": (0.02, 0.98),
    "location": (0.18, 0.04, 0.04, 0.24, 0.50),
}
DEFAULT_U: dict[str, tuple[float, ...]] = {
    "nhs": (0.999999, 0.000001),
    "given": (0.955, 0.02, 0.005, 0.002, 0.018),
    "family": (0.965, 0.01, 0.004, 0.001, 0.02),
    "birth": (0.9894, 0.01, 0.0005, 0.0001),
    "sex": (0.5, 0.5),
    "location": (0.97, 0.025, 0.004, 0.0008, 0.0002),
}
DEFAULT_PRIOR = 1e-5  # λ: about one in 100,000 compared pairs is the same person


@dataclass(frozen=True)
class Model:
    m: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_M))
    u: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_U))
    prior: float = DEFAULT_PRIOR
    _tables: tuple[tuple[float, ...], ...] = field(init=False, repr=False)
    _prior_weight: float = field(init=False, repr=False)
    #: the tables with 0.0 appended, so level MISSING (-1) indexes a zero weight without a test
    _padded: tuple[tuple[float, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Precomputed per-field weight tables: scoring is one tuple lookup per field.
        tables = tuple(
            tuple(math.log2(max(mi, 1e-12) / max(ui, 1e-12)) for mi, ui in zip(self.m[f], self.u[f], strict=True))
            for f in FIELDS
        )
        object.__setattr__(self, "_tables", tables)
        object.__setattr__(self, "_padded", tuple((*t, 0.0) for t in tables))
        object.__setattr__(self, "_prior_weight", math.log2(self.prior / (1 - self.prior)))

    @classmethod
    def from_settings(cls, extra: Mapping[str, Any]) -> Model:
        """``identity_m`` / ``identity_u`` ({field: [per level]}) and ``identity_prior`` override defaults."""
        m = {**DEFAULT_M, **{k: tuple(v) for k, v in (extra.get("identity_m") or {}).items()}}
        u = {**DEFAULT_U, **{k: tuple(v) for k, v in (extra.get("identity_u") or {}).items()}}
        return cls(m, u, float(extra.get("identity_prior", DEFAULT_PRIOR)))

    def weights(self, levels: tuple[int, ...]) -> tuple[float, ...]:
        tables = self._tables
        return tuple(0.0 if lv == MISSING else t[lv] for t, lv in zip(tables, levels, strict=True))

    def weight(self, levels: tuple[int, ...]) -> float:
        """The match weight (log2 odds) including the prior."""
        # Unrolled over the six fields (``FIELDS``), summed in the same order as a loop would:
        # scoring runs once per candidate pair.
        nhs, given, family, birth, sex, location = self._padded
        ln, lg, lf, lb, ls, ll = levels
        return self._prior_weight + nhs[ln] + given[lg] + family[lf] + birth[lb] + sex[ls] + location[ll]

    def weight_without_nhs(self, levels: tuple[int, ...]) -> float:
        return self.weight((MISSING, *levels[1:]))

    def to_json(self) -> dict[str, Any]:
        return {"m": {k: list(v) for k, v in self.m.items()}, "u": {k: list(v) for k, v in self.u.items()},
                "prior": self.prior}


def probability(weight: float) -> float:
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    return 1.0 / (1.0 + 2.0 ** (-weight))


def weight_for(probability_: float) -> float:
    p = min(max(probability_, 1e-15), 1 - 1e-15)
    return math.log2(p / (1 - p))


def estimate(
    patterns: Iterable[tuple[int, ...]], start: Model | None = None, iterations: int = 25, fixed_u: bool = False,
    learn_prior: bool = False,
) -> Model:
    """Expectation–maximisation of m, u and λ over comparison patterns of candidate pairs.

    Works on pattern counts (a few thousand distinct patterns for millions of pairs), so it is
    cheap. ``fixed_u`` keeps u as given (e.g. estimated from random pairs), learning only m and λ,
    which is more stable when blocking leaves few non-matching pairs.
    """
    model = start or Model()
    counts = Counter(patterns)
    if not counts:
        return model
    m = {f: list(model.m[f]) for f in FIELDS}
    u = {f: list(model.u[f]) for f in FIELDS}
    prior = max(model.prior, 1e-3)  # candidate pairs are far richer in matches than random pairs
    total = sum(counts.values())
    for _ in range(iterations):
        m_acc = {f: [1e-6] * len(m[f]) for f in FIELDS}
        u_acc = {f: [1e-6] * len(u[f]) for f in FIELDS}
        matches = 0.0
        for pattern, n in counts.items():
            pm, pu = prior, 1 - prior
            for f, lv in zip(FIELDS, pattern, strict=True):
                if lv != MISSING:
                    pm *= m[f][lv]
                    pu *= u[f][lv]
            post = pm / (pm + pu) if pm + pu > 0 else 0.0
            matches += post * n
            for f, lv in zip(FIELDS, pattern, strict=True):
                if lv != MISSING:
                    m_acc[f][lv] += post * n
                    u_acc[f][lv] += (1 - post) * n
        prior = min(max(matches / total, 1e-9), 1 - 1e-9)
        m = {f: _normalised(v) for f, v in m_acc.items()}
        if not fixed_u:
            u = {f: _normalised(v) for f, v in u_acc.items()}
    # The λ EM converges to is the share of matches among *candidate* pairs (over 90% after good
    # blocking), not the chance that two records are the same person: used as the prior it would
    # link almost anything. Keep the start model's prior unless asked (as Splink estimates λ
    # separately, from deterministic rules).
    return Model({f: tuple(v) for f, v in m.items()}, {f: tuple(v) for f, v in u.items()},
                 prior if learn_prior else model.prior)


def estimate_u(profiles: Sequence[Profile], rng: random.Random, samples: int = 200_000) -> dict[str, tuple[float, ...]]:
    """u probabilities from random record pairs (almost all of which are different people).

    EM over blocked candidate pairs sees few non-matches that look like non-matches, so its u
    drifts; random pairs give a stable u to hold fixed while EM learns m and λ (Splink does the same).
    """
    counts = {f: [1.0] * len(DEFAULT_U[f]) for f in FIELDS}  # add-one smoothing: no zero u
    n = len(profiles)
    for _ in range(samples if n > 1 else 0):
        a, b = rng.randrange(n), rng.randrange(n)
        if a == b:
            continue
        for f, level in zip(FIELDS, compare(profiles[a], profiles[b]), strict=True):
            if level != MISSING:
                counts[f][level] += 1
    return {f: tuple(_normalised(v)) for f, v in counts.items()}


def _normalised(values: list[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values]
