"""Facts about patients, read from the store for the policy: registration, sensitivity, dissent,
care relationships, and which patient a resource belongs to.

A ``PatientDirectory`` lives for one request: it caches what it has read so a search page of 50
Observations for one patient costs one set of look-ups, and a later request sees fresh data.
"""

from __future__ import annotations

from typing import Any

import orjson

from gpbridge.fhir.outcome import FhirError
from gpbridge.search.parse import parse_search
from gpbridge.security import labels as lb
from gpbridge.security.rules import PatientFacts

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
# Reference elements that place a resource in a patient's compartment, most common first.
_PATIENT_FIELDS = ("subject", "patient", "beneficiary", "individual", "for")
_LOOKUP_LIMIT = 1000


def patient_of(resource: dict[str, Any]) -> str | None:
    """The ``Patient/id`` a resource belongs to, or None for non-patient data."""
    type_ = resource.get("resourceType")
    if type_ == "Patient":
        return f"Patient/{resource.get('id')}"
    for name in _PATIENT_FIELDS:
        ref = _ref(resource.get(name))
        if ref and ref.startswith("Patient/"):
            return ref
    for participant in resource.get("participant") or ():  # Appointment, Encounter
        ref = _ref(participant.get("actor") if isinstance(participant, dict) else None)
        if ref and ref.startswith("Patient/"):
            return ref
    return None


def _ref(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        ref = value.get("reference")
        return ref if isinstance(ref, str) else None
    return None


class PatientDirectory:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._facts: dict[str, PatientFacts | None] = {}
        self._ods: dict[str, str | None] = {}
        self._by_nhs: dict[str, list[str]] = {}
        # per ODS code: patients in scope through a care relationship only (filled by
        # ``patients_of_organisation``); their confidential items are hidden, so not counted
        self.cross_org: dict[str, frozenset[str]] = {}
        self._of_org: dict[str, list[str]] = {}

    # -- single patients -------------------------------------------------------------------
    def facts(self, ref: str) -> PatientFacts | None:
        if ref not in self._facts:
            self._facts[ref] = self._load(ref)
        return self._facts[ref]

    def _load(self, ref: str) -> PatientFacts | None:
        resource = self._read(ref)
        if resource is None:
            return None
        nhs = next(
            (
                i.get("value")
                for i in resource.get("identifier") or ()
                if i.get("system") == NHS_NUMBER_SYSTEM
            ),
            None,
        )
        registered = None
        for gp in resource.get("generalPractitioner") or ():
            target = _ref(gp)
            if target and target.startswith("Organization/"):
                registered = self.ods_code(target)
                break
        return PatientFacts(
            ref=ref,
            nhs_number=nhs,
            registered_ods=registered,
            sensitive=lb.is_confidential(lb.codes(resource)),
            dissent=self._dissent(ref),
            care_orgs=self._care_orgs(ref),
        )

    def ods_code(self, org_ref: str) -> str | None:
        if org_ref not in self._ods:
            org = self._read(org_ref)
            ids = (org or {}).get("identifier") or ()
            self._ods[org_ref] = next((i.get("value") for i in ids if i.get("system") == ODS_SYSTEM), None)
        return self._ods[org_ref]

    def _dissent(self, ref: str) -> bool:
        for consent in self._search("Consent", [("patient", ref), ("status", "active")]):
            provision = consent.get("provision") or {}
            if provision.get("type") == "deny":
                return True
        return False

    def _care_orgs(self, ref: str) -> frozenset[str]:
        orgs: set[str] = set()
        for episode in self._search("EpisodeOfCare", [("patient", ref), ("status", "active")]):
            orgs.add(_ref(episode.get("managingOrganization")) or "")
        for team in self._search("CareTeam", [("patient", ref), ("status", "active")]):
            orgs.update(_ref(o) or "" for o in team.get("managingOrganization") or ())
            orgs.update(_ref(pt.get("member")) or "" for pt in team.get("participant") or ())
        # An accepted referral: the receiving organisation now cares for the patient.
        for request in self._search("ServiceRequest", [("patient", ref), ("status", "active")]):
            orgs.update(_ref(pf) or "" for pf in request.get("performer") or ())
        codes = {self.ods_code(o) for o in orgs if o.startswith("Organization/")}
        return frozenset(c for c in codes if c)

    # -- compartments for search restriction ---------------------------------------------------
    def patients_with_nhs_number(self, nhs_number: str) -> list[str]:
        if nhs_number not in self._by_nhs:
            found = self._search("Patient", [("identifier", f"{NHS_NUMBER_SYSTEM}|{nhs_number}")])
            self._by_nhs[nhs_number] = [f"Patient/{r['id']}" for r in found]
        return self._by_nhs[nhs_number]

    def patients_of_organisation(self, ods: str) -> list[str]:
        """Patients registered at, or in an active care relationship with, organisation ``ods``."""
        if ods not in self._of_org:
            self._of_org[ods] = self._of_organisation(ods)
        return self._of_org[ods]

    def _of_organisation(self, ods: str) -> list[str]:
        orgs = [
            f"Organization/{o['id']}"
            for o in self._search("Organization", [("identifier", f"{ODS_SYSTEM}|{ods}")])
        ]
        if not orgs:
            return []
        joined = ",".join(orgs)
        refs = {f"Patient/{r['id']}" for r in self._search("Patient", [("general-practitioner", joined)])}
        related: set[str] = set()
        for type_, param in (("EpisodeOfCare", "organization"), ("ServiceRequest", "performer")):
            for r in self._search(type_, [(param, joined), ("status", "active")]):
                related.add(_ref(r.get("patient") or r.get("subject")) or "")
        for r in self._search("CareTeam", [("participant", joined), ("status", "active")]):
            related.add(_ref(r.get("subject")) or "")
        cross = set()
        for ref in related - refs:
            facts = self.facts(ref) if ref.startswith("Patient/") else None
            if facts is not None and not facts.dissent:
                cross.add(ref)
        self.cross_org[ods] = frozenset(cross)
        return sorted(refs | cross)

    def is_cross_org(self, ref: str, ods: str | None) -> bool:
        """True when ``ref`` is in scope for ``ods`` but not registered there (care, break-glass)."""
        facts = self.facts(ref)
        return facts is not None and facts.registered_ods != ods

    # -- store access ----------------------------------------------------------------------
    def _read(self, ref: str) -> dict[str, Any] | None:
        type_, _, id_ = ref.partition("/")
        try:
            stored = self.store.read(type_, id_)
        except FhirError:
            return None
        return orjson.loads(stored.content) if stored.content else None

    def _search(self, type_: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        query = parse_search(type_, params, default_count=_LOOKUP_LIMIT, max_count=_LOOKUP_LIMIT)
        query.total = "none"
        result = self.store.search(query)
        return [orjson.loads(m.content) for m in result.matches if m.content]
