"""FHIR values -> search index rows, per the R4 search spec (https://hl7.org/fhir/R4/search.html).

A converter is ``(value, param, index_values) -> None`` and appends rows for one value of a known
FHIR type to the matching list of an ``IndexValues``. ``converter_for(kind, type)`` picks it once per
compiled branch; values of the wrong shape (a string where a Coding belongs) produce no rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from gpbridge.search import fhirpath_model as model
from gpbridge.search.dates import OPEN_HIGH, OPEN_LOW, date_range
from gpbridge.search.references import declared_type, parse_reference
from gpbridge.search.text import normalise

if TYPE_CHECKING:
    from gpbridge.search.extract import IndexValues

Converter = Callable[[Any, str, "IndexValues"], None]

CURRENCY_SYSTEM = "urn:iso:std:iso:4217"


def _s(value: Any) -> str | None:
    return value if type(value) is str else None


def _number(value: Any) -> float | None:
    if type(value) is int or type(value) is float:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range is not a searchable number
            return None
        return number if math.isfinite(number) else None
    return None


# --- token --------------------------------------------------------------------------------------


def token_coding(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is dict:
        system, code, display = _s(value.get("system")), _s(value.get("code")), _s(value.get("display"))
        if system is not None or code is not None or display is not None:
            iv.tokens.append((param, system, code, display))


def token_codeable_concept(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is not dict:
        return
    codings = value.get("coding")
    if type(codings) is list:
        for coding in codings:
            token_coding(coding, param, iv)
    text = value.get("text")
    if type(text) is str:
        # CodeableConcept.text is only for :text searches: a row with no system and no code.
        iv.tokens.append((param, None, None, text))


def token_identifier(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is not dict:
        return
    system, code = _s(value.get("system")), _s(value.get("value"))
    if system is None and code is None:
        return
    type_ = value.get("type")
    text = _s(type_.get("text")) if type(type_) is dict else None
    iv.tokens.append((param, system, code, text))


def token_contact_point(value: Any, param: str, iv: IndexValues) -> None:
    # The spec's token table gives ContactPoint no system column: only ContactPoint.value matches.
    # (phone/email are separate parameters filtering on ContactPoint.system.)
    if type(value) is dict:
        code = _s(value.get("value"))
        if code is not None:
            iv.tokens.append((param, None, code, None))


def token_code(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is str:
        iv.tokens.append((param, None, value, None))


def token_boolean(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is bool:
        iv.tokens.append((param, None, "true" if value else "false", None))


def token_integer(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is int:
        iv.tokens.append((param, None, str(value), None))


# --- string -------------------------------------------------------------------------------------


def string_value(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is str and value:
        iv.strings.append((param, normalise(value), value))


def _string_parts(value: Any, parts: tuple[str, ...], param: str, iv: IndexValues) -> None:
    # One row per part: a string search matches when any part of the name/address matches.
    if type(value) is not dict:
        return
    rows = iv.strings
    for part in parts:
        found = value.get(part)
        if found is None:
            continue
        for text in found if type(found) is list else (found,):
            if type(text) is str and text:
                rows.append((param, normalise(text), text))


_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def string_human_name(value: Any, param: str, iv: IndexValues) -> None:
    _string_parts(value, _NAME_PARTS, param, iv)


def string_address(value: Any, param: str, iv: IndexValues) -> None:
    _string_parts(value, _ADDRESS_PARTS, param, iv)


# --- date ---------------------------------------------------------------------------------------


def date_value(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is str:
        found = date_range(value)
        if found is not None:
            iv.dates.append((param, found[0], found[1]))


def _bounds(start: Any, end: Any) -> tuple[float, float] | None:
    """A Period's range: start's low to end's high; an absent end is open. None if unusable."""
    lo, hi = OPEN_LOW, OPEN_HIGH
    if start is not None:
        found = date_range(start) if type(start) is str else None
        if found is None:
            return None
        lo = found[0]
    if end is not None:
        found = date_range(end) if type(end) is str else None
        if found is None:
            return None
        hi = found[1]
    return (lo, hi)


def date_period(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is dict:
        start, end = value.get("start"), value.get("end")
        if start is None and end is None:
            return
        found = _bounds(start, end)
        if found is not None:
            iv.dates.append((param, found[0], found[1]))


def date_timing(value: Any, param: str, iv: IndexValues) -> None:
    # The spec: only the outer limits of a Timing matter (events, and repeat.boundsPeriod).
    if type(value) is not dict:
        return
    ranges: list[tuple[float, float]] = []
    events = value.get("event")
    if type(events) is list:
        ranges.extend(r for r in (date_range(e) for e in events if type(e) is str) if r is not None)
    repeat = value.get("repeat")
    bounds = repeat.get("boundsPeriod") if type(repeat) is dict else None
    if type(bounds) is dict and (bounds.get("start") is not None or bounds.get("end") is not None):
        found = _bounds(bounds.get("start"), bounds.get("end"))
        if found is not None:
            ranges.append(found)
    if ranges:
        iv.dates.append((param, min(r[0] for r in ranges), max(r[1] for r in ranges)))


# --- number and quantity ------------------------------------------------------------------------


def number_value(value: Any, param: str, iv: IndexValues) -> None:
    number = _number(value)
    if number is not None:
        iv.numbers.append((param, number))


def quantity_quantity(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is dict:
        number = _number(value.get("value"))
        if number is not None:
            code, unit = _s(value.get("code")), _s(value.get("unit"))
            iv.quantities.append((param, _s(value.get("system")), code if code is not None else unit, number))
            if code is not None and unit is not None and unit != code:
                # ``value||mmHg`` matches Quantity.code or Quantity.unit (R4 search, quantity): the
                # unit gets a row of its own under no system, so ``value|system|code`` stays exact.
                # Same value: _sort, :missing and totals (per resource) see no difference.
                iv.quantities.append((param, None, unit, number))


def quantity_money(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is dict:
        number = _number(value.get("value"))
        if number is not None:
            currency = _s(value.get("currency"))
            iv.quantities.append((param, CURRENCY_SYSTEM if currency else None, currency, number))


def quantity_range(value: Any, param: str, iv: IndexValues) -> None:
    # A row per bound: the quantity table holds points, so a Range indexes as its two ends.
    if type(value) is dict:
        quantity_quantity(value.get("low"), param, iv)
        quantity_quantity(value.get("high"), param, iv)


# --- reference and uri --------------------------------------------------------------------------


def reference_reference(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is not dict:
        return
    text = value.get("reference")
    if type(text) is str:
        parsed = parse_reference(text)
        if parsed is not None:
            # The target type as ``resolve() is T`` sees it (the string's, else Reference.type), so
            # a reference view's rows are exactly its source's rows of that type (search.derived).
            ttype = parsed[0] if parsed[0] is not None else declared_type(value)
            iv.references.append((param, ttype, parsed[1], parsed[2]))
    identifier = value.get("identifier")
    if type(identifier) is dict:
        # Reference.identifier serves the :identifier modifier; it is a token, kept apart.
        token_identifier(identifier, f"{param}:identifier", iv)


def reference_uri(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is str and value:
        iv.references.append((param, None, None, value))


def reference_resource(value: Any, param: str, iv: IndexValues) -> None:
    # e.g. Bundle.entry[0].resource: the resource itself, indexed as a reference to it.
    if type(value) is dict:
        type_, id_ = _s(value.get("resourceType")), _s(value.get("id"))
        if type_ is not None and id_ is not None:
            iv.references.append((param, type_, id_, None))


def uri_value(value: Any, param: str, iv: IndexValues) -> None:
    if type(value) is str and value:
        iv.uris.append((param, value))


# --- selection ----------------------------------------------------------------------------------

# kind -> FHIR type -> converter. Subtypes inherit (Age -> Quantity, code -> string, canonical -> uri).
_TABLE: dict[str, dict[str, Converter]] = {
    "token": {
        "Coding": token_coding,
        "CodeableConcept": token_codeable_concept,
        "Identifier": token_identifier,
        "ContactPoint": token_contact_point,
        "string": token_code,
        "uri": token_code,
        "boolean": token_boolean,
        "integer": token_integer,
    },
    "string": {
        "string": string_value,
        "uri": string_value,
        "HumanName": string_human_name,
        "Address": string_address,
    },
    "date": {
        "date": date_value,
        "dateTime": date_value,
        "instant": date_value,
        "Period": date_period,
        "Timing": date_timing,
    },
    "number": {"decimal": number_value, "integer": number_value},
    "quantity": {"Quantity": quantity_quantity, "Money": quantity_money, "Range": quantity_range},
    "reference": {"Reference": reference_reference, "uri": reference_uri, "Resource": reference_resource},
    "uri": {"uri": uri_value, "string": uri_value},
}

KINDS = frozenset(_TABLE)

# The one IndexValues list each converter appends to (reference_reference also writes tokens, for
# Reference.identifier, so it is absent): lets the extractor convert once for several parameters.
ROWS_OF: dict[Converter, str] = {
    **{conv: "tokens" for conv in _TABLE["token"].values()},
    **{conv: "strings" for conv in _TABLE["string"].values()},
    **{conv: "dates" for conv in _TABLE["date"].values()},
    **{conv: "numbers" for conv in _TABLE["number"].values()},
    **{conv: "quantities" for conv in _TABLE["quantity"].values()},
    reference_uri: "references",
    reference_resource: "references",
    uri_value: "uris",
}


@cache
def converter_for(kind: str, type_: str | None) -> Converter | None:
    """The converter for values of FHIR ``type_`` in a parameter of ``kind``; None when such
    values are not indexable for that kind (e.g. SampledData for a quantity), so the branch
    producing them need not be evaluated at all."""
    table = _TABLE.get(kind)
    if table is None:
        return None
    if type_ is None:
        return _DYNAMIC[kind]
    if type_ == "Extension":
        return _extension_converter(kind)
    current: str | None = type_
    while current:
        found = table.get(current)
        if found is not None:
            return found
        current = model.parent_type(current)
    return None


def _extension_converter(kind: str) -> Converter | None:
    """A parameter pointing at an extension indexes the extension's value[x]."""
    by_key = {
        key: conv
        for key, type_ in model.choice_keys("Extension", "value").items()
        if (conv := converter_for(kind, type_)) is not None
    }
    if not by_key:
        return None

    def extension_value(value: Any, param: str, iv: IndexValues) -> None:
        if type(value) is dict:
            for key, item in value.items():
                conv = by_key.get(key)
                if conv is not None:
                    conv(item, param, iv)

    return extension_value


# --- untyped values (fhirpathpy fallback): recognise the type by shape --------------------------


def _shape(value: Any) -> str | None:
    if type(value) is bool:
        return "boolean"
    if type(value) is int:
        return "integer"
    if type(value) is float:
        return "decimal"
    if type(value) is str:
        return "dateTime" if date_range(value) is not None else "string"
    if type(value) is not dict:
        return None
    keys = value.keys()
    if "resourceType" in keys:
        return "Resource"
    if "url" in keys and any(k.startswith("value") for k in keys):
        return "Extension"
    if "coding" in keys or keys == {"text"}:
        return "CodeableConcept"
    if "reference" in keys:
        return "Reference"
    if "family" in keys or "given" in keys:
        return "HumanName"
    if keys & {"line", "city", "postalCode", "country", "district", "state"}:
        return "Address"
    if "start" in keys or "end" in keys:
        return "Period"
    if "event" in keys or "repeat" in keys:
        return "Timing"
    if "low" in keys or "high" in keys:
        return "Range"
    if "currency" in keys:
        return "Money"
    if "value" in keys and type(value.get("value")) in (int, float):
        return "Quantity"
    if "value" in keys and value.get("system") in _CONTACT_SYSTEMS:
        return "ContactPoint"
    if "value" in keys:
        return "Identifier"
    if "code" in keys or "system" in keys or "display" in keys:
        return "Coding"
    return None


_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})


def _dynamic(kind: str) -> Converter:
    def by_shape(value: Any, param: str, iv: IndexValues) -> None:
        shape = _shape(value)
        if shape in ("string", "dateTime") and kind in ("reference", "uri"):
            shape = "uri"  # a canonical or URL
        elif shape == "dateTime" and kind != "date":
            shape = "string"
        conv = converter_for(kind, shape) if shape is not None else None
        if conv is not None:
            conv(value, param, iv)

    return by_shape


_DYNAMIC: dict[str, Converter] = {kind: _dynamic(kind) for kind in _TABLE}
