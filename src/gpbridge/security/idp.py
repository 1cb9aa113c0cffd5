"""The built-in identity provider for development and demos: the demo users, as tokens.

Claims mirror what the real providers send so the same verification path handles both:
CIS2 for staff (``nhsid_nrbac_roles`` with national RBAC codes, ``selected_roleid``, org ODS code),
NHS login for patients (``nhs_number``, ``identity_proofing_level`` P9) plus the proxy grant.
``mint_token_command`` is what ``gpbridge token --client ID | --user USER`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpbridge.config import Settings
from gpbridge.demo.practices import DEMO_USER_SYSTEM, DEMO_USERS, PRACTICE_A, nurse_at
from gpbridge.security import principal as p
from gpbridge.security.clients import find_client
from gpbridge.security.tokens import issue_access_token

USER_SCOPES = ("user/*.read", "user/*.write")
PATIENT_SCOPES = ("patient/*.read",)
_ROLE_NAMES = {code: f"{name} Access Role" for code, name in p.ROLE_NAMES.items()}


@dataclass(frozen=True)
class StaffUser:
    user_id: str
    role: str
    ods_code: str
    sds_user_id: str
    role_profile: str
    display_name: str = ""


# The issue's four demo users, plus a nurse and a privacy officer so every role can be tried.
STAFF: dict[str, StaffUser] = {
    uid: StaffUser(
        uid, p.CLINICAL_PRACTITIONER, u.ods_code, u.sds_user_id or uid, u.sds_role_profile_id or uid,
        u.display_name,
    )
    for uid, u in DEMO_USERS.items()
    if u.kind == "clinician"
}
_NURSE = nurse_at(PRACTICE_A)
STAFF["nurse-a"] = StaffUser(
    "nurse-a", p.NURSE, PRACTICE_A.ods_code, _NURSE.sds_user_id, _NURSE.sds_role_profile_id,
    f"{_NURSE.prefix} {' '.join(_NURSE.given)} {_NURSE.family}",
)
STAFF["admin-a"] = StaffUser(
    "admin-a", p.ADMIN, PRACTICE_A.ods_code, "555000000199", "555000000299", "Alex Admin (privacy officer)"
)
PROXY_ACCESS_LEVEL = {"proxy-1": "full"}


def user_claims(user_id: str) -> dict[str, Any]:
    staff = STAFF.get(user_id)
    if staff is not None:
        role = {
            "person_roleid": staff.role_profile,
            "org_code": staff.ods_code,
            "role_code": f"S0010:G0020:{staff.role}",
            "role_name": _ROLE_NAMES[staff.role],
        }
        return {
            "sub": staff.sds_user_id, "nhsid_useruid": staff.sds_user_id, "name": staff.display_name or user_id,
            "nhsid_nrbac_roles": [role], "selected_roleid": staff.role_profile, "gpbridge_kind": "user",
        }  # fmt: skip
    demo = DEMO_USERS.get(user_id)
    if demo is None or demo.kind not in ("patient", "proxy"):
        raise KeyError(f"no built-in user {user_id!r}; known: {', '.join(sorted([*STAFF, *DEMO_USERS]))}")
    claims: dict[str, Any] = {
        "sub": user_id, "name": demo.display_name, "nhs_number": demo.nhs_number,
        "identity_proofing_level": "P9", "gpbridge_kind": demo.kind,
    }  # fmt: skip
    if demo.kind == "proxy":
        claims["act_for"] = {
            "nhs_number": demo.acts_for_nhs_number,
            "related_person": f"RelatedPerson?identifier={DEMO_USER_SYSTEM}|{user_id}",
            "access_level": PROXY_ACCESS_LEVEL.get(user_id, "summary"),
        }
    return claims


def default_scopes(claims: dict[str, Any]) -> tuple[str, ...]:
    return USER_SCOPES if claims.get("gpbridge_kind") == "user" else PATIENT_SCOPES


def mint_user_token(settings: Settings, user_id: str, scopes: tuple[str, ...] | None = None) -> str:
    claims = user_claims(user_id)
    return issue_access_token(settings, claims, scopes or default_scopes(claims))[0]


def mint_client_token(settings: Settings, client_id: str, scopes: tuple[str, ...] | None = None) -> str:
    """A system token for a registered client (or, for dev, any id with the scopes given)."""
    client = find_client(settings, client_id)
    granted = scopes or (client.scopes if client else ("system/*.read",))
    claims = {"sub": client_id, "client_id": client_id, "gpbridge_kind": "system"}
    return issue_access_token(settings, claims, granted)[0]


def mint_token_command(
    settings: Settings, *, client: str | None = None, user: str | None = None, scope: str | None = None
) -> str:
    """``gpbridge token --client ID | --user USER [--scope "..."]``: the bare access token."""
    if (client is None) == (user is None):
        raise ValueError("give exactly one of --client or --user")
    scopes = tuple(scope.split()) if scope else None
    if user is not None:
        return mint_user_token(settings, user, scopes)
    return mint_client_token(settings, client or "", scopes)
