"""``gpbridge link --rebuild``: relink every source Patient in one batch and write the differences.

Reads all source Patients, links them in memory (``batch.link_records``: the same decision as the
write path, with reviewers' rejections honoured), then maps each new group onto the existing golden
Patient holding most of its members, so ids stay stable. Only what changed is written — a golden
whose members or values changed, a source whose person changed — each as a new version, and a
person left with no members is retired (inactive), never deleted. New review items are opened for
pairs the batch could not decide.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from gpbridge.config import Settings
from gpbridge.identity import golden as gold
from gpbridge.identity.batch import PersonIndex, link_records
from gpbridge.identity.decide import LINKED
from gpbridge.identity.linkage import IdentityConfig, write_golden
from gpbridge.identity.profile import profile_of
from gpbridge.identity.review import accepted_pairs, open_review, rejected_pairs, repoint
from gpbridge.search.parse import parse_search

PAGE = 1000
WRITE_CHUNK = 500  # people per write session: bounded transactions on a big rebuild


@dataclass
class RebuildSummary:
    records: int
    people: int
    goldens_written: int
    sources_repointed: int
    people_retired: int
    reviews_opened: int
    seconds: float


def rebuild_links(
    store: Any, progress: Callable[[str, int], None] | None = None, *, settings: Settings | None = None
) -> RebuildSummary:
    """Relink all source Patients. ``progress(stage, n)`` is called as records are read and linked."""
    started = time.perf_counter()
    settings = settings or getattr(store, "settings", None) or Settings()
    config = IdentityConfig.from_settings(settings)
    sources: dict[str, dict[str, Any]] = {}
    goldens: dict[str, dict[str, Any]] = {}
    for resource in _all_patients(store):
        (goldens if gold.is_golden(resource) else sources)[resource["id"]] = resource
        if progress and (len(sources) + len(goldens)) % PAGE == 0:
            progress("read", len(sources) + len(goldens))
    current = {m: gid for gid, g in goldens.items() if g.get("active", True) for m in gold.members(g)}

    index = PersonIndex(config.model, config.thresholds)
    # Reviewers' decisions outlive a rebuild: rejected pairs never link, accepted ones always do.
    for source_id, person in rejected_pairs(store):
        banned = set(gold.members(goldens.get(person, {}))) - {source_id}
        index.forbidden.setdefault(source_id, set()).update(banned)
    joins: dict[str, set[str]] = {}
    for source_id, person in accepted_pairs(store):
        if source_id in sources and current.get(source_id) == person:  # not undone or moved since
            joins[source_id] = set(gold.members(goldens.get(person, {}))) - {source_id}
    # Verified numbers first: they anchor people deterministically, as they do on the write path.
    order = sorted((sid for sid in sources if sid not in joins),
                   key=lambda sid: (not profile_of(sources[sid]).verified, sid))
    result = link_records(((sid, profile_of(sources[sid])) for sid in order), index=index,
                          progress=(lambda n: progress("linked", n)) if progress else None)
    for source_id, partners in sorted(joins.items()):
        placed = sorted(result.person_of[p] for p in partners if p in result.person_of)
        decision = index.add(source_id, profile_of(sources[source_id]), force=placed[0] if placed else None)
        result.person_of[source_id] = decision.person if decision.action == LINKED else len(index.members) - 1

    ids = _assign_ids(result.members, current)
    written = repointed = 0
    clusters = [(ids[n], [str(x) for x in m]) for n, m in enumerate(result.members) if m]
    for start in range(0, len(clusters), WRITE_CHUNK):
        with store.session() as session:
            for golden_id, member_ids in clusters[start:start + WRITE_CHUNK]:
                new = gold.build_golden(golden_id, [sources[m] for m in member_ids])
                old = goldens.get(golden_id)
                if old is not None and (crowded := gold.crowded_keys(old)):
                    gold.mark_crowded(new, crowded)  # a crowd found on the write path stays one
                if old is None or _content(old) != _content(new):
                    if old is not None:
                        new["meta"] = {"tag": old.get("meta", {}).get("tag", [gold.GOLDEN_TAG]),
                                       **({"security": new["meta"]["security"]} if "security" in new["meta"] else {})}
                    write_golden(session, new, settings, create=old is None)
                    written += 1
                for m in member_ids:
                    if gold.person_of_source(sources[m]) != golden_id and repoint(session, dict(sources[m]), golden_id):
                        repointed += 1
    claimed = set(ids)
    retired = 0
    with store.session() as session:
        for golden_id, old in goldens.items():
            if golden_id not in claimed and old.get("active", True):
                old = dict(old)
                old["active"] = False
                old.pop("link", None)  # its sources all belong to other people now
                gold.refresh_keys(old)
                write_golden(session, old, settings)
                retired += 1
        opened = 0
        open_for = _open_review_sources(store)
        for item in result.reviews:
            source_id = str(item.record)
            if source_id in open_for:
                continue
            candidate = ids[item.person]
            open_review(session, settings, kind=item.action, source=source_id, source_person=ids[result.person_of[item.record]],
                        candidate=candidate, score=item.score, reason=item.reason, comparison={})
            opened += 1
    return RebuildSummary(len(sources), result.people, written, repointed, retired, opened,
                          time.perf_counter() - started)


def _assign_ids(members: list[list[Any]], current: dict[str, str]) -> list[str]:
    """Each new group keeps the golden id most of its members had, when no bigger group took it."""
    ids = [""] * len(members)
    votes = sorted(
        ((count, n, gid) for n, m in enumerate(members) for gid, count in Counter(current[x] for x in m if x in current).items()),
        reverse=True,
    )
    taken: set[str] = set()
    for _count, n, gid in votes:
        if not ids[n] and gid not in taken:
            ids[n] = gid
            taken.add(gid)
    return [i or gold.new_golden_id() for i in ids]


def _content(golden: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in golden.items() if k != "meta"}, option=orjson.OPT_SORT_KEYS)


def _all_patients(store: Any) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        query = parse_search("Patient", [("_count", str(PAGE)), ("_sort", "_id")], max_count=PAGE)
        query.offset = offset
        query.total = "none"
        page = store.search(query).matches
        for stored in page:
            if stored.content is not None and not stored.deleted:
                yield orjson.loads(stored.content)
        if len(page) < PAGE:
            return
        offset += PAGE


def _open_review_sources(store: Any) -> set[str]:
    query = parse_search("Task", [("_tag", f"{gold.IDENTITY_SYSTEM}|link-review,{gold.IDENTITY_SYSTEM}|nhs-number-conflict"),
                                  ("status", "requested"), ("_count", "1000")], max_count=1000)
    return {orjson.loads(s.content or b"{}")["for"]["reference"].split("/", 1)[1] for s in store.search(query).matches}
