"""ORU^R01: OBR (+ its OBX and NTE) → DiagnosticReport + Observations with units and ranges."""

from __future__ import annotations

import re
from typing import Any

from gpbridge.adapters.common.concepts import build_concept
from gpbridge.adapters.hl7v2 import datatypes as dt
from gpbridge.adapters.hl7v2.errors import REQUIRED_FIELD_MISSING, TABLE_VALUE_NOT_FOUND, Hl7v2Error
from gpbridge.adapters.hl7v2.message import Segment

_NOTE_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
#: OBR-25 result status (HL7 table 0123) -> DiagnosticReport.status
REPORT_STATUS = {"F": "final", "P": "preliminary", "C": "corrected", "A": "partial", "R": "registered",
                 "I": "registered", "O": "registered", "S": "partial", "X": "cancelled", "Y": "unknown",
                 "Z": "unknown"}
#: OBX-11 observation result status (HL7 table 0085) -> Observation.status
OBSERVATION_STATUS = {"F": "final", "P": "preliminary", "C": "corrected", "D": "entered-in-error",
                      "W": "entered-in-error", "X": "cancelled", "R": "registered", "I": "registered",
                      "S": "preliminary", "U": "final", "N": "unknown", "A": "amended", "O": "registered"}
#: OBX-8 abnormal flags (HL7 table 0078) -> v3 ObservationInterpretation
FLAGS = {"H": "High", "L": "Low", "HH": "Critical high", "LL": "Critical low", "N": "Normal", "A": "Abnormal",
         "AA": "Critical abnormal", "<": "Off scale low", ">": "Off scale high", "I": "Intermediate",
         "R": "Resistant", "S": "Susceptible", "U": "Significant change up", "D": "Significant change down",
         "B": "Better", "W": "Worse", "POS": "Positive", "NEG": "Negative", "IND": "Indeterminate"}
_RANGE = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*\Z")
_BOUND = re.compile(r"\s*([<>]=?)\s*(-?\d+(?:\.\d+)?)\s*\Z")


class ReportContext:
    """What every OBX of one report shares, so each observation needs only its own segment."""

    def __init__(self, translation: Any, obr: Segment, patient: str, facility: str) -> None:
        self.t = translation
        self.obr = obr
        self.patient = patient
        self.facility = facility
        self.observed = dt.dtm(obr, 7)


def concept(t: Any, segment: Segment, n: int, resource: dict[str, Any], facility: str) -> dict[str, Any] | None:
    source, text = dt.coded(segment, n, facility)
    built, flag = build_concept(source, text, t.mapper, t.quality, f"{segment.name}-{n}")
    if flag:
        t.quality.flag(resource, flag)
    return built


def report(rc: ReportContext, identifier: dict[str, str]) -> dict[str, Any]:
    obr = rc.obr
    resource: dict[str, Any] = {"resourceType": "DiagnosticReport", "identifier": [identifier]}
    status = obr.value(25).upper()
    if status and status not in REPORT_STATUS:
        raise Hl7v2Error(f"{status!r} is not a result status (HL7 table 0123)", "OBR", 25, sequence=obr.sequence,
                         hl7_code=TABLE_VALUE_NOT_FOUND)
    resource["status"] = REPORT_STATUS.get(status, "final")
    resource["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                         "code": obr.value(24) or "LAB"}]}]
    code = concept(rc.t, obr, 4, resource, rc.facility)
    if code is None:
        raise Hl7v2Error("universal service identifier is required", "OBR", 4, sequence=obr.sequence,
                         hl7_code=REQUIRED_FIELD_MISSING)
    resource["code"] = code
    resource["subject"] = {"reference": rc.patient}
    if rc.observed:
        resource["effectiveDateTime"] = rc.observed
    issued = dt.dtm(obr, 22)
    if issued and "T" in issued:
        resource["issued"] = issued
    return resource


def report_identifier(obr: Segment, facility: str, control_id: str) -> dict[str, str]:
    """OBR-3 filler order number (else OBR-2 placer) scoped by its namespace."""
    for n, kind in ((3, "filler"), (2, "placer")):
        value = obr.value(n)
        if value:
            namespace = obr.value(n, 2) or obr.value(n, 3) or facility
            return {"system": f"https://gpbridge.dev/Id/hl7v2-{kind}/{_slug(namespace)}", "value": value}
    return {"system": f"https://gpbridge.dev/Id/hl7v2-message/{_slug(facility)}", "value": f"{control_id}-{obr.sequence}"}


def observation(rc: ReportContext, obx: Segment) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation"}
    status = obx.value(11).upper()
    if not status:
        raise Hl7v2Error("observation result status is required", "OBX", 11, sequence=obx.sequence,
                         hl7_code=REQUIRED_FIELD_MISSING)
    if status not in OBSERVATION_STATUS:
        raise Hl7v2Error(f"{status!r} is not an observation result status (HL7 table 0085)", "OBX", 11,
                         sequence=obx.sequence, hl7_code=TABLE_VALUE_NOT_FOUND)
    obs["status"] = OBSERVATION_STATUS[status]
    obs["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "laboratory"}]}]
    code = concept(rc.t, obx, 3, obs, rc.facility)
    if code is None:
        raise Hl7v2Error("observation identifier is required", "OBX", 3, sequence=obx.sequence,
                         hl7_code=REQUIRED_FIELD_MISSING)
    obs["code"] = code
    obs["subject"] = {"reference": rc.patient}
    when = dt.dtm(obx, 14) or rc.observed
    if when:
        obs["effectiveDateTime"] = when
    unit = _unit(obx)
    obs.update(_value(rc, obx, obs, unit))
    interpretation = _interpretation(obx)
    if interpretation:
        obs["interpretation"] = interpretation
    reference_range = _range(obx, unit)
    if reference_range:
        obs["referenceRange"] = [reference_range]
    return obs


def _value(rc: ReportContext, obx: Segment, obs: dict[str, Any], unit: dict[str, str] | None) -> dict[str, Any]:
    kind = obx.value(2).upper()
    reps = obx.repetitions(5)
    if not reps or not any(reps):
        return {}
    if kind == "NM":
        quantity: dict[str, Any] = {"value": dt.number(obx, 5, obx.value(5))}
        return {"valueQuantity": {**quantity, **(unit or {})}}
    if kind == "SN":  # comparator^num1^separator^num2
        comparator, first, separator, second = (obx.components(5) + ["", "", "", ""])[:4]
        if separator.strip() in ("-", ":", "/") and second.strip():
            return {"valueString": obx.unescape(reps[0]).replace(obx.seps.component, "")}
        value: dict[str, Any] = {"value": dt.number(obx, 5, first.strip())}
        if comparator.strip() in ("<", "<=", ">", ">="):
            value["comparator"] = comparator.strip()
        return {"valueQuantity": {**value, **(unit or {})}}
    if kind in ("CE", "CWE", "CNE"):
        coded = concept(rc.t, obx, 5, obs, rc.facility)
        return {"valueCodeableConcept": coded} if coded else {}
    if kind in ("DT", "TS", "DTM"):
        when = dt.dtm(obx, 5)
        return {"valueDateTime": when} if when else {}
    if kind in ("ST", "TX", "FT", "", "ID", "IS"):
        text = "\n".join(obx.unescape(r) for r in reps).strip()
        return {"valueString": text} if text else {}
    if kind in ("ED", "RP"):  # encapsulated data / reference pointer: keep the text, the archive has the bytes
        return {"valueString": f"[{kind} content kept in the archived message]"}
    raise Hl7v2Error(f"value type {kind!r} is not supported (HL7 table 0125)", "OBX", 2, sequence=obx.sequence,
                     hl7_code=TABLE_VALUE_NOT_FOUND)


def _unit(obx: Segment) -> dict[str, str] | None:
    code = obx.value(6, 1)
    if not code:
        return None
    text = obx.value(6, 2) or code
    system = obx.value(6, 3).upper()
    if system in ("UCUM", "ISO+", "ANS+", ""):
        return {"unit": text, "system": "http://unitsofmeasure.org", "code": code} if system == "UCUM" \
            else {"unit": text}
    return {"unit": text}


def _interpretation(obx: Segment) -> list[dict[str, Any]]:
    out = []
    for rep in range(len(obx.repetitions(8))):
        flag = obx.value(8, 1, rep).upper()
        if not flag:
            continue
        if flag not in FLAGS:
            raise Hl7v2Error(f"{flag!r} is not an abnormal flag (HL7 table 0078)", "OBX", 8, sequence=obx.sequence,
                             hl7_code=TABLE_VALUE_NOT_FOUND)
        out.append({"coding": [{"system": _INTERPRETATION, "code": flag, "display": FLAGS[flag]}]})
    return out


def _range(obx: Segment, unit: dict[str, str] | None) -> dict[str, Any] | None:
    text = obx.value(7)
    if not text:
        return None
    m = _RANGE.match(text)
    if m:
        return {"low": {"value": _num(m.group(1)), **(unit or {})}, "high": {"value": _num(m.group(2)), **(unit or {})},
                "text": text}
    m = _BOUND.match(text)
    if m:
        side = "high" if m.group(1).startswith("<") else "low"
        return {side: {"value": _num(m.group(2)), **(unit or {})}, "text": text}
    return {"text": text}


def _num(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def notes(segments: list[Segment]) -> list[dict[str, str]]:
    out = []
    for nte in segments:
        text = "\n".join(nte.unescape(r) for r in nte.repetitions(3)).strip()
        if text:
            out.append({"text": text})
    return out


def note_extensions(segments: list[Segment]) -> list[dict[str, Any]]:
    return [{"url": _NOTE_EXTENSION, "valueAnnotation": n} for n in notes(segments)]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "unknown"
