"""The GP Connect consumer JWT: every claim validated; only on the operation, only via the proxy."""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
import pytest

from gpbridge.fhir.outcome import FhirError
from gpbridge.security.gpconnect import verify_gpconnect_jwt

PROXY = ("10.0.0.5",)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "https://consumer.example", "sub": "p1", "aud": "https://authorize.fhir.nhs.net/token",
        "iat": now, "exp": now + 300, "reason_for_request": "directcare", "requested_scope": "patient/*.read",
        "requesting_device": {"resourceType": "Device", "identifier": [{"system": "x", "value": "dev-1"}]},
        "requesting_organization": {"resourceType": "Organization",
                                    "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y23456"}]},
        "requesting_practitioner": {"resourceType": "Practitioner", "id": "p1",
                                    "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "555000000105"}]},
    }  # fmt: skip
    return base | override


def token(body: dict[str, Any], alg: str = "none", sig: str = "") -> str:
    return f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(body)}.{sig}"


def test_valid_token_gives_claims_for_the_audit() -> None:
    got = verify_gpconnect_jwt(token(claims()), source_ip="10.0.0.5", trusted_proxies=PROXY, operation=True)
    assert (got.organisation_ods, got.practitioner_sds, got.requesting_system) == (
        "Y23456",
        "555000000105",
        "dev-1",
    )


def test_only_on_the_operation_and_only_via_the_proxy() -> None:
    with pytest.raises(FhirError):
        verify_gpconnect_jwt(token(claims()), source_ip="10.0.0.5", trusted_proxies=PROXY, operation=False)
    with pytest.raises(FhirError):
        verify_gpconnect_jwt(token(claims()), source_ip="192.0.2.1", trusted_proxies=PROXY, operation=True)


@pytest.mark.parametrize(
    "override",
    [
        {"aud": "https://elsewhere"},
        {"exp": int(time.time()) + 3600},
        {"iat": int(time.time()) - 3600, "exp": int(time.time()) - 3300},
        {"reason_for_request": "curiosity"},
        {"requested_scope": "user/*.read"},
        {"sub": "someone-else"},
        {"requesting_device": {"resourceType": "Device"}},
        {"requesting_organization": {"resourceType": "Organization", "identifier": []}},
        {"requesting_practitioner": {"resourceType": "Patient", "id": "p1"}},
        {"iss": ""},
    ],
)
def test_every_claim_is_checked(override: dict[str, Any]) -> None:
    with pytest.raises(FhirError):
        verify_gpconnect_jwt(
            token(claims(**override)), source_ip="10.0.0.5", trusted_proxies=PROXY, operation=True
        )


def test_signed_or_malformed_tokens_are_refused() -> None:
    with pytest.raises(FhirError):
        verify_gpconnect_jwt(
            token(claims(), alg="RS512", sig="abc"),
            source_ip="10.0.0.5",
            trusted_proxies=PROXY,
            operation=True,
        )
    with pytest.raises(FhirError):
        verify_gpconnect_jwt("not.a-jwt", source_ip="10.0.0.5", trusted_proxies=PROXY, operation=True)


def test_gpconnect_consumer_is_subject_to_the_relationship_rules() -> None:
    from gpbridge.config import Settings
    from gpbridge.security.gpconnect import principal_from_gpconnect
    from gpbridge.security.policy import RequestContext, authorize
    from gpbridge.security.rules import PatientFacts

    who = principal_from_gpconnect(
        verify_gpconnect_jwt(token(claims()), source_ip="10.0.0.5", trusted_proxies=PROXY, operation=True)
    )

    class Directory:
        def facts(self, ref: str) -> PatientFacts:
            return PatientFacts(
                ref, "1", registered_ods="Y12345", dissent=True, care_orgs=frozenset({"Y23456"})
            )

    context = RequestContext(Settings(insecure_dev=False), principal=who, patients=Directory())
    decision = authorize(
        context, "operation", "Patient", "x", patient="Patient/x", operation="gpc.getstructuredrecord"
    )
    assert not decision.allowed and "dissent" in decision.flags  # -> NO_PATIENT_CONSENT
