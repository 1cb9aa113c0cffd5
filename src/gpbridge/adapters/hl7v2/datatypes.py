"""HL7 v2 datatypes read from a ``Segment``: DTM/TS, CX, XPN, XAD, XTN, CE/CWE, NM, SN, HD."""

from __future__ import annotations

import re
from typing import Any

from gpbridge.adapters.common.codes import CTV3, LOINC, READ_V2, SNOMED
from gpbridge.adapters.common.hl7_time import hl7_timestamp
from gpbridge.adapters.hl7v2.errors import DATA_TYPE_ERROR, TABLE_VALUE_NOT_FOUND, Hl7v2Error
from gpbridge.adapters.hl7v2.message import Segment

#: CE/CWE coding-system names (HL7 table 0396 and what UK senders use) -> FHIR system URIs
CODING_SYSTEMS = {
    "LN": LOINC,
    "LOINC": LOINC,
    "SCT": SNOMED,
    "SNOMED": SNOMED,
    "SNOMEDCT": SNOMED,
    "SNM3": SNOMED,
    "READ": READ_V2,
    "READ2": READ_V2,
    "R2": READ_V2,
    "RD": READ_V2,
    "CTV3": CTV3,
    "R3": CTV3,
    "UCUM": "http://unitsofmeasure.org",
}


def _dtm(value: str) -> str | None:
    return hl7_timestamp(value, 4)


def dtm(segment: Segment, n: int, component: int = 1, rep: int = 0) -> str | None:
    """A DTM/TS/DT field as a FHIR dateTime; None when empty; error naming the field when malformed."""
    raw = segment.value(n, component, rep)
    if not raw:
        return None
    converted = _dtm(raw)
    if converted is None:
        raise Hl7v2Error(f"{raw!r} is not a valid HL7 date/time (YYYY[MM[DD[HHMM[SS]]]][+ZZZZ])",
                         segment.name, n, sequence=segment.sequence, hl7_code=DATA_TYPE_ERROR)
    return converted


def date_only(value: str | None) -> str | None:
    return value[:10] if value else None


def number(segment: Segment, n: int, text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise Hl7v2Error(f"{text!r} is not a number", segment.name, n, sequence=segment.sequence,
                         hl7_code=DATA_TYPE_ERROR) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Hl7v2Error(f"{text!r} is not a finite number", segment.name, n, sequence=segment.sequence,
                         hl7_code=DATA_TYPE_ERROR)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def coded(segment: Segment, n: int, facility: str, rep: int = 0) -> tuple[list[tuple[str, str, str]], str | None]:
    """(codings, text) of a CE/CWE: identifier^text^system^alt identifier^alt text^alt system."""
    parts = segment.components(n, rep)
    codings: list[tuple[str, str, str]] = []
    for offset in (0, 3):
        code = parts[offset].strip() if len(parts) > offset else ""
        display = parts[offset + 1].strip() if len(parts) > offset + 1 else ""
        system = parts[offset + 2].strip() if len(parts) > offset + 2 else ""
        if code:
            codings.append((coding_system(system, facility), code, display))
    text = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
    if not codings and parts and parts[0].strip() and not text:
        text = parts[0].strip()
    return codings, text


def coding_system(name: str, facility: str) -> str:
    key = name.strip().upper()
    if key in CODING_SYSTEMS:
        return CODING_SYSTEMS[key]
    if "://" in name or name.startswith("urn:"):
        return name
    # a local (e.g. 99zzz or L) table: scoped by the sending facility so two labs cannot collide
    return f"https://gpbridge.dev/CodeSystem/hl7v2-local/{_slug(facility)}/{_slug(name or 'L')}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "unknown"


def human_name(segment: Segment, n: int) -> list[dict[str, Any]]:
    """XPN: family^given^middle^suffix^prefix^degree^^type."""
    names = []
    for rep in range(len(segment.repetitions(n))):
        parts = segment.components(n, rep) + [""] * 8
        name: dict[str, Any] = {}
        use = {"L": "official", "D": "usual", "M": "maiden", "N": "nickname", "A": "anonymous",
               "U": "old"}.get(parts[6].strip().upper()) if len(parts) > 6 else None
        if use:
            name["use"] = use
        family = parts[0].split(segment.seps.subcomponent)[0].strip()
        if family:
            name["family"] = family
        given = [g.strip() for g in (parts[1], parts[2]) if g.strip()]
        if given:
            name["given"] = given
        if parts[4].strip():
            name["prefix"] = [parts[4].strip()]
        if parts[3].strip():
            name["suffix"] = [parts[3].strip()]
        if len(name) > ("use" in name):
            names.append(name)
    return names


def addresses(segment: Segment, n: int) -> list[dict[str, Any]]:
    """XAD: street^other^city^state^zip^country^type."""
    out = []
    for rep in range(len(segment.repetitions(n))):
        parts = segment.components(n, rep) + [""] * 7
        address: dict[str, Any] = {}
        lines = [p.split(segment.seps.subcomponent)[0].strip() for p in parts[:2]]
        if any(lines):
            address["line"] = [ln for ln in lines if ln]
        for key, index in (("city", 2), ("district", 3), ("postalCode", 4), ("country", 5)):
            if parts[index].strip():
                address[key] = parts[index].strip()
        kind = parts[6].strip().upper()
        if kind in ("H", "C", "B", "O"):
            address["use"] = {"H": "home", "C": "temp", "B": "work", "O": "work"}[kind]
        if address:
            out.append(address)
    return out


def telecoms(segment: Segment, n: int, use: str) -> list[dict[str, Any]]:
    """XTN: [NNN] [(999)]999-9999^use^equipment^email^country^area^local number."""
    out = []
    for rep in range(len(segment.repetitions(n))):
        parts = segment.components(n, rep) + [""] * 7
        equipment = parts[2].strip().upper()
        email = parts[3].strip()
        number_text = parts[0].strip() or " ".join(p.strip() for p in parts[5:7] if p.strip())
        if email or equipment == "INTERNET" or equipment == "X.400":
            value, system = email or number_text, "email"
        elif number_text:
            value, system = number_text, {"FX": "fax", "BP": "pager"}.get(equipment, "phone")
        else:
            continue
        telecom: dict[str, Any] = {"system": system, "value": value}
        kind = parts[1].strip().upper()
        telecom["use"] = "mobile" if equipment == "CP" or kind == "PRS" else use
        out.append(telecom)
    return out


def table_value(segment: Segment, n: int, table: dict[str, str], what: str, default: str | None = None) -> str | None:
    raw = segment.value(n).upper()
    if not raw:
        return default
    if raw not in table:
        raise Hl7v2Error(f"{raw!r} is not a known {what} ({', '.join(sorted(table))})", segment.name, n,
                         sequence=segment.sequence, hl7_code=TABLE_VALUE_NOT_FOUND)
    return table[raw]
