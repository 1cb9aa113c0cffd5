"""Batch linkage in memory: records in, people out (used by ``rebuild_links`` and bench/linkage.py).

Records are added one at a time to an in-memory ``PersonIndex`` — the same decision the write
path makes for a single Patient (``decide``), against people found by the same blocking keys —
so a rebuild reproduces what incremental linking would have done, only faster: no store
round trips, and each person's profile and keys live in dicts.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gpbridge.identity import blocking, compare, profile
from gpbridge.identity.blocking import blocking_keys
from gpbridge.identity.decide import LINKED, Decision, Thresholds, decide, verified_link
from gpbridge.identity.model import Model
from gpbridge.identity.profile import Profile

#: Blocks bigger than this are skipped for candidate generation: a key shared by hundreds of
#: people (a popular name in one postcode, twins' shared data) finds nothing useful and costs much.
MAX_BLOCK = 60


@dataclass(slots=True)
class ReviewItem:
    record: Hashable  # the record's key
    person: int  # the person it may belong to
    action: str  # review | conflict
    score: float | None
    reason: str


@dataclass
class BatchResult:
    person_of: dict[Hashable, int]  # record key -> person number
    members: list[list[Hashable]]  # person number -> record keys
    reviews: list[ReviewItem] = field(default_factory=list)
    compared: int = 0  # record-to-person comparisons made

    @property
    def people(self) -> int:
        return sum(1 for m in self.members if m)


class PersonIndex:
    """People (profiles) filed under their blocking keys."""

    def __init__(self, model: Model | None = None, thresholds: Thresholds | None = None,
                 max_block: int = MAX_BLOCK) -> None:
        self.model = model or Model()
        self.thresholds = thresholds or Thresholds()
        self.max_block = max_block
        self.profiles: list[Profile] = []
        self.members: list[list[Hashable]] = []
        # A block of one person (nearly all of them) holds the person's number, not a one-element
        # list: 230,000 fewer lists to make and free on a 100,000-record batch.
        self.blocks: dict[str, int | list[int]] = {}
        self.identical: dict[tuple[tuple[str, ...], ...], int] = {}  # record signature -> person
        self.compared = 0
        # record key -> people it must not join (reviewer rejections honoured by a rebuild)
        self.forbidden: dict[Hashable, set[Hashable]] = {}

    def candidates(self, lists: Iterable[int | list[int] | None]) -> list[tuple[int, Profile]]:
        found: set[int] = set()
        limit = self.max_block
        for people in lists:
            if people is None:
                continue
            if isinstance(people, int):
                found.add(people)
            elif len(people) <= limit:
                found.update(people)
        self.compared += len(found)
        profiles = self.profiles
        return [(p, profiles[p]) for p in found]

    def add(self, key: Hashable, profile: Profile, *, force: int | None = None) -> Decision:
        """Link one record: join the matching person or start a new one. ``force`` joins a given person.

        The index keeps ``profile`` (a new person's profile *is* its first record's): callers
        must not reuse it.
        """
        banned = self.forbidden.get(key) if self.forbidden else None
        # A record identical to one already placed (common: the same person from two systems
        # fed by the same registration) goes where that one went: every field agrees, so the
        # decision could not differ, and its keys are already filed.
        signature = None
        if profile.given and profile.family and profile.birth and force is None and not banned:
            signature = (profile.nhs, profile.verified, profile.given, profile.middle, profile.family,
                         profile.previous, profile.birth, profile.sex, profile.postcode, profile.address)
            same = self.identical.get(signature)
            if same is not None:
                self.members[same].append(key)
                return Decision(LINKED, same, 1.0, "identical to a record already linked")
        blocks = self.blocks
        decision: Decision | None = None
        if force is not None:
            decision = Decision(LINKED, force, 1.0, "linked by a reviewer")
        elif profile.nhs and not banned:
            # Most records carry an NHS number, and agreeing on it outweighs every other field
            # together: try its block alone first, and look at the other blocks only when that
            # does not settle it (no one there, a conflict, or too weak a match).
            if len(profile.nhs) == 1:  # the usual case: one number, its block holding one person
                people = blocks.get("N" + profile.nhs[0])
                if people is None:
                    found = []
                elif isinstance(people, int):
                    self.compared += 1
                    found = [(people, self.profiles[people])]
                else:
                    found = self.candidates((people,))
            else:
                numbered = [people for people in (blocks.get("N" + n) for n in profile.nhs) if people is not None]
                found = self.candidates(numbered) if numbered else []
            if len(found) == 1 and profile.verified:
                person, known = found[0]
                decision = verified_link(profile, person, known)
            if found and decision is None:
                decision = decide(profile, found, self.model, self.thresholds)
            if decision is not None and decision.action == LINKED:
                # The usual case, kept lean. The record files keys only when it brings a name,
                # date, postcode or number the person lacked: otherwise each of its values is
                # already filed with the person under some key (the recall on the bench is
                # unchanged; the golden Patient on the store path files every combination).
                person = decision.person
                if self.profiles[person].absorb(profile):
                    self._file(blocking_keys(profile), None, person)
                self.members[person].append(key)
                if signature is not None:
                    self.identical[signature] = person
                return decision
        keys = blocking_keys(profile)
        lists = [blocks.get(k) for k in keys]  # looked up once: for candidates, then for filing
        if decision is None or decision.action != LINKED:
            candidates = self.candidates(lists)
            if banned:
                candidates = [c for c in candidates if not banned.intersection(self.members[c[0]])]
            decision = decide(profile, candidates, self.model, self.thresholds)
        if decision.action == LINKED:
            person = decision.person
            self.profiles[person].absorb(profile)
            self.members[person].append(key)
        else:
            person = len(self.profiles)
            self.profiles.append(profile)
            self.members.append([key])
        self._file(keys, lists, person)
        if signature is not None:
            self.identical[signature] = person
        return decision if decision.action == LINKED else _as_new(decision, person)

    def _file(self, keys: list[str], lists: list[int | list[int] | None] | None, person: int) -> None:
        """File ``person`` under ``keys`` (``lists``: their blocks, when already looked up)."""
        blocks = self.blocks
        if lists is None:
            lists = [blocks.get(k) for k in keys]
        # an index loop, not zip(): compiled, zip(strict=True) is a generic call (5% of a batch)
        for i in range(len(keys)):
            k = keys[i]
            people = lists[i]
            if isinstance(people, list):
                if person not in people:
                    people.append(person)
                continue
            # empty or one person when looked up; read again: the same key may come twice in a record
            current = blocks.get(k)
            if current is None:
                blocks[k] = person
            elif isinstance(current, int):
                if current != person:
                    blocks[k] = [current, person]
            elif person not in current:
                current.append(person)


def forget_normalised_values() -> None:
    """Empty the caches of normalised names, sounds, NHS number checks, addresses and name pairs.

    A new process starts with them empty: bench/linkage.py empties them before each run so that
    every run costs what a rebuild in a new process costs.
    """
    caches: list[dict[Any, Any]] = [profile._cache, profile._nhs_cache, profile._place_cache, blocking._sounds,
                                     blocking._given_sounds, compare._name_pairs]
    for cache in caches:
        cache.clear()


def _as_new(decision: Decision, person: int) -> Decision:
    # For review/conflict the record still starts its own person; keep the candidate for review.
    decision.candidates = decision.candidates[:5]
    if decision.action not in ("review", "conflict"):
        decision.person = person
    return decision


def link_records(
    records: Iterable[tuple[Hashable, Profile]],
    model: Model | None = None,
    thresholds: Thresholds | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    index: PersonIndex | None = None,
) -> BatchResult:
    """Link ``(key, profile)`` records into people. Order matters little; verified records first helps."""
    index = index or PersonIndex(model, thresholds)
    person_of: dict[Hashable, int] = {}
    reviews: list[ReviewItem] = []
    members = index.members
    # The loop creates millions of small acyclic objects and no reference cycles: the cyclic
    # garbage collector would only rescan the growing index again and again (half the run time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        for n, (key, profile) in enumerate(records, 1):
            decision = index.add(key, profile)
            if decision.action == LINKED:
                person_of[key] = decision.person
            else:
                person_of[key] = len(members) - 1
                if decision.action in ("review", "conflict"):
                    reviews.append(ReviewItem(key, decision.person, decision.action, decision.score, decision.reason))
            if progress is not None and n % 10_000 == 0:
                progress(n)
    finally:
        if collecting:
            # Everything made while the collector was off counts as new: the first allocation
            # after enable() would scan it all (15% of a 100,000-record run here). Moving it to the
            # old generation first (freeze + unfreeze: two list splices) leaves it to the next
            # full collection, as if it had been made with the collector on.
            gc.freeze()
            gc.unfreeze()
            gc.enable()
    return BatchResult(person_of, members, reviews, index.compared)
