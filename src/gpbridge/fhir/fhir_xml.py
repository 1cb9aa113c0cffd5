"""Read FHIR XML into the FHIR JSON shape, driven by the element definitions in ``spec.types()``.

FHIR XML cannot be converted without knowing the model: whether ``<given>`` becomes a JSON array
depends on the maximum cardinality of ``HumanName.given``, and whether ``value="1"`` becomes the
string ``"1"`` or the number ``1`` depends on the element's primitive type. So every element is
looked up in its type's definition as the reader descends (datatypes, backbone elements,
``contentReference``, choice types such as ``valueQuantity``, contained resources), following
https://hl7.org/fhir/R4/xml.html and the JSON rules of https://hl7.org/fhir/R4/json.html:

- a primitive's ``value`` attribute becomes the JSON value; its ``id`` and ``extension`` children go
  to the ``_name`` sibling (arrays of both are aligned with ``null``);
- ``id`` on a complex element and ``url`` on an extension are attributes in XML, properties in JSON;
- a resource inside an element (``contained``, ``Bundle.entry.resource``) is wrapped in an element
  named after its type;
- ``Narrative.div`` is XHTML and is kept as a string, namespace declaration included.

Anything the definitions do not allow raises ``FhirXmlError`` with the element's path: the reader
never guesses. The reader is used by the profile compiler (UK Core is published as XML) and tests.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from lxml import etree

from gpbridge.fhir import spec

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_F = "{" + FHIR_NS + "}"

Json = dict[str, Any]


class FhirXmlError(ValueError):
    """The XML is not FHIR R4 XML the definitions allow; the message names the element."""


# (is_array, type code, child table key or None): the type code is "" for backbone elements.
Slot = tuple[bool, str, str | None]


def parse_resource(data: bytes | str) -> Json:
    """A FHIR XML document (one resource) as a FHIR JSON dict."""
    parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(data.encode() if isinstance(data, str) else data, parser)
    except etree.XMLSyntaxError as exc:
        raise FhirXmlError(f"not well-formed XML: {exc}") from None
    return _resource(root, "")


def _local(el: Any) -> str:
    tag = el.tag
    if not isinstance(tag, str) or not tag.startswith(_F):
        raise FhirXmlError(f"unexpected element {tag!r}: FHIR elements are in the {FHIR_NS} namespace")
    return tag[len(_F) :]


def _resource(el: Any, path: str) -> Json:
    rtype = _local(el)
    if not spec.is_resource_type(rtype):
        raise FhirXmlError(f"{path or rtype}: {rtype} is not a FHIR R4 resource type")
    out: Json = {"resourceType": rtype}
    _children(el, rtype, out, path or rtype)
    return out


@cache
def _slots(table: str) -> dict[str, Slot]:
    """The XML element names allowed in a type or backbone element, keyed as they appear in XML."""
    type_name, _, inner = table.partition(".")
    elements: dict[str, Json] = spec.types()[type_name]["elements"]
    prefix = inner + "." if inner else ""
    slots: dict[str, Slot] = {}
    for path, el in elements.items():
        if not path.startswith(prefix) or "." in path[len(prefix) :]:
            continue
        name = path[len(prefix) :]
        is_array = el.get("max", "*") != "1"
        ref = el.get("contentReference")
        if ref:
            slots[name] = (is_array, "", f"{type_name}.{ref}")
            continue
        types: list[str] = el.get("types", [])
        if name.endswith("[x]"):
            stem = name[:-3]
            for code in types:
                slots[stem + code[0].upper() + code[1:]] = (is_array, code, _child_table(code, type_name, path))
        else:
            code = types[0] if types else ""
            slots[name] = (is_array, code, _child_table(code, type_name, path))
    return slots


def _child_table(code: str, type_name: str, path: str) -> str | None:
    if code in ("BackboneElement", "Element") and path:
        return f"{type_name.split('.')[0]}.{path}"
    if code in ("", "Resource"):
        return None
    return code if spec.types()[code]["kind"] != "primitive-type" else None


def _children(el: Any, table: str, out: Json, path: str) -> None:
    slots = _slots(table)
    for name, value in el.attrib.items():
        if name in ("id", "url") and name in slots:
            out[name] = value
        else:
            raise FhirXmlError(f"{path}: unexpected attribute {name!r}")
    for child in el:
        if child.tag == "{" + XHTML_NS + "}div" and table == "Narrative":
            out["div"] = etree.tostring(child, encoding="unicode", with_tail=False)
            continue
        name = _local(child)
        slot = slots.get(name)
        if slot is None:
            raise FhirXmlError(f"{path}: unknown element <{name}> in {table}")
        is_array, code, child_table = slot
        child_path = f"{path}.{name}"
        if code == "Resource":
            inner = list(child)
            if len(inner) != 1:
                raise FhirXmlError(f"{child_path}: expected exactly one resource inside <{name}>")
            _put(out, name, _resource(inner[0], child_path), is_array, child_path)
        elif child_table is not None:
            obj: Json = {}
            _children(child, child_table, obj, child_path)
            _put(out, name, obj, is_array, child_path)
        else:
            _primitive(child, name, code, out, is_array, child_path)
    _align(out)


def _put(out: Json, name: str, value: Any, is_array: bool, path: str) -> None:
    if not is_array:
        if name in out:
            raise FhirXmlError(f"{path}: <{name}> may appear only once")
        out[name] = value
        return
    out.setdefault(name, []).append(value)


def _primitive(el: Any, name: str, code: str, out: Json, is_array: bool, path: str) -> None:
    raw = el.get("value")
    value = None if raw is None else _convert(raw, code, path)
    extra: Json = {}
    if el.get("id") is not None:
        extra["id"] = el.get("id")
    for attr in el.attrib:
        if attr not in ("value", "id"):
            raise FhirXmlError(f"{path}: unexpected attribute {attr!r}")
    for child in el:
        if _local(child) != "extension":
            raise FhirXmlError(f"{path}: a primitive may only contain <extension>, not <{_local(child)}>")
        ext: Json = {}
        _children(child, "Extension", ext, f"{path}.extension")
        extra.setdefault("extension", []).append(ext)
    if value is None and not extra:
        raise FhirXmlError(f"{path}: a primitive needs a value attribute or extensions")
    if not is_array:
        if name in out or "_" + name in out:
            raise FhirXmlError(f"{path}: <{name}> may appear only once")
        if value is not None:
            out[name] = value
        if extra:
            out["_" + name] = extra
        return
    # Arrays: keep the value and _value arrays the same length; _align drops an all-null side.
    out.setdefault(name, []).append(value)
    out.setdefault("_" + name, []).append(extra or None)


def _align(out: Json) -> None:
    for key in [k for k in out if k.startswith("_")]:
        ext = out[key]
        if isinstance(ext, list) and all(e is None for e in ext):
            del out[key]
        base = key[1:]
        if isinstance(out.get(base), list) and all(v is None for v in out[base]):
            del out[base]


def _convert(raw: str, code: str, path: str) -> Any:
    kind = spec.types()[code].get("json", "string")
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise FhirXmlError(f"{path}: {raw!r} is not a boolean")
        return raw == "true"
    if kind == "number":
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise FhirXmlError(f"{path}: {raw!r} is not a number") from None
        if number == number.to_integral_value() and "." not in raw and "e" not in raw.lower():
            return int(number)
        return float(number)
    return raw
