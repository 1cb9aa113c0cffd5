"""The write-path hook: every incoming Patient is matched to a person, inside the same session.

``link_patient(session, patient, settings=...)`` is called by the single write path
(``store.interactions``, marked "identity linkage") for each Patient about to be stored: REST
create/update/patch, conditional interactions, transaction and batch Bundles, adapters alike. It finds candidate people with one
indexed search on their blocking keys, decides (``decide``), and writes what follows in the same
transaction: the person's golden Patient (created or extended), a review Task when a human must
decide, and — in ``patient`` itself — the ``seealso`` link to the person. So a Patient and its
linkage commit or roll back together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gpbridge.config import Settings
from gpbridge.identity import golden as gold
from gpbridge.identity.blocking import blocking_keys
from gpbridge.identity.compare import explain
from gpbridge.identity.decide import CONFLICT, LINKED, NEW, REVIEW, Decision, Scored, Thresholds, decide
from gpbridge.identity.model import Model
from gpbridge.identity.profile import Profile, profile_of
from gpbridge.search.query import Clause, ReferenceValue, SearchQuery, TokenValue
from gpbridge.store.base import Preparer, StoreSession
from gpbridge.store.prepared import PreparedWrite

SKIPPED = "skipped"
MAX_CANDIDATES = 60


@dataclass(frozen=True)
class IdentityConfig:
    model: Model = field(default_factory=Model)
    thresholds: Thresholds = field(default_factory=Thresholds)
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings | None) -> IdentityConfig:
        global _last_config
        # One Settings object serves a whole process: its config (weight tables included) is
        # worked out once, not for every Patient written.
        last = _last_config
        if last is not None and last[0] is settings:
            return last[1]
        config = cls._from_settings(settings)
        _last_config = (settings, config)
        return config

    @classmethod
    def _from_settings(cls, settings: Settings | None) -> IdentityConfig:
        if settings is None:
            extra: dict = {}
        else:  # typed settings first; ``extra`` may carry EM-learnt identity_m / identity_u tables
            extra = {**settings.extra, "identity_upper": settings.identity_upper,
                     "identity_lower": settings.identity_lower, "identity_prior": settings.identity_prior,
                     "identity_linkage": settings.identity_linkage}
        return cls(Model.from_settings(extra), Thresholds.from_settings(extra),
                   bool(extra.get("identity_linkage", True)))


_last_config: tuple[Settings | None, IdentityConfig] | None = None


@dataclass
class LinkOutcome:
    action: str  # linked | new | review | conflict | skipped
    person: str | None  # golden Patient id the record now belongs to
    score: float | None = None
    reason: str = ""
    review_task: str | None = None  # Task id when a reviewer must decide
    candidate: str | None = None  # for review/conflict: the person it may (also) be
    candidates: list[Scored] = field(default_factory=list)
    # the source as stored, when the Speculation was right: the caller stores it as it is
    source: PreparedWrite | None = None


@dataclass
class Speculation:
    """A new Patient's linkage worked out before the write lock, on the guess that it starts a
    new person (in a bulk load nearly every Patient does): its blocking keys, and the person's
    golden Patient and the source (with its ``seealso`` link to that person) made ready to store.

    ``link_patient`` uses it only if the decision, taken in the session as always, starts a new
    person and no blocking key is crowded; otherwise it is dropped and the linkage runs as
    without it. Either way the same rows are written: only where the CPU work happens moves."""

    source_id: str
    profile: Profile
    keys: list[str]
    golden_id: str
    golden: PreparedWrite
    source: PreparedWrite


def speculate(preparer: Preparer, patient: dict[str, Any], settings: Settings | None, *,
              patient_id: str) -> Speculation | None:
    """``link_patient``'s work for a just-minted Patient that starts a new person, without the
    session (``patient`` as ``link_patient`` would get it). None when linkage would skip it."""
    if (patient.get("resourceType") != "Patient" or gold.is_golden(patient)
            or patient_id.startswith(gold.GOLDEN_PREFIX) or gold.invalidated(patient)):
        return None
    if not IdentityConfig.from_settings(settings or Settings()).enabled:
        return None
    record = {**patient, "id": patient_id}
    profile = profile_of(record)
    golden = gold.build_golden(gold.new_golden_id(), [record])
    linked = dict(patient)  # set_person_link replaces the list: the caller's patient is untouched
    gold.set_person_link(linked, golden["id"])
    return Speculation(patient_id, profile, sorted(set(blocking_keys(profile))), golden["id"],
                       preparer.prepare("Patient", golden["id"], _as_stored(golden)),
                       preparer.prepare("Patient", patient_id, linked))


def link_patient(
    session: StoreSession,
    patient: dict[str, Any],
    *,
    settings: Settings | None = None,
    patient_id: str | None = None,
    new: bool = False,
    speculation: Speculation | None = None,
) -> LinkOutcome:
    """Match one incoming Patient and record the outcome in ``session``.

    ``patient`` must carry the id it is stored under (or pass ``patient_id``); call it *before*
    the Patient is written, so the ``seealso`` link added to ``patient`` is stored with it and no
    extra version is made. ``new``: the id was just minted, so no stored version can be linked
    yet (saves a read). Golden Patients (our own writes) are skipped. ``speculation``: ``speculate``
    for this very Patient before the lock; when it holds, the outcome's ``source`` is the Patient
    to store.
    """
    source_id = patient_id or patient.get("id")
    if (patient.get("resourceType") != "Patient" or gold.is_golden(patient)
            or str(source_id or "").startswith(gold.GOLDEN_PREFIX)):
        return LinkOutcome(SKIPPED, None, reason="not a source Patient")
    if gold.invalidated(patient):  # an invalidated record is nobody's: PDS answers it as gone
        return LinkOutcome(SKIPPED, None, reason="invalidated record")
    if not source_id:
        raise ValueError("link_patient needs the Patient's id (patient['id'] or patient_id=)")
    settings = settings or Settings()
    config = IdentityConfig.from_settings(settings)
    if not config.enabled:
        return LinkOutcome(SKIPPED, None, reason="identity linkage is switched off")
    record = {**patient, "id": source_id}
    if speculation is not None and (not new or speculation.source_id != source_id):
        speculation = None
    profile = speculation.profile if speculation is not None else profile_of(record)

    current = None if new else current_person(session, source_id)
    if current is not None:  # an update of a linked source: the person learns the new values
        golden = gold.absorb(current, record)
        write_golden(session, golden, settings)
        gold.set_person_link(patient, golden["id"])
        return LinkOutcome(LINKED, golden["id"], 1.0, "already linked to this person")

    # Concurrent writers (PostgreSQL) of two records of one person would each find no one and
    # make two people: holding the record's blocking keys until commit makes the second wait and
    # then find the first's person (a read after the wait sees what the first committed).
    keys = speculation.keys if speculation is not None else sorted(set(blocking_keys(profile)))
    session.lock_keys(keys)
    crowded: set[str] = set()
    decision = decide(profile, candidates(session, profile, crowded, keys=keys), config.model, config.thresholds)
    return apply_decision(session, patient, record, decision, settings, crowded, speculation)


def apply_decision(
    session: StoreSession, patient: dict[str, Any], record: dict[str, Any], decision: Decision, settings: Settings,
    crowded: set[str] | None = None, speculation: Speculation | None = None,
) -> LinkOutcome:
    from gpbridge.identity.review import open_review

    if decision.action == LINKED:
        golden = read_person(session, decision.person)
        golden = gold.absorb(golden, record)
        if crowded:
            gold.mark_crowded(golden, crowded)
        write_golden(session, golden, settings)
        gold.set_person_link(patient, golden["id"])
        return LinkOutcome(LINKED, golden["id"], decision.score, decision.reason, candidates=decision.candidates)
    source: PreparedWrite | None = None
    if speculation is not None and not crowded:  # the guess held: store what was made before the lock
        golden_id = speculation.golden_id
        session.create(speculation.golden, minted=True)  # a freshly minted id: no stored one to look for
        source = speculation.source
    else:
        golden = gold.build_golden(gold.new_golden_id(), [record])
        if crowded:
            gold.mark_crowded(golden, crowded)
        write_golden(session, golden, settings, create=True)
        golden_id = golden["id"]
    gold.set_person_link(patient, golden_id)
    outcome = LinkOutcome(decision.action, golden_id, decision.score, decision.reason,
                          candidate=decision.person if decision.action in (REVIEW, CONFLICT) else None,
                          candidates=decision.candidates, source=source)
    if decision.action in (REVIEW, CONFLICT):
        best = decision.candidates[0] if decision.candidates else None
        levels = next((s.levels for s in decision.candidates if s.person == decision.person), None)
        outcome.review_task = open_review(
            session, settings, kind=decision.action, source=record["id"], source_person=golden_id,
            candidate=str(decision.person), score=decision.score, reason=decision.reason,
            comparison=explain(levels) if levels else {}, weight=best.weight if best else None,
        )
    return outcome


def candidates(session: StoreSession, profile: Profile, crowded: set[str] | None = None, *,
               keys: list[str] | None = None) -> list[tuple[str, Profile]]:
    """People sharing a blocking key with ``profile``: one indexed token search.

    ``keys``: the profile's distinct blocking keys, when the caller has them already.

    When the search comes back full, the keys every one of those people shares are a crowd's
    (``MAX_CANDIDATES`` or more people): they are added to ``crowded``, so the person this record
    joins or starts is not filed under them and the crowd stops growing (``batch.MAX_BLOCK``
    skips such blocks the same way).
    """
    if keys is None:
        keys = sorted(set(blocking_keys(profile)))
    if not keys:
        return []
    found = session.search(_query(
        Clause("identifier", "token", None, [TokenValue(gold.BLOCKING_KEY_SYSTEM, k) for k in keys]),
        count=MAX_CANDIDATES,
    ))
    out = []
    shared = set(keys) if crowded is not None and len(found.matches) >= MAX_CANDIDATES else set()
    for stored in found.matches:
        if stored.deleted or stored.content is None:
            continue
        resource = orjson.loads(stored.content)
        if not gold.is_golden(resource):  # a client's Patient that happens to use our key system
            continue
        if shared:
            shared.intersection_update(i.get("value") for i in resource.get("identifier") or ()
                                       if i.get("system") == gold.BLOCKING_KEY_SYSTEM)
        if resource.get("active", True):
            out.append((stored.id, gold.golden_profile(resource)))
    if crowded is not None:
        crowded.update(shared)
    return out


def current_person(session: StoreSession, source_id: str) -> dict[str, Any] | None:
    """The active golden Patient a stored source belongs to: found by the source's own link (a
    read by id), following merges; the indexed search only when that link is stale."""
    source = read_patient(session, source_id)
    if source is None:
        return None
    person_id = gold.person_of_source(source)
    for _ in range(10):  # a chain of merges is short; the bound only guards against a cycle
        if person_id is None:
            return None
        person = read_patient(session, person_id)
        if person is None:
            break
        if person.get("active", True):
            if source_id in gold.members(person):
                return person
            break
        person_id = gold.replaced_by(person)
    return person_containing(session, source_id)


def unlink_deleted(session: StoreSession, source_id: str, settings: Settings) -> str | None:
    """A source Patient is being deleted: its person forgets it, in a new version.

    The person is rebuilt from the sources that remain (history keeps what the deleted one
    contributed); a person left with none is retired (inactive), never deleted. Returns the
    person's id, or None when the source was not linked.
    """
    person = current_person(session, source_id)
    if person is None:
        return None
    remaining = [m for m in gold.members(person) if m != source_id]
    sources = [p for p in (read_patient(session, m) for m in remaining) if p is not None]
    rebuilt = gold.build_golden(person["id"], sources)
    # the person's own tags; a restricted label only if a remaining source still carries one
    meta = {"tag": (person.get("meta") or {}).get("tag") or [gold.GOLDEN_TAG]}
    if "security" in rebuilt["meta"]:
        meta["security"] = rebuilt["meta"]["security"]
    rebuilt["meta"] = meta
    if not sources:
        rebuilt["active"] = False
        gold.refresh_keys(rebuilt)
    write_golden(session, rebuilt, settings)
    return str(person["id"])


def person_containing(session: StoreSession, source_id: str) -> dict[str, Any] | None:
    """The active golden Patient that links to source ``source_id``, if any."""
    found = session.search(_query(Clause("link", "reference", None, [ReferenceValue("Patient", source_id)])))
    for stored in found.matches:
        if stored.content is not None and not stored.deleted:
            resource = orjson.loads(stored.content)
            if gold.is_golden(resource) and resource.get("active", True) and source_id in gold.members(resource):
                return dict(resource)
    return None


def _query(clause: Clause, count: int = 10) -> SearchQuery:
    # Built directly rather than parsed from a URL: this runs for every Patient written, and
    # parsing the same two shapes of query again and again cost more than the search itself.
    # One selective clause only: a "_tag=golden" clause beside it matches every person in the
    # store, and a planner starting from it makes each write scan them all (quadratic ingest).
    # Results are checked to be golden Patients instead.
    return SearchQuery(type="Patient", clauses=[clause], count=count, total="none")


def read_patient(session: StoreSession, patient_id: str) -> dict[str, Any] | None:
    """The current Patient ``patient_id`` as the session sees it; None when absent or deleted."""
    stored = session.read("Patient", patient_id)
    if stored is None or stored.deleted or stored.content is None:
        return None
    return dict(orjson.loads(stored.content))


def read_person(session: StoreSession, golden_id: str) -> dict[str, Any]:
    stored = session.read("Patient", golden_id)
    if stored is None or stored.content is None:
        raise LookupError(f"person Patient/{golden_id} not found")
    return dict(orjson.loads(stored.content))


def write_golden(session: StoreSession, golden: dict[str, Any], settings: Settings, *, create: bool = False) -> None:
    """Store a golden Patient in the session.

    Through the session, not ``interactions``: a golden is derived from sources that were
    validated on the way in, and a person's union record failing a profile rule must never make
    the source write that caused it fail (tests check goldens validate). Golden Patients are
    also skipped by ``link_patient``, so nothing recurses.
    """
    golden = _as_stored(golden)
    if create:
        session.create(golden, golden["id"])
    else:
        session.update("Patient", golden["id"], golden)


def _as_stored(golden: dict[str, Any]) -> dict[str, Any]:
    """A golden Patient as stored: its meta cut to what it owns (no versionId or lastUpdated)."""
    return {k: v for k, v in golden.items() if k != "meta"} | {"meta": _own_meta(golden)}


def _own_meta(golden: dict[str, Any]) -> dict[str, Any]:
    meta = golden.get("meta") or {}
    return {k: v for k, v in meta.items() if k in ("tag", "security", "profile")}


__all__ = ["LinkOutcome", "IdentityConfig", "Speculation", "speculate", "link_patient", "candidates", "person_containing", "NEW", "LINKED",
           "REVIEW", "CONFLICT", "SKIPPED"]
