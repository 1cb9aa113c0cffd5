"""The identity review queue under the policy: who may work it, which items they see, and the
right a decision needs over every record it touches (docs/identity.md, "Who may review").

- ``authorize``: the queue itself — ``rules.decide_identity_review`` (R8000/R8008 or a system
  scope granting Task and Patient); a refusal is audited, an allowance is recorded later, naming
  the patients involved.
- ``review_search``: the listing, as any search is filtered. The Task query is ANDed with the
  caller's permitted compartments on both ``patient`` (``Task.for``, the incoming record) and
  ``focus`` (the candidate person), so totals and paging only count items of the caller's
  patients; an item whose other person (``source-person``) is outside them is withheld too. Then
  ``filtering.filter_result`` passes over the Tasks and the included Patients: a sensitive
  patient's demographics are redacted outside the registered practice, and the access is audited
  once per patient shown. Break-glass does not open the queue (a break-glass search must name
  the patient; merging is a write).
- ``DecisionGuard``: accept/reject/undo call it, inside their write session, with every Patient
  they are about to change or decide on; each needs a write relationship (registered practice or
  care relationship, never break-glass), else 403 audited naming the patient. After the decision,
  ``record`` writes one audit event per patient involved.
"""

from __future__ import annotations

from typing import Any

import orjson

from gpbridge.fhir.outcome import FhirError, error
from gpbridge.search.parse import parse_search
from gpbridge.search.query import SearchQuery
from gpbridge.security import rules
from gpbridge.security.filtering import filter_result, permitted_patients, restrict_query, unrestricted
from gpbridge.security.policy import RequestContext, authorize_identity_review, record
from gpbridge.store.base import SearchResult, StoredResource

_NO_MATCH = "Patient/no-permitted-compartment"


def authorize(
    context: RequestContext, interaction: str, task_id: str | None = None, operation: str | None = None
) -> None:
    """Gate the queue: 401 when nobody is signed in, 403 (audited) for a caller who may not work it.
    An allowance is recorded later, with the patients (``review_search``, ``DecisionGuard``) —
    except in development mode, where the gate's record is the only one."""
    context.audit_deferred = not context.settings.insecure_dev
    decision = authorize_identity_review(context, interaction, task_id, operation=operation)
    if not decision.allowed:
        context.audit_deferred = False
        if context.principal is None:
            raise FhirError(
                401,
                [error("login", "Authentication required: send Authorization: Bearer <access token>")],
                {"WWW-Authenticate": "Bearer"},
            )
        decision.enforce()


def task_patients(task: dict[str, Any]) -> list[str]:
    """Every Patient a review item names: the incoming record, the candidate person, the person the
    record was put in meanwhile (order kept, no repeats)."""
    refs = [_reference(task.get("for")), _reference(task.get("focus"))]
    refs += [_reference(i.get("valueReference")) for i in task.get("input") or () if isinstance(i, dict)]
    out: list[str] = []
    for ref in refs:
        if ref and ref.startswith("Patient/") and ref not in out:
            out.append(ref)
    return out


def _reference(value: Any) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    return ref if isinstance(ref, str) else None


def _workable(context: RequestContext, ref: str) -> rules.Decision:
    """The right a reviewer needs over one record: the relationship a write needs."""
    if unrestricted(context):
        return rules.Decision(True, "system scope" if not context.settings.insecure_dev else "insecure-dev")
    who = context.principal
    facts = context.patients.facts(ref) if context.patients is not None else None
    if who is None or facts is None:
        return rules.deny(f"unknown patient {ref}")
    decision = rules.relationship(who, facts, context.break_glass)
    if decision.allowed and decision.reason == rules.BREAK_GLASS:
        return rules.deny("break-glass does not permit identity review decisions")
    return decision


def review_search(context: RequestContext, store: Any, query: SearchQuery) -> SearchResult:
    """The open items this caller may work, with the records they name, filtered and audited."""
    restrict_query(context, query)  # patient= (Task.for); refuses a break-glass search
    permitted = permitted_patients(context)
    if permitted is not None:
        query.clauses.extend(parse_search("Task", [("focus", ",".join(permitted) or _NO_MATCH)]).clauses)
    found = store.search(query)
    tasks: list[StoredResource] = []
    withheld = 0
    refs: list[str] = []
    for stored in found.matches:
        task = orjson.loads(stored.content or b"{}")
        named = task_patients(task)
        if not all(_workable(context, ref).allowed for ref in named):
            withheld += 1  # the other person is outside the caller's patients
            continue
        tasks.append(stored)
        refs += [ref for ref in named if ref not in refs]
    included: list[StoredResource] = []
    for ref in refs:
        type_, _, id_ = ref.partition("/")
        try:
            included.append(store.read(type_, id_))
        except FhirError:  # deleted meanwhile: the reviewer still sees the Task
            pass
    total = None if found.total is None else max(0, found.total - withheld)
    result = SearchResult(matches=tasks, total=total, included=included)
    return filter_result(context, result, "search", "Task")


class DecisionGuard:
    """Called by ``identity.review`` with the Patients a decision touches, before it writes."""

    def __init__(self, context: RequestContext, operation: str, task_id: str) -> None:
        self.context = context
        self.operation = operation
        self.task_id = task_id
        self.patients: list[str] = []

    def __call__(self, refs: list[str]) -> None:
        for ref in refs:
            decision = _workable(self.context, ref)
            if not decision.allowed:
                record(self.context, decision, "operation", "Task", self.task_id, ref, self.operation)
                self.context.audit_deferred = False  # recorded: audit_failure must not add to it
                decision.enforce()
        self.patients = list(refs)

    def record(self) -> None:
        """The decision was made: one audit event per patient it involved."""
        if not self.context.audit_deferred:
            return
        self.context.audit_deferred = False
        reason = "identity review decision"
        for ref in self.patients or [None]:  # type: ignore[list-item]
            record(self.context, rules.Decision(True, reason), "operation", "Task", self.task_id, ref,
                   self.operation)  # fmt: skip
