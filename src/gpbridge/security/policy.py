"""The single access gate: every route (and every transaction entry) asks ``authorize`` before
touching the store, and ``security.filtering`` applies the same rules to what comes back.

``insecure_dev`` allows everything (explicit, warned on every start). Otherwise the decision table
in ``security.rules`` applies: RBAC and SMART scopes first, then — when the patient is known — the
legitimate-relationship check. Every decision is written to the audit sink.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gpbridge.config import Settings
from gpbridge.security import rules
from gpbridge.security.audit import AuditEntity, AuditRecord, AuditSink, NullAuditSink
from gpbridge.security.principal import Principal
from gpbridge.security.rules import Decision

__all__ = [
    "INTERACTIONS", "Decision", "Principal", "RequestContext", "authorize", "authorize_identity_review",
    "authorize_record", "record",
]  # fmt: skip

INTERACTIONS = frozenset(
    {"read", "vread", "search", "history", "create", "update", "patch", "delete", "operation", "transaction"}
)


@dataclass(slots=True)  # not frozen: built on every request, and frozen __init__ is slow
class RequestContext:
    settings: Settings
    principal: Principal | None = None
    purpose_of_use: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    audit: AuditSink = field(default_factory=NullAuditSink)
    # a ``security.facts.PatientDirectory`` (per request); None: relationship checks cannot run
    patients: Any = None
    break_glass: str | None = None  # the stated reason from the break-glass header
    source_ip: str | None = None
    # True when the route checks the result too (``security.filtering``) and records the access
    # there, with the patient named: an allowed gate decision is then not recorded twice.
    audit_deferred: bool = False
    # set by ``filtering.restrict_query``: the count to subtract from a search total (items the
    # results will drop), or None
    hidden_count: Any = None
    # the gate's decision, for a route that records it later (``audit_bundle``)
    gate_decision: Decision | None = None


def authorize(
    context: RequestContext,
    interaction: str,
    resource_type: str | None,
    resource_id: str | None = None,
    *,
    patient: str | None = None,
    operation: str | None = None,
) -> Decision:
    """Decide whether ``context`` may perform ``interaction`` and record the decision.

    ``patient`` is the patient compartment (``Patient/123``) when the caller knows it;
    ``operation`` names the ``$operation`` for ``interaction="operation"``.
    """
    if interaction not in INTERACTIONS:
        raise ValueError(f"unknown interaction {interaction!r}")
    decision = _decide(context, interaction, resource_type, patient, operation)
    if not (decision.allowed and context.audit_deferred):
        record(context, decision, interaction, resource_type, resource_id, patient, operation)
    return decision


def authorize_record(
    context: RequestContext,
    patient: str,
    types: Iterable[str],
    *,
    interaction: str,
    operation: str | None = None,
    withhold: bool = False,
) -> tuple[Decision, tuple[str, ...]]:
    """May the caller read ``types`` of ``patient``'s record together (an operation or page that
    assembles a record)? Each type is decided exactly as a search of it would be (RBAC, scope),
    then the relationship with ``patient``. The first refusal is recorded, as every refusal is,
    under ``interaction``/``operation`` and naming the type refused.

    ``withhold``: the view can mark a section withheld. Then a type refused only because a
    proxy's access level does not include it (``rules.withheld_by_level``) does not refuse the
    record: it is returned, with the decision, among the types withheld (not read), and the
    record of the access names them. Nothing else is ever withheld — staff roles and scopes still
    refuse — and when every type asked for besides the Patient would be withheld, the record is
    refused: a view with no section to show is not one the access level is for.

    An allowance is recorded here only when the caller deferred its gate's record
    (``audit_deferred``), or when types were withheld: then this is the record of the access.
    Once anything is recorded here the deferral ends, so ``filtering.audit_failure`` does not
    record the same request again.
    """
    who = context.principal
    asked: list[str] = []
    withheld: list[str] = []
    for type_ in types:
        if type_ in asked:
            continue
        asked.append(type_)
        decision = _decide(context, "search", type_, None)
        if decision.allowed:
            continue
        if withhold and rules.withheld_by_level(who, type_):
            withheld.append(type_)
            continue
        record(context, decision, interaction, type_, None, patient, operation)
        context.audit_deferred = False  # recorded: a route's failure handler must not add to it
        return decision, ()
    level = who.access_level if who is not None else None
    detail = f"withheld (proxy access level {level!r}): {', '.join(withheld)}" if withheld else None
    clinical = [t for t in asked if t != "Patient"]
    if withheld and len(withheld) == len(clinical):
        decision = rules.deny(f"proxy access level {level!r} includes none of {', '.join(withheld)}")
        record(context, decision, interaction, withheld[0], None, patient, operation, detail)
        context.audit_deferred = False
        return decision, ()
    decision = _decide(context, "search", "Patient", patient)
    if not decision.allowed or context.audit_deferred or withheld:
        record(context, decision, interaction, "Patient", patient.partition("/")[2], patient, operation,
               detail if decision.allowed else None)
        context.audit_deferred = False
    return decision, tuple(withheld) if decision.allowed else ()


def authorize_identity_review(
    context: RequestContext,
    interaction: str,
    resource_id: str | None = None,
    *,
    operation: str | None = None,
) -> Decision:
    """May ``context`` work the identity review queue (``rules.decide_identity_review``)?
    ``interaction``: ``search`` (the listing) or ``operation`` with ``operation`` naming the
    decision. Recorded like ``authorize``: a refusal always, an allowance unless the route
    records it later with the patients involved (``audit_deferred``)."""
    if context.settings.insecure_dev:
        decision = _ALLOW_DEV
    else:
        right = "search" if interaction == "search" else "update"
        decision = rules.decide_identity_review(context.principal, right)
    if not (decision.allowed and context.audit_deferred):
        record(context, decision, interaction, "Task", resource_id, None, operation)
    return decision


def record(
    context: RequestContext,
    decision: Decision,
    interaction: str,
    resource_type: str | None,
    resource_id: str | None,
    patient: str | None = None,
    operation: str | None = None,
    detail: str | None = None,
    entities: tuple[AuditEntity, ...] = (),
) -> None:
    if not context.audit.enabled:
        return
    who = context.principal
    context.audit.record(
        AuditRecord(
            interaction=interaction if operation is None else f"{interaction}:{operation}",
            resource_type=resource_type,
            resource_id=resource_id,
            allowed=decision.allowed,
            reason=decision.reason,
            principal=who.subject if who else None,
            patient=patient,
            purpose_of_use=context.purpose_of_use,
            request_id=context.request_id,
            correlation_id=context.correlation_id,
            kind=who.kind if who else None,
            roles=who.roles if who else (),
            organisation=who.organisation if who else None,
            client_id=who.client_id if who else None,
            source_ip=context.source_ip,
            flags=decision.flags,
            break_glass_reason=context.break_glass if "break-glass" in decision.flags else None,
            detail=detail,
            principal_name=who.name if who else None,
            entities=entities,
        )
    )


_ALLOW_DEV = Decision(True, "insecure-dev")


@lru_cache(maxsize=8)
def _roles(configured: str) -> frozenset[str]:
    return frozenset(code.strip() for code in configured.split(",") if code.strip())


def privacy_roles(settings: Settings) -> frozenset[str]:
    """The national RBAC codes that make a user a privacy officer (setting ``privacy_officer_roles``)."""
    return _roles(settings.privacy_officer_roles)


def _decide(
    context: RequestContext,
    interaction: str,
    resource_type: str | None,
    patient: str | None,
    operation: str | None = None,
) -> Decision:
    if context.settings.insecure_dev:
        return _ALLOW_DEV
    decision = rules.decide_type(
        context.principal, interaction, resource_type, privacy_roles(context.settings), operation
    )
    if not decision.allowed or patient is None or context.principal is None:
        return decision
    facts = context.patients.facts(patient) if context.patients is not None else None
    if facts is None:
        return rules.deny(f"unknown patient {patient}")
    return rules.relationship(context.principal, facts, context.break_glass)
