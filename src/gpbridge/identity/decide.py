"""The linkage decision for one incoming record against the people its blocking keys found.

Shared by the store-backed hook (``linkage.link_patient``) and batch linkage (``batch``), so a
record is judged the same way whether it arrives alone or in a rebuild:

1. Deterministic: a *verified* NHS number shared with a person links — unless the demographics
   clearly say otherwise (two of given name, family name and date of birth disagree), which is
   flagged as a conflict ("same number, clearly different people").
2. Probabilistic otherwise: the best-scoring person links above the upper threshold, goes to
   review between the thresholds, and a new person is made below the lower one.
3. Two different verified NHS numbers never link automatically; when everything else says
   "same person" the pair is flagged as a conflict for review.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpbridge.identity.compare import clearly_different, compare
from gpbridge.identity.model import Model, probability, weight_for
from gpbridge.identity.profile import Profile, shares

LINKED = "linked"
NEW = "new"
REVIEW = "review"
CONFLICT = "conflict"

DEFAULT_UPPER = 0.95
DEFAULT_LOWER = 0.30


@dataclass(frozen=True)
class Thresholds:
    upper: float = DEFAULT_UPPER  # match probability at or above which records link automatically
    lower: float = DEFAULT_LOWER  # below this, no link and no review
    # the same thresholds as match weights, which is what scoring compares against
    upper_weight: float = field(init=False)
    lower_weight: float = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.lower <= self.upper < 1:
            raise ValueError(f"thresholds must satisfy 0 < lower <= upper < 1, not {self.lower}, {self.upper}")
        object.__setattr__(self, "upper_weight", weight_for(self.upper))
        object.__setattr__(self, "lower_weight", weight_for(self.lower))

    @classmethod
    def from_settings(cls, extra: Mapping[str, Any]) -> Thresholds:
        return cls(float(extra.get("identity_upper", DEFAULT_UPPER)), float(extra.get("identity_lower", DEFAULT_LOWER)))


@dataclass(slots=True, init=False)  # __init__s written out here: mypyc compiles them
class Scored:
    person: Any  # the candidate's id (golden Patient id, or a cluster number in batch)
    levels: tuple[int, ...]
    weight: float

    def __init__(self, person: Any, levels: tuple[int, ...], weight: float) -> None:
        self.person = person
        self.levels = levels
        self.weight = weight

    @property
    def probability(self) -> float:
        return probability(self.weight)


@dataclass(slots=True, init=False)
class Decision:
    action: str  # linked | new | review | conflict
    person: Any  # linked: the person joined; review/conflict: the candidate to look at
    score: float | None  # match probability of ``person``
    reason: str
    candidates: list[Scored]  # best first

    def __init__(self, action: str, person: Any = None, score: float | None = None, reason: str = "",
                 candidates: list[Scored] | None = None) -> None:
        self.action = action
        self.person = person
        self.score = score
        self.reason = reason
        self.candidates = [] if candidates is None else candidates


def score_candidates(record: Profile, candidates: Sequence[tuple[Any, Profile]], model: Model) -> list[Scored]:
    scored = []
    for person, profile in candidates:
        levels = compare(record, profile)
        scored.append(Scored(person, levels, model.weight(levels)))
    if len(scored) > 1:  # one candidate (the usual case) needs no sort
        scored.sort(key=_by_weight, reverse=True)
    return scored


def _by_weight(s: Scored) -> float:
    return s.weight


def decide(
    record: Profile,
    candidates: Sequence[tuple[Any, Profile]],
    model: Model,
    thresholds: Thresholds,
) -> Decision:
    if not candidates:
        return Decision(NEW, reason="no candidate shares a blocking key")
    scored = score_candidates(record, candidates, model)
    profiles = dict(candidates)
    upper, lower = thresholds.upper_weight, thresholds.lower_weight

    if record.verified:
        for s in scored:
            if shares(record.verified, profiles[s.person].verified):
                if _clearly_different(s.levels):
                    return Decision(CONFLICT, s.person, s.probability,
                                    "same verified NHS number but clearly different demographics", scored)
                return Decision(LINKED, s.person, 1.0, "same verified NHS number", scored)

    for s in scored:
        other = profiles[s.person]
        if record.verified and other.verified:  # both verified, and (from above) different numbers
            if model.weight_without_nhs(s.levels) >= upper:
                return Decision(CONFLICT, s.person, probability(model.weight_without_nhs(s.levels)),
                                "demographics match but the verified NHS numbers differ", scored)
            continue
        if s.levels[0] == 1 and _clearly_different(s.levels):
            return Decision(CONFLICT, s.person, s.probability,
                            "same NHS number but clearly different demographics", scored)
        if s.weight >= upper:
            if s.levels[0] == 0 and model.weight_without_nhs(s.levels) >= upper:
                return Decision(CONFLICT, s.person, s.probability,
                                "demographics match but the NHS numbers differ", scored)
            if _household(s.levels):
                return Decision(REVIEW, s.person, s.probability,
                                "high score but a different first name or date of birth: twin or relative?", scored)
            return Decision(LINKED, s.person, s.probability, "match probability above the upper threshold", scored)
        if s.weight >= lower:
            return Decision(REVIEW, s.person, s.probability, "match probability between the thresholds", scored)
        break  # sorted: nothing further can reach the lower threshold
    return Decision(NEW, reason="no candidate reaches the lower threshold", candidates=scored)


def verified_link(record: Profile, person: Any, other: Profile) -> Decision | None:
    """``decide`` for the commonest case, without scoring: one candidate, sharing a verified number.

    The same outcome ``decide`` reaches for it (linked, unless the demographics clearly differ);
    None when ``decide`` must look (no shared verified number, or clearly different people).
    """
    if not shares(record.verified, other.verified) or clearly_different(record, other):
        return None
    return Decision(LINKED, person, 1.0, "same verified NHS number")


def _household(levels: tuple[int, ...]) -> bool:
    # Twins share birth date, surname and address and differ only in first name; a parent and
    # child can share every name and the address. The address agreement that makes their score
    # high is exactly what they share, so a flat first-name or birth-date disagreement is left to
    # a person (unless an NHS number agrees).
    nhs, given, _, birth, _, _ = levels
    return nhs != 1 and (given == 0 or birth == 0)


def _clearly_different(levels: tuple[int, ...]) -> bool:
    # given, family, birth: two flat disagreements are not typos (sex and address change legitimately)
    _, given, family, birth, _, _ = levels
    return (given == 0) + (family == 0) + (birth == 0) >= 2
