"""The authorisation matrix: roles x organisations x patients x resource types x interactions.

Expectations come from a table written here independently of ``security.rules`` (the spec in
docs/security.md), so a change to the rules that breaks the model fails here.
"""

from __future__ import annotations

import itertools

import pytest

from gpbridge.config import Settings
from gpbridge.security.audit import MemoryAuditSink
from gpbridge.security.policy import RequestContext, authorize
from gpbridge.security.principal import Principal
from gpbridge.security.rules import PatientFacts

ROLES = ("R8000", "R8001", "R8003", "R8008")
ORGS = ("Y12345", "Y23456")
PATIENTS = {
    "registered-a": PatientFacts("Patient/ra", "1", registered_ods="Y12345"),
    "registered-b": PatientFacts("Patient/rb", "2", registered_ods="Y23456"),
    "sensitive-a": PatientFacts("Patient/sa", "3", registered_ods="Y12345", sensitive=True),
    "dissented-b-cared-by-a": PatientFacts(
        "Patient/db", "4", registered_ods="Y23456", dissent=True, care_orgs=frozenset({"Y12345"})
    ),  # fmt: skip
    "cared-b-by-a": PatientFacts("Patient/cb", "5", registered_ods="Y23456", care_orgs=frozenset({"Y12345"})),
}
TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "AuditEvent", "Organization")
INTERACTIONS = ("read", "vread", "search", "create", "update", "delete")
READS = {"read", "vread", "search"}
ADMIN_TYPES = {"Patient", "Organization"}
NURSE_WRITES = {"Observation", "Condition"}
PATIENT_DATA = {"Patient", "Observation", "Condition", "MedicationRequest"}


class Directory:
    def facts(self, ref: str) -> PatientFacts | None:
        return next((f for f in PATIENTS.values() if f.ref == ref), None)


def role_permits(role: str, interaction: str, type_: str) -> bool:
    if type_ == "AuditEvent":
        return role == "R8008" and interaction in READS
    if role == "R8000":
        return interaction != "delete"
    if role == "R8001":
        return interaction in READS or (type_ in NURSE_WRITES and interaction != "delete")
    if role == "R8003":
        return interaction in READS
    return type_ in ADMIN_TYPES  # R8008


def relationship_permits(org: str, facts: PatientFacts) -> bool:
    if facts.registered_ods == org:
        return True
    if facts.dissent:
        return False
    return org in facts.care_orgs


CASES = list(itertools.product(ROLES, ORGS, PATIENTS, TYPES, INTERACTIONS))


def test_matrix_is_big_enough() -> None:
    assert len(CASES) >= 1000


def test_every_attempt_decided_as_specified_and_audited() -> None:
    settings = Settings(insecure_dev=False)
    sink = MemoryAuditSink()
    wrong = []
    for role, org, patient_key, type_, interaction in CASES:
        who = Principal(subject=f"{role}@{org}", roles=(role,), organisation=org, kind="user",
                        scopes=("user/*.read", "user/*.write"))  # fmt: skip
        context = RequestContext(settings, principal=who, audit=sink, patients=Directory())
        facts = PATIENTS[patient_key]
        patient = facts.ref if type_ in PATIENT_DATA else None
        decision = authorize(context, interaction, type_, patient=patient)
        expected = role_permits(role, interaction, type_) and (
            patient is None or relationship_permits(org, facts)
        )
        if decision.allowed != expected:
            wrong.append((role, org, patient_key, type_, interaction, decision.reason))
    assert not wrong, wrong[:10]
    assert len(sink.records) == len(CASES)
    assert sum(not r.allowed for r in sink.records) > 300  # the matrix exercises denial, not just allow


@pytest.mark.parametrize("kind", ["patient", "proxy"])
def test_patient_facing_matrix(kind: str) -> None:
    settings = Settings(insecure_dev=False)
    sink = MemoryAuditSink()
    attempts = 0
    for patient_key, type_, interaction in itertools.product(PATIENTS, TYPES, INTERACTIONS):
        who = Principal(subject="p", kind=kind, scopes=("patient/*.read",), nhs_number="1" if kind == "patient" else "9",
                        acts_for="1" if kind == "proxy" else None, access_level="summary")  # fmt: skip
        context = RequestContext(settings, principal=who, audit=sink, patients=Directory())
        facts = PATIENTS[patient_key]
        patient = facts.ref if type_ in PATIENT_DATA else None
        decision = authorize(context, interaction, type_, patient=patient)
        attempts += 1
        own = facts.nhs_number == "1"
        type_ok = kind == "patient" or type_ in {"Patient", "MedicationRequest", "AuditEvent", "Organization"}
        expected = interaction in READS and type_ok and (patient is None or own)
        assert decision.allowed == expected, (kind, patient_key, type_, interaction, decision.reason)
    assert len(sink.records) == attempts


def test_break_glass_allows_everything_but_dissent_override_is_flagged() -> None:
    settings = Settings(insecure_dev=False)
    sink = MemoryAuditSink()
    who = Principal(
        subject="c", roles=("R8000",), organisation="Y23456", kind="user", scopes=("user/*.read",)
    )
    context = RequestContext(settings, principal=who, audit=sink, patients=Directory(), break_glass="A&E")
    decision = authorize(context, "read", "Observation", patient="Patient/ra")
    assert decision.allowed and "break-glass" in decision.flags
    assert sink.records[-1].break_glass_reason == "A&E"


def test_no_principal_is_denied_and_dev_mode_allows() -> None:
    assert not authorize(RequestContext(Settings(insecure_dev=False)), "read", "Observation").allowed
    assert authorize(RequestContext(Settings(insecure_dev=True)), "read", "Observation").allowed
