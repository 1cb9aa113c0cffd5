"""The write-path hook: every incoming Patient is matched to a person, inside the same session.

``link_patient(store, session, patient)`` is called by the single write path for each Patient
about to be stored (REST, transaction Bundles, adapters alike). It finds candidate people with one
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
from gpbridge.store.base import StoreSession

SKIPPED = "skipped"
MAX_CANDIDATES = 60


@dataclass(frozen=True)
class IdentityConfig:
    model: Model = field(default_factory=Model)
    thresholds: Thresholds = field(default_factory=Thresholds)
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings | None) -> IdentityConfig:
        if settings is None:
            extra: dict = {}
        else:  # typed settings first; ``extra`` may carry EM-learnt identity_m / identity_u tables
            extra = {**settings.extra, "identity_upper": settings.identity_upper,
                     "identity_lower": settings.identity_lower, "identity_prior": settings.identity_prior,
                     "identity_linkage": settings.identity_linkage}
        return cls(Model.from_settings(extra), Thresholds.from_settings(extra),
                   bool(extra.get("identity_linkage", True)))


@dataclass
class LinkOutcome:
    action: str  # linked | new | review | conflict | skipped
    person: str | None  # golden Patient id the record now belongs to
    score: float | None = None
    reason: str = ""
    review_task: str | None = None  # Task id when a reviewer must decide
    candidate: str | None = None  # for review/conflict: the person it may (also) be
    candidates: list[Scored] = field(default_factory=list)


def link_patient(
    store: Any,
    session: StoreSession,
    patient: dict[str, Any],
    *,
    settings: Settings | None = None,
    patient_id: str | None = None,
) -> LinkOutcome:
    """Match one incoming Patient and record the outcome in ``session``.

    ``patient`` must carry the id it is stored under (or pass ``patient_id``); call it *before*
    the Patient is written, so the ``seealso`` link added to ``patient`` is stored with it and no
    extra version is made. Golden Patients (our own writes) are skipped.
    """
    if patient.get("resourceType") != "Patient" or gold.is_golden(patient):
        return LinkOutcome(SKIPPED, None, reason="not a source Patient")
    source_id = patient_id or patient.get("id")
    if not source_id:
        raise ValueError("link_patient needs the Patient's id (patient['id'] or patient_id=)")
    settings = settings or getattr(store, "settings", None) or Settings()
    config = IdentityConfig.from_settings(settings)
    if not config.enabled:
        return LinkOutcome(SKIPPED, None, reason="identity linkage is switched off")
    record = {**patient, "id": source_id}
    profile = profile_of(record)

    current = person_containing(session, source_id)
    if current is not None:  # an update of a linked source: the person learns the new values
        golden = gold.absorb(current, record)
        write_golden(session, golden, settings)
        gold.set_person_link(patient, golden["id"])
        return LinkOutcome(LINKED, golden["id"], 1.0, "already linked to this person")

    decision = decide(profile, candidates(session, profile), config.model, config.thresholds)
    return apply_decision(session, patient, record, decision, settings)


def apply_decision(
    session: StoreSession, patient: dict[str, Any], record: dict[str, Any], decision: Decision, settings: Settings
) -> LinkOutcome:
    from gpbridge.identity.review import open_review

    if decision.action == LINKED:
        golden = read_person(session, decision.person)
        golden = gold.absorb(golden, record)
        write_golden(session, golden, settings)
        gold.set_person_link(patient, golden["id"])
        return LinkOutcome(LINKED, golden["id"], decision.score, decision.reason, candidates=decision.candidates)
    golden = gold.build_golden(gold.new_golden_id(), [record])
    write_golden(session, golden, settings, create=True)
    gold.set_person_link(patient, golden["id"])
    outcome = LinkOutcome(decision.action, golden["id"], decision.score, decision.reason,
                          candidate=decision.person if decision.action in (REVIEW, CONFLICT) else None,
                          candidates=decision.candidates)
    if decision.action in (REVIEW, CONFLICT):
        best = decision.candidates[0] if decision.candidates else None
        levels = next((s.levels for s in decision.candidates if s.person == decision.person), None)
        outcome.review_task = open_review(
            session, settings, kind=decision.action, source=record["id"], source_person=golden["id"],
            candidate=str(decision.person), score=decision.score, reason=decision.reason,
            comparison=explain(levels) if levels else {}, weight=best.weight if best else None,
        )
    return outcome


def candidates(session: StoreSession, profile: Profile) -> list[tuple[str, Profile]]:
    """People sharing a blocking key with ``profile``: one indexed token search."""
    keys = sorted(set(blocking_keys(profile)))
    if not keys:
        return []
    found = session.search(_query(
        Clause("identifier", "token", None, [TokenValue(gold.BLOCKING_KEY_SYSTEM, k) for k in keys]),
        count=MAX_CANDIDATES,
    ))
    out = []
    for stored in found.matches:
        if stored.deleted or stored.content is None:
            continue
        resource = orjson.loads(stored.content)
        if resource.get("active", True):
            out.append((stored.id, gold.golden_profile(resource)))
    return out


def person_containing(session: StoreSession, source_id: str) -> dict[str, Any] | None:
    """The active golden Patient that links to source ``source_id``, if any."""
    found = session.search(_query(Clause("link", "reference", None, [ReferenceValue("Patient", source_id)])))
    for stored in found.matches:
        if stored.content is not None and not stored.deleted:
            resource = orjson.loads(stored.content)
            if resource.get("active", True) and source_id in gold.members(resource):
                return dict(resource)
    return None


def _query(clause: Clause, count: int = 10) -> SearchQuery:
    # Built directly rather than parsed from a URL: this runs for every Patient written, and
    # parsing the same two shapes of query again and again cost more than the search itself.
    golden = Clause("_tag", "token", None, [TokenValue(gold.IDENTITY_SYSTEM, "golden")])
    return SearchQuery(type="Patient", clauses=[golden, clause], count=count, total="none")


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
    golden = {k: v for k, v in golden.items() if k != "meta"} | {"meta": _own_meta(golden)}
    if create:
        session.create(golden, golden["id"])
    else:
        session.update("Patient", golden["id"], golden)


def _own_meta(golden: dict[str, Any]) -> dict[str, Any]:
    meta = golden.get("meta") or {}
    return {k: v for k, v in meta.items() if k in ("tag", "security", "profile")}


__all__ = ["LinkOutcome", "IdentityConfig", "link_patient", "candidates", "person_containing", "NEW", "LINKED",
           "REVIEW", "CONFLICT", "SKIPPED"]
