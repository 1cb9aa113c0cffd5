"""Who may read which audit events, for the API (``/fhir/AuditEvent``) and the web pages alike.

The gate (``policy.authorize`` on ``AuditEvent``) lets in privacy officers, systems with an
AuditEvent scope, patients and proxies. A patient or proxy is then confined here to accesses to
*their own* record — by other people, successful ones only — and sees them through
``audit_search.patient_view``, without internal details.
"""

from __future__ import annotations

from gpbridge.security import rules
from gpbridge.security.audit_search import AuditQuery
from gpbridge.security.policy import RequestContext
from gpbridge.security.rules import Decision


def is_patient_facing(context: RequestContext) -> bool:
    who = context.principal
    return who is not None and who.kind in ("patient", "proxy") and not context.settings.insecure_dev


def own_patients(context: RequestContext) -> list[str]:
    """The patient compartments a patient (or the patient a proxy acts for) has in the store."""
    who = context.principal
    if who is None or context.patients is None:
        return []
    nhs = who.nhs_number if who.kind == "patient" else who.acts_for
    return list(context.patients.patients_with_nhs_number(nhs or "")) if nhs else []


def confine(context: RequestContext, query: AuditQuery) -> Decision:
    """Narrow ``query`` to what the caller may see; a denial when they asked for someone else's.

    Staff and systems are not narrowed (the role decided). A patient-facing caller with no record
    gets ``query.patients`` empty and ``query.count`` 0: nothing to show."""
    if not is_patient_facing(context):
        return Decision(True, "privacy officer")
    own = own_patients(context)
    if query.patients and not set(query.patients) <= set(own):
        return rules.deny("a patient may see only who accessed their own record")
    query.patients = tuple(own)
    query.outcome = "allowed"
    query.exclude_principal = context.principal.subject if context.principal else None
    if not own:
        query.count = 0
    return Decision(True, "own record")
