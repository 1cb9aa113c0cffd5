"""The two synthetic GP practices, their clinicians, and the demo users that act on the demo data.

Everything here is fixed, whatever the seed, so the shared resources reload idempotently (PUT with
fixed ids) and security work can name its users: ``clinician-a`` works at practice A, ``clinician-b``
at practice B, ``patient-1`` is the first generated patient and ``proxy-1`` that patient's proxy.

The ODS codes are the fictitious practice codes the NHS PDS sandbox uses (Y12345, Y23456), so they
look real but belong to no practice. Telephone numbers are in Ofcom's drama ranges (0113 496 0xxx).
SDS ids start 5550 and are made up.
"""

from __future__ import annotations

from dataclasses import dataclass

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
SDS_USER_SYSTEM = "https://fhir.nhs.uk/Id/sds-user-id"
SDS_ROLE_PROFILE_SYSTEM = "https://fhir.nhs.uk/Id/sds-role-profile-id"
# Identifies resources that stand for a demo user (e.g. the proxy's RelatedPerson), so security
# code can find them after the server has assigned ids.
DEMO_USER_SYSTEM = "https://gpbridge.dev/Id/demo-user"


@dataclass(frozen=True)
class Practice:
    key: str  # "a" | "b"
    id: str  # Organization id
    ods_code: str
    name: str
    lines: tuple[str, ...]
    city: str
    district: str
    postcode: str
    phone: str
    location_id: str
    location_name: str


@dataclass(frozen=True)
class Clinician:
    id: str  # Practitioner id
    role_id: str  # PractitionerRole id
    practice: str  # Practice.key
    prefix: str
    given: tuple[str, ...]
    family: str
    gender: str
    sds_user_id: str
    sds_role_profile_id: str
    is_gp: bool  # False: practice nurse


PRACTICE_A = Practice(
    key="a",
    id="practice-a",
    ods_code="Y12345",
    name="Riverside Lane Medical Practice",
    lines=("Riverside Lane Medical Practice", "21 Riverside Lane"),
    city="Leeds",
    district="West Yorkshire",
    postcode="LS6 2QT",
    phone="0113 496 0100",
    location_id="location-a",
    location_name="Riverside Lane Medical Practice, main surgery",
)
PRACTICE_B = Practice(
    key="b",
    id="practice-b",
    ods_code="Y23456",
    name="Westgate Hill Surgery",
    lines=("Westgate Hill Surgery", "3 Westgate Hill"),
    city="Wakefield",
    district="West Yorkshire",
    postcode="WF1 2DX",
    phone="0113 496 0200",
    location_id="location-b",
    location_name="Westgate Hill Surgery",
)
PRACTICES = (PRACTICE_A, PRACTICE_B)

CLINICIANS: tuple[Clinician, ...] = (
    Clinician(
        "gp-a-1",
        "role-gp-a-1",
        "a",
        "Dr",
        ("Sarah",),
        "Okafor",
        "female",
        "555000000101",
        "555000000201",
        True,
    ),
    Clinician(
        "gp-a-2",
        "role-gp-a-2",
        "a",
        "Dr",
        ("James", "Edward"),
        "Whitfield",
        "male",
        "555000000102",
        "555000000202",
        True,
    ),
    Clinician(
        "gp-a-3",
        "role-gp-a-3",
        "a",
        "Dr",
        ("Priya",),
        "Raman",
        "female",
        "555000000103",
        "555000000203",
        True,
    ),
    Clinician(
        "nurse-a-1",
        "role-nurse-a-1",
        "a",
        "Mrs",
        ("Helen",),
        "Brook",
        "female",
        "555000000104",
        "555000000204",
        False,
    ),
    Clinician(
        "gp-b-1",
        "role-gp-b-1",
        "b",
        "Dr",
        ("Thomas",),
        "Ashworth",
        "male",
        "555000000105",
        "555000000205",
        True,
    ),
    Clinician(
        "nurse-b-1",
        "role-nurse-b-1",
        "b",
        "Mr",
        ("Daniel",),
        "Kowalski",
        "male",
        "555000000106",
        "555000000206",
        False,
    ),
)


def clinicians_at(practice: Practice) -> tuple[Clinician, ...]:
    return tuple(c for c in CLINICIANS if c.practice == practice.key)


def gps_at(practice: Practice) -> tuple[Clinician, ...]:
    return tuple(c for c in CLINICIANS if c.practice == practice.key and c.is_gp)


def nurse_at(practice: Practice) -> Clinician:
    return next(c for c in CLINICIANS if c.practice == practice.key and not c.is_gp)


def shared_references() -> frozenset[str]:
    """Every ``Type/id`` the shared bundle creates: what patient bundles may reference."""
    refs = {f"Organization/{p.id}" for p in PRACTICES} | {f"Location/{p.location_id}" for p in PRACTICES}
    refs |= {f"Practitioner/{c.id}" for c in CLINICIANS} | {
        f"PractitionerRole/{c.role_id}" for c in CLINICIANS
    }
    return frozenset(refs)


# ------------------------------------------------------------------------------------- demo users

# patient-1 and proxy-1 have fixed NHS numbers (valid Modulus 11, 999 test range) whatever the seed.
PATIENT_1_NHS_NUMBER = "9990000018"
PROXY_1_NHS_NUMBER = "9990000026"
PATIENT_1_NAME = ("Margaret", "Ann", "Whitaker")  # given, given, family
PATIENT_1_BIRTH_DATE = "1952-05-17"
PROXY_1_NAME = ("Claire", "Louise", "Hughes")  # patient-1's daughter, née Whitaker


@dataclass(frozen=True)
class DemoUser:
    user_id: str
    kind: str  # clinician | patient | proxy
    display_name: str
    ods_code: str  # the practice the user works at, or is registered with
    practitioner_id: str | None = None
    practitioner_role_id: str | None = None
    sds_user_id: str | None = None
    sds_role_profile_id: str | None = None
    nhs_number: str | None = None
    acts_for_nhs_number: str | None = None  # a proxy: whose record they may see


def _clinician_user(user_id: str, clinician: Clinician, practice: Practice) -> DemoUser:
    return DemoUser(
        user_id=user_id,
        kind="clinician",
        display_name=f"{clinician.prefix} {' '.join(clinician.given)} {clinician.family}",
        ods_code=practice.ods_code,
        practitioner_id=clinician.id,
        practitioner_role_id=clinician.role_id,
        sds_user_id=clinician.sds_user_id,
        sds_role_profile_id=clinician.sds_role_profile_id,
    )


DEMO_USERS: dict[str, DemoUser] = {
    "clinician-a": _clinician_user("clinician-a", CLINICIANS[0], PRACTICE_A),
    "clinician-b": _clinician_user("clinician-b", CLINICIANS[4], PRACTICE_B),
    "patient-1": DemoUser(
        user_id="patient-1",
        kind="patient",
        display_name=" ".join(PATIENT_1_NAME),
        ods_code=PRACTICE_A.ods_code,
        nhs_number=PATIENT_1_NHS_NUMBER,
    ),
    "proxy-1": DemoUser(
        user_id="proxy-1",
        kind="proxy",
        display_name=" ".join(PROXY_1_NAME),
        ods_code=PRACTICE_A.ods_code,
        nhs_number=PROXY_1_NHS_NUMBER,
        acts_for_nhs_number=PATIENT_1_NHS_NUMBER,
    ),
}
# patient-1's usual GP is clinician-a, so a "treating clinician" relationship holds for the demo.
PATIENT_1_GP = CLINICIANS[0]
