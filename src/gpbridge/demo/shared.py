"""The shared resources every patient bundle references: practices, their sites, clinicians and roles.

Written as a transaction of PUTs with fixed ids, so loading it twice (or after another seed) changes
nothing. Each entry's fullUrl is a urn:uuid derived from the resource id, stable across runs.
"""

from __future__ import annotations

import uuid

from gpbridge.demo.build import JSON, codeable, ref, sct
from gpbridge.demo.codes import Concept
from gpbridge.demo.practices import (
    CLINICIANS,
    ODS_SYSTEM,
    PRACTICES,
    SDS_ROLE_PROFILE_SYSTEM,
    SDS_USER_SYSTEM,
    Clinician,
    Practice,
)

_NAMESPACE = uuid.UUID("6f1d3a52-2b8e-4c0e-9d55-7a3f0b6c9e21")  # fixed: fullUrls never change
GENERAL_PRACTITIONER = Concept("62247001", "General practitioner")
REGISTERED_NURSE = Concept("224535009", "Registered nurse")
PRACTICE_SETTING = "https://fhir.hl7.org.uk/CodeSystem/UKCore-PracticeSettingCode"


def shared_bundle() -> JSON:
    resources: list[JSON] = []
    for practice in PRACTICES:
        resources.append(_organization(practice))
        resources.append(_location(practice))
    for clinician in CLINICIANS:
        practice = next(p for p in PRACTICES if p.key == clinician.practice)
        resources.append(_practitioner(clinician, practice))
        resources.append(_role(clinician, practice))
    return {"resourceType": "Bundle", "type": "transaction", "entry": [_put(r) for r in resources]}


def _put(resource: JSON) -> JSON:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, url)}",
        "resource": resource,
        "request": {"method": "PUT", "url": url},
    }


def _address(practice: Practice) -> JSON:
    return {
        "use": "work",
        "type": "both",
        "line": list(practice.lines),
        "city": practice.city,
        "district": practice.district,
        "postalCode": practice.postcode,
        "country": "GB",
    }


def _organization(practice: Practice) -> JSON:
    return {
        "resourceType": "Organization",
        "id": practice.id,
        "identifier": [{"use": "official", "system": ODS_SYSTEM, "value": practice.ods_code}],
        "active": True,
        "type": [
            codeable("http://terminology.hl7.org/CodeSystem/organization-type", "prov", "Healthcare Provider")
        ],
        "name": practice.name,
        "telecom": [{"system": "phone", "value": practice.phone, "use": "work"}],
        "address": [_address(practice)],
    }


def _location(practice: Practice) -> JSON:
    return {
        "resourceType": "Location",
        "id": practice.location_id,
        "status": "active",
        "name": practice.location_name,
        "mode": "instance",
        "telecom": [{"system": "phone", "value": practice.phone, "use": "work"}],
        "address": _address(practice),
        "managingOrganization": ref(f"Organization/{practice.id}"),
    }


def _practitioner(clinician: Clinician, practice: Practice) -> JSON:
    return {
        "resourceType": "Practitioner",
        "id": clinician.id,
        "identifier": [{"system": SDS_USER_SYSTEM, "value": clinician.sds_user_id}],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": clinician.family,
                "given": list(clinician.given),
                "prefix": [clinician.prefix],
            }
        ],
        "telecom": [{"system": "phone", "value": practice.phone, "use": "work"}],
        "gender": clinician.gender,
    }


def _role(clinician: Clinician, practice: Practice) -> JSON:
    return {
        "resourceType": "PractitionerRole",
        "id": clinician.role_id,
        "identifier": [{"system": SDS_ROLE_PROFILE_SYSTEM, "value": clinician.sds_role_profile_id}],
        "active": True,
        "practitioner": ref(f"Practitioner/{clinician.id}"),
        "organization": ref(f"Organization/{practice.id}"),
        "code": [sct(GENERAL_PRACTITIONER if clinician.is_gp else REGISTERED_NURSE)],
        "specialty": [codeable(PRACTICE_SETTING, "600", "General Medical Practice")],
        "location": [ref(f"Location/{practice.location_id}")],
    }
