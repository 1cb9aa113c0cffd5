"""The GP Connect consumer JWT: checked claim by claim, accepted only on the GP Connect operation
and only from a configured trusted proxy (the SSP), its claims kept for the audit.

GP Connect JWTs are unsigned (``alg: none``) by specification: the Spine Secure Proxy
authenticates the consumer system with TLS mutual authentication, which is why the request must
come from a trusted proxy address — the token itself proves nothing and is only *validated*.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import orjson

from gpbridge.fhir.outcome import FhirError
from gpbridge.security.principal import HEALTH_PROFESSIONAL, Principal

AUDIENCE = "https://authorize.fhir.nhs.net/token"
REASONS = ("directcare", "migration")
SCOPES = ("patient/*.read", "organization/*.read", "patient/*.write", "organization/*.write")
SDS_USER = "https://fhir.nhs.uk/Id/sds-user-id"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


@dataclass(frozen=True)
class GpConnectClaims:
    requesting_system: str  # requesting_device identifier value
    organisation_ods: str
    practitioner_sds: str
    reason: str
    scope: str
    raw: dict[str, Any]


def _bad(message: str) -> FhirError:
    return FhirError.of(400, "invalid", f"Invalid GP Connect JWT: {message}")


def _part(segment: str) -> dict[str, Any]:
    try:
        return dict(orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))
    except (ValueError, orjson.JSONDecodeError):
        raise _bad("not base64url JSON") from None


def _identifier(resource: Any, system: str, what: str) -> str:
    if not isinstance(resource, dict):
        raise _bad(f"{what} is missing")
    for ident in resource.get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") == system and ident.get("value"):
            return str(ident["value"])
    raise _bad(f"{what} has no {system} identifier")


def verify_gpconnect_jwt(
    token: str,
    *,
    source_ip: str | None,
    trusted_proxies: tuple[str, ...],
    operation: bool,
    now: float | None = None,
) -> GpConnectClaims:
    if not operation:
        raise FhirError.of(
            403, "forbidden", "The GP Connect JWT is accepted only on the GP Connect operation"
        )
    if not source_ip or source_ip not in trusted_proxies:
        raise FhirError.of(403, "forbidden", "GP Connect requests must come through the trusted proxy")
    parts = token.split(".")
    if len(parts) != 3:
        raise _bad("not a compact JWT")
    header, claims = _part(parts[0]), _part(parts[1])
    if header.get("alg") != "none" or parts[2]:
        raise _bad("GP Connect JWTs are unsigned (alg none, empty signature)")
    now = time.time() if now is None else now
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat != 300:
        raise _bad("exp must be exactly iat + 300")
    if iat > now + 30 or exp < now - 30:
        raise _bad("expired or issued in the future")
    if claims.get("aud") != AUDIENCE:
        raise _bad(f"aud must be {AUDIENCE}")
    if claims.get("reason_for_request") not in REASONS:
        raise _bad(f"reason_for_request must be one of {', '.join(REASONS)}")
    if claims.get("requested_scope") not in SCOPES:
        raise _bad("requested_scope is not a GP Connect scope")
    if not claims.get("iss"):
        raise _bad("iss is missing")
    device = claims.get("requesting_device")
    if not isinstance(device, dict) or device.get("resourceType") != "Device":
        raise _bad("requesting_device must be a Device")
    system = next((i.get("value") for i in device.get("identifier") or () if isinstance(i, dict)), None)
    if not system:
        raise _bad("requesting_device has no identifier")
    org = claims.get("requesting_organization")
    if not isinstance(org, dict) or org.get("resourceType") != "Organization":
        raise _bad("requesting_organization must be an Organization")
    practitioner = claims.get("requesting_practitioner")
    if not isinstance(practitioner, dict) or practitioner.get("resourceType") != "Practitioner":
        raise _bad("requesting_practitioner must be a Practitioner")
    if claims.get("sub") != practitioner.get("id"):
        raise _bad("sub must equal requesting_practitioner.id")
    return GpConnectClaims(
        requesting_system=str(system),
        organisation_ods=_identifier(org, ODS, "requesting_organization"),
        practitioner_sds=_identifier(practitioner, SDS_USER, "requesting_practitioner"),
        reason=str(claims["reason_for_request"]),
        scope=str(claims["requested_scope"]),
        raw=claims,
    )


def principal_from_gpconnect(claims: GpConnectClaims) -> Principal:
    """A GP Connect consumer as a read-only health professional of the requesting organisation:
    the relationship, dissent and confidentiality rules then apply exactly as to any other user."""
    return Principal(
        subject=claims.practitioner_sds,
        roles=(HEALTH_PROFESSIONAL,),
        organisation=claims.organisation_ods,
        kind="user",
        scopes=("user/*.read",),
        client_id=claims.requesting_system,
    )
