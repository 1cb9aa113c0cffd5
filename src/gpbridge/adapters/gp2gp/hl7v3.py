"""HL7 V3 datatypes as GP2GP uses them, read from lxml elements: TS, CD, PQ, IVL, II.

Clark-notation tag names are built once; lookups use ``find`` on direct children (no XPath on the
hot path). A value that breaks its datatype's rules raises ``Gp2gpError`` naming the element.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from gpbridge.adapters.common.codes import CTV3, EGTON, READ_V2, SNOMED, Mapped
from gpbridge.adapters.common.hl7_time import hl7_timestamp
from gpbridge.adapters.gp2gp.errors import Gp2gpError

V3 = "urn:hl7-org:v3"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

#: code system OIDs seen in GP2GP (MIM 3.1 vocabulary) -> FHIR system URIs
OID_SYSTEMS = {
    "2.16.840.1.113883.2.1.3.2.4.15": SNOMED,
    "2.16.840.1.113883.2.1.6.2": READ_V2,
    "2.16.840.1.113883.2.1.3.2.4.14": CTV3,
    "2.16.840.1.113883.2.1.6.3": EGTON,
}


class Tags:
    """``Tags.code`` == ``'{urn:hl7-org:v3}code'``; one attribute lookup, no string building."""

    def __getattr__(self, name: str) -> str:
        value = f"{{{V3}}}{name}"
        setattr(self, name, value)
        return value


T = Tags()


def local_name(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def path_of(element: etree._Element) -> str:
    """A readable location for errors: element names from the root, the innermost element that
    has an id marked with it, e.g. ``.../ObservationStatement[id=A2]/effectiveTime/center``."""
    names = []
    marked = False
    node: etree._Element | None = element
    while node is not None:
        name = local_name(node)
        ident = node.find(T.id) if not marked and node.getparent() is not None else None
        if ident is not None and ident.get("root"):
            name += f"[id={ident.get('root')}]"
            marked = True
        names.append(name)
        node = node.getparent()
    return "/" + "/".join(reversed(names))


# -- TS -------------------------------------------------------------------------------------------

def _ts(value: str) -> str | None:
    return hl7_timestamp(value, 6)


def ts(element: etree._Element | None) -> str | None:
    """A TS element's value as a FHIR dateTime; None for nullFlavor/absent; error when malformed."""
    if element is None:
        return None
    value = element.get("value")
    if value is None:
        return None
    converted = _ts(value.strip())
    if converted is None:
        raise Gp2gpError(f"{value!r} is not a valid HL7 timestamp (YYYYMMDD[HHMM[SS]])", path_of(element) + "/@value")
    return converted


def ts_value(value: str) -> str | None:
    """A bare TS string (e.g. from a comment header) as a FHIR dateTime; None when malformed."""
    return _ts(value.strip())


def date_part(dt: str | None) -> str | None:
    return dt[:10] if dt else None


def effective(parent: etree._Element) -> dict[str, Any]:
    """``effectiveTime`` (center | low/high) as ``{"effectiveDateTime": ..}`` or ``{"effectivePeriod": ..}``."""
    et = parent.find(T.effectiveTime)
    if et is None:
        return {}
    center = ts(et.find(T.center))
    if center:
        return {"effectiveDateTime": center}
    if et.get("value"):
        return {"effectiveDateTime": ts(et)}
    low, high = ts(et.find(T.low)), ts(et.find(T.high))
    period = {k: v for k, v in (("start", low), ("end", high)) if v}
    return {"effectivePeriod": period} if period else {}


def first_time(fields: dict[str, Any]) -> str | None:
    if "effectiveDateTime" in fields:
        return fields["effectiveDateTime"]  # type: ignore[no-any-return]
    period = fields.get("effectivePeriod") or {}
    return period.get("start") or period.get("end")


def availability(parent: etree._Element) -> str | None:
    return ts(parent.find(T.availabilityTime))


# -- CD -------------------------------------------------------------------------------------------


def system_for(oid: str | None) -> str:
    if not oid:
        return ""
    return OID_SYSTEMS.get(oid) or f"urn:oid:{oid}"


def codings(cd: etree._Element | None) -> tuple[list[Mapped], str | None]:
    """(codings, originalText) of a CD: the code itself then every ``translation``."""
    if cd is None:
        return [], None
    out: list[Mapped] = []
    code = cd.get("code")
    if code:
        out.append((system_for(cd.get("codeSystem")), code.strip(), cd.get("displayName") or ""))
    for tr in cd.iterfind(T.translation):
        tcode = tr.get("code")
        if tcode:
            out.append((system_for(tr.get("codeSystem")), tcode.strip(), tr.get("displayName") or ""))
    original = cd.findtext(T.originalText)
    return out, (original.strip() or None) if original else None


def text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    value = "".join(str(t) for t in element.itertext()).strip()
    return value or None


# -- PQ / IVL_PQ ----------------------------------------------------------------------------------


def _number(raw: str, element: etree._Element) -> float | int:
    try:
        number = float(raw)
    except ValueError:
        raise Gp2gpError(f"{raw!r} is not a number", path_of(element) + "/@value") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise Gp2gpError(f"{raw!r} is not a finite number", path_of(element) + "/@value")
    return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() else number


def quantity(pq: etree._Element) -> dict[str, Any] | None:
    """A PQ as a FHIR Quantity: UCUM unit when it is one, else the unit text from ``translation``."""
    raw = pq.get("value")
    if raw is None:
        return None
    q: dict[str, Any] = {"value": _number(raw.strip(), pq)}
    unit = pq.get("unit")
    unit_text = pq.findtext(f"{T.translation}/{T.originalText}")
    if unit and unit != "1":
        q.update(unit=unit_text or unit, system="http://unitsofmeasure.org", code=unit)
    elif unit_text:
        q["unit"] = unit_text.strip()
    return q


def interval(ivl: etree._Element) -> dict[str, Any]:
    """An IVL_PQ as a FHIR Range-like dict (``low``/``high`` Quantities)."""
    out: dict[str, Any] = {}
    for name in ("low", "high"):
        bound = ivl.find(getattr(T, name))
        if bound is not None:
            q = quantity(bound)
            if q is not None:
                out[name] = q
    return out


def root_id(element: etree._Element) -> str | None:
    ident = element.find(T.id)
    return ident.get("root") if ident is not None else None
