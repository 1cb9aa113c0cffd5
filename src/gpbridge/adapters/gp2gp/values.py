"""Observation values, reference ranges and interpretations (ObservationStatement → Observation)."""

from __future__ import annotations

from typing import Any

from lxml import etree

from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.errors import Gp2gpError
from gpbridge.adapters.gp2gp.hl7v3 import XSI_TYPE, T, path_of

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
#: GP2GP (HL7 UK) interpretation codes → FHIR v3 ObservationInterpretation
_INTERPRETATIONS = {
    "HI": ("H", "High"),
    "LO": ("L", "Low"),
    "PA": ("A", "Abnormal"),
    "AB": ("A", "Abnormal"),
    "NO": ("N", "Normal"),
    "HH": ("HH", "Critical high"),
    "LL": ("LL", "Critical low"),
    "H": ("H", "High"),
    "L": ("L", "Low"),
    "N": ("N", "Normal"),
    "A": ("A", "Abnormal"),
}


def value_fields(ctx: Context, statement: etree._Element, resource: dict[str, Any]) -> dict[str, Any]:
    value = statement.find(T.value)
    if value is None:
        return {}
    kind = (value.get(XSI_TYPE) or "").rpartition(":")[2].upper()
    if kind == "PQ" or (not kind and value.get("value") is not None and value.get("unit") is not None):
        q = hl7v3.quantity(value)
        return {"valueQuantity": q} if q else {}
    if kind == "IVL_PQ":
        r = hl7v3.interval(value)
        return {"valueRange": r} if r else {}
    if kind in ("CD", "CV", "CE", "CO"):
        concept = ctx.concept(value, resource)
        return {"valueCodeableConcept": concept} if concept else {}
    if kind in ("ST", "ED", ""):
        text = hl7v3.text(value) or value.get("value")
        return {"valueString": text} if text else {}
    if kind == "INT":
        raw = (value.get("value") or "").strip()
        if not raw.lstrip("-").isdigit():
            raise Gp2gpError(f"{raw!r} is not an integer", path_of(value) + "/@value")
        return {"valueInteger": int(raw)}
    if kind == "BL":
        return {"valueBoolean": value.get("value") == "true"}
    if kind == "TS":
        when = hl7v3.ts(value)
        return {"valueDateTime": when} if when else {}
    text = hl7v3.text(value) or value.get("value")
    return {"valueString": f"{text} ({kind})"} if text else {}


def reference_ranges(statement: etree._Element) -> list[dict[str, Any]]:
    ranges = []
    for rr in statement.iterfind(f"{T.referenceRange}/{T.referenceInterpretationRange}"):
        out: dict[str, Any] = {}
        value = rr.find(T.value)
        if value is not None:
            out.update(hl7v3.interval(value))
        text = hl7v3.text(rr.find(T.text))
        if text:
            out["text"] = text
        if out:
            ranges.append(out)
    return ranges


def interpretations(statement: etree._Element) -> list[dict[str, Any]]:
    out = []
    for ic in statement.iterfind(T.interpretationCode):
        code = ic.get("code")
        if not code:
            continue
        coding = []
        mapped = _INTERPRETATIONS.get(code.upper())
        if mapped:
            coding.append({"system": INTERPRETATION, "code": mapped[0], "display": mapped[1]})
        original: dict[str, str] = {"system": hl7v3.system_for(ic.get("codeSystem")), "code": code}
        if ic.get("displayName"):
            original["display"] = ic.get("displayName", "")
        coding.append(original)
        out.append({"coding": coding, "text": ic.get("displayName") or code})
    return out


def annotation_texts(statement: etree._Element) -> list[str]:
    texts = []
    for pi in statement.iterfind(f"{T.pertinentInformation}/{T.pertinentAnnotation}/{T.text}"):
        text = hl7v3.text(pi)
        if text:
            texts.append(text)
    return texts
