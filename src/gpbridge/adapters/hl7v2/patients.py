"""PID (+PD1) → Patient, and how a Patient from a message is matched and merged with the stored one."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gpbridge.adapters.common.bundle import identifier_criteria
from gpbridge.adapters.common.nhs_number import NHS_NUMBER_SYSTEM, check_nhs_number
from gpbridge.adapters.common.provenance import ODS_SYSTEM
from gpbridge.adapters.hl7v2 import datatypes as dt
from gpbridge.adapters.hl7v2.errors import DATA_TYPE_ERROR, REQUIRED_FIELD_MISSING, Hl7v2Error
from gpbridge.adapters.hl7v2.message import Segment

_GENDER = {"M": "male", "F": "female", "U": "unknown", "O": "other", "A": "other", "N": "unknown"}
_ID_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"


def identifiers(segment: Segment, n: int, facility: str) -> list[dict[str, Any]]:
    """CX repetitions: id^check digit^scheme^assigning authority^identifier type code."""
    out = []
    for rep in range(len(segment.repetitions(n))):
        value = segment.value(n, 1, rep)
        if not value:
            continue
        authority = segment.subcomponents(n, 4, rep)
        namespace = authority[0] if authority else ""
        universal = authority[1] if len(authority) > 1 else ""
        kind = segment.value(n, 5, rep).upper()
        if kind == "NH" or namespace.upper() in ("NHS", "NHSNBR", "NHS NUMBER"):
            try:
                value = check_nhs_number(value)
            except ValueError as exc:
                raise Hl7v2Error(f"invalid NHS number: {exc}", segment.name, n, sequence=segment.sequence,
                                 hl7_code=DATA_TYPE_ERROR) from None
            ident: dict[str, Any] = {"system": NHS_NUMBER_SYSTEM, "value": value}
        elif universal and (segment.subcomponents(n, 4, rep) + ["", "", ""])[2].upper() == "ISO":
            ident = {"system": f"urn:oid:{universal}", "value": value}
        else:
            ident = {"system": local_identifier_system(namespace or facility, kind), "value": value}
        if kind:
            ident["type"] = {"coding": [{"system": _ID_TYPE, "code": kind}]}
        out.append(ident)
    return out


def local_identifier_system(authority: str, kind: str) -> str:
    return f"https://gpbridge.dev/Id/hl7v2/{quote(authority or 'unknown', safe='')}/{quote(kind or 'id', safe='')}"


def match_criteria(identifier: dict[str, Any]) -> str:
    return identifier_criteria(identifier["system"], identifier["value"])


def primary_identifier(found: list[dict[str, Any]], segment: Segment, n: int) -> dict[str, Any]:
    """The identifier a message's patient is matched on: the NHS number when there is one."""
    if not found:
        raise Hl7v2Error("no patient identifier", segment.name, n, sequence=segment.sequence,
                         hl7_code=REQUIRED_FIELD_MISSING)
    return next((i for i in found if i["system"] == NHS_NUMBER_SYSTEM), found[0])


def patient_from_pid(pid: Segment, pd1: Segment | None, facility: str) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient"}
    found = identifiers(pid, 3, facility) + identifiers(pid, 2, facility)
    primary_identifier(found, pid, 3)
    patient["identifier"] = found
    names = dt.human_name(pid, 5)
    if names:
        patient["name"] = names
    telecom = dt.telecoms(pid, 13, "home") + dt.telecoms(pid, 14, "work")
    if telecom:
        patient["telecom"] = telecom
    gender = dt.table_value(pid, 8, _GENDER, "administrative sex")
    if gender:
        patient["gender"] = gender
    birth = dt.date_only(dt.dtm(pid, 7))
    if birth:
        patient["birthDate"] = birth
    died = dt.dtm(pid, 29)
    if died:
        patient["deceasedDateTime"] = died
    elif pid.value(30).upper() == "Y":
        patient["deceasedBoolean"] = True
    address = dt.addresses(pid, 11)
    if address:
        patient["address"] = address
    if pd1 is not None:
        practice = pd1.value(3, 3) or pd1.value(3, 10)  # XON: name^type^id number^...^organization identifier
        if practice:
            patient["generalPractitioner"] = [{"identifier": {"system": ODS_SYSTEM, "value": practice},
                                               "display": pd1.value(3, 1) or practice}]
    return patient


def merge_patient(incoming: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The stored Patient updated by a message: what the message says wins; what it does not
    mention (other identifiers, links from merges, data from other sources) is kept."""
    merged = dict(stored)
    for key, value in incoming.items():
        if key in ("identifier", "link", "meta", "id"):
            continue
        merged[key] = value
    merged["identifier"] = _union(stored.get("identifier", []), incoming.get("identifier", []),
                                  lambda i: (i.get("system"), i.get("value")))
    links = _union(stored.get("link", []), incoming.get("link", []),
                   lambda link: (link.get("other", {}).get("reference"), link.get("type")))
    if links:
        merged["link"] = links
    return merged


def _union(first: list[Any], second: list[Any], key: Any) -> list[Any]:
    out, seen = [], set()
    for item in [*first, *second]:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out
