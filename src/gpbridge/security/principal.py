"""Who is asking: the authenticated identity a bearer token stands for.

Built by ``api.auth`` from a verified access token (or by tests directly); read by the policy.
One flat record for every kind of caller so the decision table can match on ``kind`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

# National RBAC role codes (CIS2 role profiles) the policy knows.
CLINICAL_PRACTITIONER = "R8000"
NURSE = "R8001"
HEALTH_PROFESSIONAL = "R8003"
ADMIN = "R8008"
NATIONAL_ROLES = (CLINICAL_PRACTITIONER, NURSE, HEALTH_PROFESSIONAL, ADMIN)
ROLE_NAMES = {CLINICAL_PRACTITIONER: "Clinical Practitioner", NURSE: "Nurse",
              HEALTH_PROFESSIONAL: "Health Professional", ADMIN: "Admin / privacy officer"}  # fmt: skip

KINDS = ("user", "system", "patient", "proxy")


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: tuple[str, ...] = ()
    organisation: str | None = None  # ODS code of the user's organisation (CIS2 role profile)
    kind: str = "user"  # user (CIS2 staff) | system (client_credentials) | patient | proxy
    scopes: tuple[str, ...] = ()  # SMART scopes granted to the token
    client_id: str | None = None
    nhs_number: str | None = None  # patient: their own (P9); proxy: the proxy's own
    acts_for: str | None = None  # proxy: NHS number of the patient they act for
    related_person: str | None = None  # proxy: RelatedPerson reference
    access_level: str | None = None  # proxy: full | summary | appointments
    role_profile: str | None = None  # SDS role profile id, for the audit
    name: str | None = None  # display name from the identity provider, for audit views
