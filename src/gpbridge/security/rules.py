"""The decision table: pure functions from (who, what, whose, which labels) to a Decision.

Three layers, each a small table, applied in order by ``security.policy``:

1. ``decide_type`` — RBAC and SMART scopes: may this caller do this interaction on this type?
2. ``relationship`` — is there a legitimate relationship with this patient (registered practice,
   active care relationship, break-glass, self, proxy), respecting dissent?
3. ``item_visibility`` — given that relationship, is this item shown, hidden or redacted?

No I/O here: facts about the patient arrive as ``PatientFacts`` so the table is testable alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpbridge.fhir.outcome import FhirError
from gpbridge.security import labels as lb
from gpbridge.security import principal as p
from gpbridge.security.scopes import permits

READS = frozenset({"read", "vread", "search", "history", "operation"})
WRITES = frozenset({"create", "update", "patch", "delete", "transaction"})

# Types that describe the service, not a patient: readable by any authenticated caller.
REFERENCE_TYPES = frozenset(
    {
        "CapabilityStatement", "CodeSystem", "ConceptMap", "Endpoint", "HealthcareService", "Location",
        "Medication", "NamingSystem", "OperationDefinition", "Organization", "Practitioner",
        "PractitionerRole", "SearchParameter", "StructureDefinition", "ValueSet",
    }
)  # fmt: skip
# Demographic and administrative types an admin (R8008) works with.
ADMIN_TYPES = REFERENCE_TYPES | {"Patient", "RelatedPerson", "Appointment", "Schedule", "Slot", "Consent"}
NURSE_WRITES = frozenset(
    {"Observation", "Immunization", "Procedure", "Encounter", "DocumentReference", "Flag", "Condition"}
)
AUDIT = "AuditEvent"
# Who is a privacy officer unless configured otherwise: national RBAC has no privacy-officer job
# role, and R8008 (Admin) is the role profile practices give their IG/privacy lead.
PRIVACY_OFFICER_ROLES = frozenset({p.ADMIN})
# What each proxy access level reaches in the patient's record (besides reference types).
PROXY_LEVELS: dict[str, frozenset[str]] = {
    "appointments": frozenset({"Patient", "Appointment"}),
    "summary": frozenset(
        {
            "Patient",
            "Appointment",
            "AllergyIntolerance",
            "MedicationStatement",
            "MedicationRequest",
            "Immunization",
        }
    ),  # fmt: skip
    "full": frozenset(),  # empty: everything a patient sees
}
# The operations a patient or proxy may call: read-only views of their own record, whose types are
# then each decided as a search (``policy.authorize_record``). GP Connect's structured record is a
# clinician-to-clinician interface and stays refused, as does every other operation.
PATIENT_FACING_OPERATIONS = frozenset({"summary"})


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    flags: tuple[str, ...] = ()  # e.g. ("break-glass",): reported to the privacy officer

    def enforce(self) -> None:
        """Raise 403 when denied; routes call this so a denial can never be ignored by accident."""
        if not self.allowed:
            raise FhirError.of(403, "forbidden", f"Access denied: {self.reason}")


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What the policy needs to know about one patient, loaded by ``security.facts``."""

    ref: str  # "Patient/123"
    nhs_number: str | None = None
    registered_ods: str | None = None  # ODS code of Patient.generalPractitioner's Organization
    sensitive: bool = False  # meta.security R/V on the Patient
    dissent: bool = False  # an active Consent with a deny provision
    care_orgs: frozenset[str] = field(default_factory=frozenset)  # ODS codes with a care relationship


def deny(reason: str) -> Decision:
    return Decision(False, reason)


# -------------------------------------------------------------------------------- layer 1: RBAC


def _role_allows(roles: tuple[str, ...], interaction: str, type_: str | None) -> bool:
    for role in roles:
        if role == p.CLINICAL_PRACTITIONER:
            if type_ != AUDIT and interaction != "delete":
                return True
        elif role == p.NURSE:
            if type_ != AUDIT and (
                interaction in READS or (type_ in NURSE_WRITES and interaction != "delete")
            ):
                return True
        elif role == p.HEALTH_PROFESSIONAL:
            if type_ != AUDIT and interaction in READS:
                return True
        elif role == p.ADMIN:
            # Admins manage demographics; no clinical data. (The audit: ``_audit_reader``.)
            if type_ in ADMIN_TYPES:
                return True
            if type_ is None and interaction == "transaction":
                return True
    return False


def decide_type(
    principal: p.Principal | None,
    interaction: str,
    type_: str | None,
    privacy_roles: frozenset[str] = PRIVACY_OFFICER_ROLES,
    operation: str | None = None,
) -> Decision:
    """RBAC and scope, before anything is read. ``type_`` None is a system-level interaction.

    ``privacy_roles``: the national RBAC codes that may read the audit (setting
    ``privacy_officer_roles``). ``operation``: the ``$operation`` named by ``interaction``
    "operation" (a patient or proxy may call only ``PATIENT_FACING_OPERATIONS``)."""
    if principal is None:
        if type_ == "CapabilityStatement" and interaction == "read":
            return Decision(True, "public")  # clients discover how to authenticate from it
        return deny("not authenticated")
    if type_ == AUDIT and interaction in WRITES:
        return deny("the audit trail is written by the server only")
    if not permits(principal.scopes, principal.kind, interaction, type_):
        return deny(f"scope does not grant {interaction} on {type_ or 'the system'}")
    kind = principal.kind
    if type_ == AUDIT and kind in ("user", "system"):
        return _audit_reader(principal, privacy_roles)
    if kind == "system":
        return Decision(True, "system scope")
    if kind in ("patient", "proxy"):
        if interaction == "operation" and operation in PATIENT_FACING_OPERATIONS:
            pass  # a read-only view of their record; its types are decided one by one after
        elif interaction not in READS - {"operation"}:
            return deny(f"{kind} access is read-only")
        if type_ is None:
            return deny(f"{kind} access is to one record, not system-wide")
        if kind == "proxy" and not _proxy_type_ok(principal.access_level, type_):
            return deny(f"proxy access level {principal.access_level!r} does not include {type_}")
        return Decision(True, f"{kind} access")
    if kind == "user":
        if _role_allows(principal.roles, interaction, type_):
            return Decision(True, "role " + ",".join(principal.roles))
        return deny(f"role {','.join(principal.roles) or 'none'} may not {interaction} {type_ or 'system'}")
    return deny(f"unknown caller kind {kind!r}")


def _audit_reader(principal: p.Principal, privacy_roles: frozenset[str]) -> Decision:
    """Staff read the audit only as privacy officers; a system (e.g. a SIEM feed) only with a scope
    that names AuditEvent — ``system/*.read`` is for records, not for who read them."""
    if principal.kind == "system":
        if any(s.startswith("system/AuditEvent.") for s in principal.scopes):
            return Decision(True, "system scope for the audit")
        return deny("the audit needs a scope naming AuditEvent (system/AuditEvent.read)")
    if privacy_roles.intersection(principal.roles):
        return Decision(True, "privacy officer " + ",".join(sorted(privacy_roles.intersection(principal.roles))))
    return deny(f"only a privacy officer ({', '.join(sorted(privacy_roles))}) may read the audit")


def withheld_by_level(principal: p.Principal | None, type_: str) -> bool:
    """True when ``type_`` is refused to ``principal`` only because their proxy access level does
    not include it: a view of the record that can say so shows that section as withheld
    (``policy.authorize_record``) instead of refusing the whole record."""
    return principal is not None and principal.kind == "proxy" and not _proxy_type_ok(principal.access_level, type_)


def _proxy_type_ok(level: str | None, type_: str) -> bool:
    if type_ in REFERENCE_TYPES or type_ == AUDIT:
        return True
    allowed = PROXY_LEVELS.get(level or "")
    if allowed is None:
        return False
    return not allowed or type_ in allowed


# Who works the identity review queue (docs/identity.md, "Who may review"): deciding that two
# records are one person is registration / demographics work, which changes Patient records. The
# roles whose row above may update Patient do it: the practice's admin and registration staff
# (R8008) and its clinicians (R8000); a nurse or health professional cannot write demographics,
# so cannot merge people. Which items each reviewer may work is then the relationship layer.
IDENTITY_REVIEW_ROLES = frozenset({p.CLINICAL_PRACTITIONER, p.ADMIN})


def decide_identity_review(principal: p.Principal | None, interaction: str) -> Decision:
    """May this caller work the identity review queue? ``interaction``: ``search`` to list it,
    ``update`` to decide an item. The token's scopes must grant it on both Task (the item) and
    Patient (the records compared and merged); a system client needs nothing more (its scopes
    already grant writing any Patient); a user needs one of ``IDENTITY_REVIEW_ROLES``."""
    if principal is None:
        return deny("not authenticated")
    for type_ in ("Task", "Patient"):
        if not permits(principal.scopes, principal.kind, interaction, type_):
            return deny(f"scope does not grant {interaction} on {type_} (identity review)")
    if principal.kind == "system":
        return Decision(True, "system scope")
    if principal.kind != "user":
        return deny(f"{principal.kind} access does not include the identity review queue")
    held = IDENTITY_REVIEW_ROLES.intersection(principal.roles)
    if held:
        return Decision(True, "identity reviewer " + ",".join(sorted(held)))
    return deny(
        f"role {','.join(principal.roles) or 'none'} may not work the identity review queue "
        f"(needs {' or '.join(sorted(IDENTITY_REVIEW_ROLES))})"
    )


# ----------------------------------------------------------------------- layer 2: relationship

REGISTERED, CARE, BREAK_GLASS, SELF, PROXY, SYSTEM = (
    "registered",
    "care",
    "break-glass",
    "self",
    "proxy",
    "system",
)


def relationship(principal: p.Principal, facts: PatientFacts, break_glass: str | None = None) -> Decision:
    """Is there a legitimate relationship with this patient? ``reason`` names it when allowed."""
    kind = principal.kind
    if kind == "system":
        return Decision(True, SYSTEM)
    if kind == "patient":
        if principal.nhs_number and principal.nhs_number == facts.nhs_number:
            return Decision(True, SELF)
        return deny("a patient may see only their own record")
    if kind == "proxy":
        if principal.acts_for and principal.acts_for == facts.nhs_number:
            return Decision(True, PROXY)
        return deny("proxy access is granted for another patient only")
    org = principal.organisation
    if org and org == facts.registered_ods:
        return Decision(True, REGISTERED)
    if facts.dissent and not break_glass:
        # flagged so GP Connect can answer NO_PATIENT_CONSENT rather than a generic refusal
        return Decision(
            False, "the patient has dissented from sharing outside the registered practice", ("dissent",)
        )
    if org and org in facts.care_orgs:
        return Decision(True, CARE)
    if break_glass:
        return Decision(True, BREAK_GLASS, ("break-glass",))
    return deny("no legitimate relationship with this patient")


# -------------------------------------------------------------------------- layer 3: the item

SHOW, HIDE, REDACT = "show", "hide", "redact"


def item_visibility(
    principal: p.Principal, relation: str, resource_type: str, labels: frozenset[tuple[str, str]]
) -> str:
    """Within an allowed relationship: show the item, hide it, or (Patient) withhold demographics."""
    if relation == REGISTERED:
        return SHOW
    if resource_type == "Patient":
        # A sensitive patient's own record shows their details; everyone else outside the
        # registered practice (proxies included: coercion) gets demographics withheld.
        if lb.is_confidential(labels) and relation != SELF:
            return REDACT
        return SHOW
    if relation in (SELF, PROXY):
        if lb.is_hidden_from_patient(labels):
            return HIDE
        if relation == PROXY and not _proxy_type_ok(principal.access_level, resource_type):
            return HIDE
        return SHOW
    # care relationship, break-glass, system: cross-organisation sharing
    return HIDE if lb.is_confidential(labels) else SHOW
