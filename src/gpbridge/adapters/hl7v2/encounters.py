"""PV1 → Encounter (ADT A01/A03/A04/A08)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gpbridge.adapters.hl7v2 import datatypes as dt
from gpbridge.adapters.hl7v2.errors import REQUIRED_FIELD_MISSING, Hl7v2Error
from gpbridge.adapters.hl7v2.message import Segment

_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CLASS = {
    "E": ("EMER", "emergency"), "I": ("IMP", "inpatient encounter"), "O": ("AMB", "ambulatory"),
    "P": ("PRENC", "pre-admission"), "R": ("AMB", "ambulatory"), "B": ("AMB", "ambulatory"),
    "C": ("AMB", "ambulatory"), "N": ("AMB", "ambulatory"), "U": ("AMB", "ambulatory"),
}
#: trigger event -> Encounter.status
STATUS = {"A01": "in-progress", "A04": "arrived", "A03": "finished"}


def visit_identifier(pv1: Segment, facility: str) -> dict[str, str] | None:
    value = pv1.value(19)
    if not value:
        return None
    authority = pv1.value(19, 4) or facility
    return {"system": f"https://gpbridge.dev/Id/hl7v2-visit/{quote(authority, safe='')}", "value": value}


def encounter_from_pv1(pv1: Segment, event: str, facility: str, recorded: str | None) -> dict[str, Any]:
    identifier = visit_identifier(pv1, facility)
    if identifier is None:
        raise Hl7v2Error("the visit number identifies the encounter and is required", "PV1", 19,
                         hl7_code=REQUIRED_FIELD_MISSING)
    patient_class = dt.table_value(pv1, 2, {k: k for k in _CLASS}, "patient class (HL7 table 0004)")
    code, display = _CLASS[patient_class or "O"]
    start = dt.dtm(pv1, 44)
    end = dt.dtm(pv1, 45)
    status = STATUS.get(event) or ("finished" if end else "in-progress")
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [identifier],
        "status": status,
        "class": {"system": _ACT, "code": code, "display": display},
    }
    if event == "A03" and not end:
        end = recorded
    period = {k: v for k, v in (("start", start or (recorded if event in ("A01", "A04") else None)),
                                ("end", end)) if v}
    if period:
        encounter["period"] = period
    location = " ".join(p for p in (pv1.value(3, 4), pv1.value(3, 1), pv1.value(3, 2), pv1.value(3, 3)) if p)
    if location:
        encounter["location"] = [{"location": {"display": location}}]
    attending = [part for part in (pv1.value(7, 6), pv1.value(7, 3), pv1.value(7, 2)) if part]
    if attending:
        participant: dict[str, Any] = {"individual": {"display": " ".join(attending)}}
        if pv1.value(7, 1):
            participant["individual"]["identifier"] = {"value": pv1.value(7, 1)}
        participant["type"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                            "code": "ATND", "display": "attender"}]}]
        encounter["participant"] = [participant]
    service = pv1.value(10)
    if service:
        encounter["serviceType"] = {"text": service}
    return encounter
