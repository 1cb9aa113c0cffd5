"""The single access gate: every route (and every transaction entry) asks ``authorize`` before
touching the store.

Today's decision table is "allow": explicitly so in ``insecure_dev`` mode, and by default until the
security issue replaces ``_decide`` with RBAC, relationship, consent and redaction rules. The
signature already carries what those rules need (principal, patient compartment, purpose of use)
so routes will not change when the policy does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.audit import AuditRecord, AuditSink, NullAuditSink

INTERACTIONS = frozenset(
    {"read", "vread", "search", "history", "create", "update", "patch", "delete", "operation", "transaction"}
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, once authentication exists (CIS2 user, system, patient)."""

    subject: str
    roles: tuple[str, ...] = ()
    organisation: str | None = None


@dataclass(slots=True)  # not frozen: built on every request, and frozen __init__ is slow
class RequestContext:
    settings: Settings
    principal: Principal | None = None
    purpose_of_use: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    audit: AuditSink = field(default_factory=NullAuditSink)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str

    def enforce(self) -> None:
        """Raise 403 when denied; routes call this so a denial can never be ignored by accident."""
        if not self.allowed:
            raise FhirError.of(403, "forbidden", f"Access denied: {self.reason}")


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
    decision = _decide(context, interaction, resource_type, resource_id, patient, operation)
    if context.audit.enabled:
        _record(context, decision, interaction, resource_type, resource_id, patient, operation)
    return decision


def _record(
    context: RequestContext,
    decision: Decision,
    interaction: str,
    resource_type: str | None,
    resource_id: str | None,
    patient: str | None,
    operation: str | None,
) -> None:
    principal = context.principal.subject if context.principal else None
    context.audit.record(
        AuditRecord(
            interaction=interaction if operation is None else f"{interaction}:{operation}",
            resource_type=resource_type,
            resource_id=resource_id,
            allowed=decision.allowed,
            reason=decision.reason,
            principal=principal,
            patient=patient,
            purpose_of_use=context.purpose_of_use,
            request_id=context.request_id,
            correlation_id=context.correlation_id,
        )
    )


_ALLOW_DEV = Decision(True, "insecure-dev")
_ALLOW_DEFAULT = Decision(True, "default-allow (no policy configured yet)")


def _decide(
    context: RequestContext,
    interaction: str,
    resource_type: str | None,
    resource_id: str | None,
    patient: str | None,
    operation: str | None,
) -> Decision:
    # The decision table the security issue replaces; kept as one function on purpose.
    if context.settings.insecure_dev:
        return _ALLOW_DEV
    return _ALLOW_DEFAULT
