"""A stored Patient as PDS returns it: the PDS Patient shape, restricted data withheld.

PDS's Patient is narrower than UK Core (its schema forbids other properties): the id *is* the
NHS number, one NHS identifier, name uses usual/temp/nickname/old/maiden, home/work/temp/billing
addresses, and the registered GP as an ODS-coded Organization. Restricted patients
(``meta.security`` R, v3-Confidentiality) lose address, telecom, contact and registered GP, as
PDS withholds them. A search returns less than a retrieval: usual, nickname and temporary names
and the home address only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gpbridge.identity.nhs_number import NHS_NUMBER_SYSTEM, is_valid_nhs_number
from gpbridge.identity.profile import PERSON_NHS_SYSTEM, VERIFICATION_EXTENSION

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
_SECURITY_DISPLAY = {"U": "unrestricted", "R": "restricted", "V": "restricted"}
_NAME_USES = {"usual": "usual", "official": "usual", "temp": "temp", "nickname": "nickname", "old": "old",
              "maiden": "maiden"}
_SEARCH_NAME_USES = frozenset({"usual", "temp", "nickname"})
_ADDRESS_USES = frozenset({"home", "work", "temp", "billing"})
_TELECOM_SYSTEMS = frozenset({"phone", "fax", "email", "other"})
_TELECOM_USES = frozenset({"home", "work", "temp", "mobile"})

#: resolves a generalPractitioner reference to an ODS code (reads the Organization), or None
OdsLookup = Callable[[dict[str, Any]], str | None]


def security_code(patient: dict[str, Any]) -> str:
    for label in (patient.get("meta") or {}).get("security") or ():
        if isinstance(label, dict) and label.get("system") == CONFIDENTIALITY and label.get("code") in ("R", "V", "REDACTED"):
            return str(label["code"])
    return "U"


def is_restricted(patient: dict[str, Any]) -> bool:
    return security_code(patient) in ("R", "V")


def nhs_numbers_of(patient: dict[str, Any]) -> list[str]:
    """Every valid NHS number on the Patient, in order."""
    out = []
    for ident in patient.get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") in (NHS_NUMBER_SYSTEM, PERSON_NHS_SYSTEM):
            value = str(ident.get("value", "")).replace(" ", "")
            if is_valid_nhs_number(value) and value not in out:
                out.append(value)
    return out


def nhs_number_of(patient: dict[str, Any]) -> str | None:
    numbers = nhs_numbers_of(patient)
    return numbers[0] if numbers else None


def render_patient(
    patient: dict[str, Any], nhs_number: str, ods_of: OdsLookup | None = None, *, search: bool = False
) -> dict[str, Any]:
    """The PDS Patient for a stored Patient (``search=True``: the reduced search-result form)."""
    meta = patient.get("meta") or {}
    code = security_code(patient)
    out: dict[str, Any] = {"resourceType": "Patient", "id": nhs_number, "identifier": [_identifier(patient, nhs_number)]}
    out["meta"] = {"versionId": str(meta.get("versionId", "1")),
                   "security": [{"system": CONFIDENTIALITY, "code": "R" if code == "V" else code,
                                 "display": _SECURITY_DISPLAY.get(code, "unrestricted")}]}
    names = [n for n in (_name(n) for n in patient.get("name") or () if isinstance(n, dict)) if n]
    if search:
        names = [n for n in names if n["use"] in _SEARCH_NAME_USES]
    if names:
        out["name"] = names
    if patient.get("gender") in ("male", "female", "other", "unknown"):
        out["gender"] = patient["gender"]
    if isinstance(patient.get("birthDate"), str):
        out["birthDate"] = patient["birthDate"]
    if isinstance(patient.get("multipleBirthInteger"), int):
        out["multipleBirthInteger"] = patient["multipleBirthInteger"]
    deceased = _deceased(patient.get("deceasedDateTime"))
    if deceased:
        out["deceasedDateTime"] = deceased
    if code in ("R", "V"):
        return out  # location-sensitive data withheld
    addresses = [a for a in (_address(a) for a in patient.get("address") or () if isinstance(a, dict)) if a]
    if search:
        addresses = [a for a in addresses if a["use"] == "home"][:1]
    if addresses:
        out["address"] = addresses
    telecom = [t for t in (_telecom(t) for t in patient.get("telecom") or () if isinstance(t, dict)) if t]
    if telecom:
        out["telecom"] = telecom
    gp = _general_practitioner(patient, ods_of)
    if gp:
        out["generalPractitioner"] = [gp]
    return out


def _identifier(patient: dict[str, Any], nhs_number: str) -> dict[str, Any]:
    out: dict[str, Any] = {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}
    for ident in patient.get("identifier") or ():
        if isinstance(ident, dict) and str(ident.get("value", "")).replace(" ", "") == nhs_number:
            ext = [e for e in ident.get("extension") or () if isinstance(e, dict) and e.get("url") == VERIFICATION_EXTENSION]
            if ext:
                out["extension"] = ext[:1]
            break
    return out


def _period(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or not isinstance(value.get("start"), str):
        return None  # PDS periods always have a start
    out = {"start": value["start"][:10]}
    if isinstance(value.get("end"), str):
        out["end"] = value["end"][:10]
    return out


def _name(entry: dict[str, Any]) -> dict[str, Any] | None:
    use = _NAME_USES.get(entry.get("use") or "usual")
    family = entry.get("family")
    if use is None or not isinstance(family, str) or not family:
        return None
    out: dict[str, Any] = {"use": use}
    period = _period(entry.get("period"))
    if period:
        out["period"] = period
    given = [g[:35] for g in entry.get("given") or () if isinstance(g, str) and g]
    if given:
        out["given"] = given
    out["family"] = family
    for part in ("prefix", "suffix"):
        values = [v for v in entry.get(part) or () if isinstance(v, str)]
        if values:
            out[part] = values
    return out


def _address(entry: dict[str, Any]) -> dict[str, Any] | None:
    use = entry.get("use") or "home"
    if use not in _ADDRESS_USES:
        return None
    out: dict[str, Any] = {"use": use}
    period = _period(entry.get("period"))
    if period:
        out["period"] = period
    lines = [ln for ln in entry.get("line") or () if isinstance(ln, str)]
    lines += [v for v in (entry.get("city"), entry.get("district")) if isinstance(v, str) and v not in lines]
    if lines:
        out["line"] = lines[:5]
    if isinstance(entry.get("postalCode"), str):
        out["postalCode"] = entry["postalCode"]
    return out


def _telecom(entry: dict[str, Any]) -> dict[str, Any] | None:
    system, value = entry.get("system"), entry.get("value")
    if system not in _TELECOM_SYSTEMS or not isinstance(value, str):
        return None
    out: dict[str, Any] = {}
    period = _period(entry.get("period"))
    if period:
        out["period"] = period
    out["system"], out["value"] = system, value
    if entry.get("use") in _TELECOM_USES:
        out["use"] = entry["use"]
    return out


def _general_practitioner(patient: dict[str, Any], ods_of: OdsLookup | None) -> dict[str, Any] | None:
    for ref in patient.get("generalPractitioner") or ():
        if not isinstance(ref, dict):
            continue
        ident = ref.get("identifier") or {}
        code = ident.get("value") if ident.get("system") == ODS_SYSTEM else None
        if code is None and ods_of is not None and str(ref.get("reference", "")).startswith("Organization/"):
            code = ods_of(ref)
        if code:
            return {"type": "Organization", "identifier": {"system": ODS_SYSTEM, "value": str(code).upper()}}
    return None


def ods_code_of(ref: dict[str, Any], read: Callable[[str], dict[str, Any] | None]) -> str | None:
    """The ODS code of the Organization a reference points at (``read`` fetches it)."""
    org = read(str(ref.get("reference", "")).split("/", 1)[-1])
    for ident in (org or {}).get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") == ODS_SYSTEM and ident.get("value"):
            return str(ident["value"])
    return None


def _deceased(value: Any) -> str | None:
    """PDS dates of death: ``YYYY-MM-DDTHH:MM:SS+00:00`` (UTC) or a plain date."""
    if not isinstance(value, str):
        return None
    if len(value) == 10:
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value[:10] if len(value) >= 10 else None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
