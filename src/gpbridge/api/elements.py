"""``_summary`` and ``_elements``: return part of a resource, marked SUBSETTED.

Mandatory elements (min >= 1 in the base definition) are always kept, as the spec requires, so
a subsetted resource is still valid FHIR.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}
_ALWAYS = frozenset({"resourceType", "id", "meta"})
# Until spec/ carries the isSummary flags, _summary=true keeps everything but these bulky parts.
_NOT_SUMMARY_FALLBACK = frozenset({"text", "contained", "extension", "modifierExtension"})


def wants_subset(summary: str | None, elements: list[str]) -> bool:
    return bool(elements) or summary in ("true", "text", "data")


def subset(content: bytes, type_: str, summary: str | None, elements: list[str]) -> dict[str, Any]:
    resource: dict[str, Any] = orjson.loads(content)
    if elements:
        # ``_elements=Observation.code`` means ``code``; ``value`` selects ``valueQuantity``
        keep = _ALWAYS | _mandatory(type_) | {n.rsplit(".", 1)[-1] for n in elements}
        out = {k: v for k, v in resource.items() if _base_name(k, type_) in keep}
    elif summary == "text":
        keep = _ALWAYS | _mandatory(type_) | {"text"}
        out = {k: v for k, v in resource.items() if _base_name(k, type_) in keep}
    elif summary == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
    elif summary == "true":
        summary_set = _summary_elements(type_)
        if summary_set is None:
            out = {k: v for k, v in resource.items() if k not in _NOT_SUMMARY_FALLBACK}
        else:
            keep = _ALWAYS | _mandatory(type_) | summary_set
            out = {k: v for k, v in resource.items() if _base_name(k, type_) in keep}
    else:
        return resource
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    out["meta"] = meta
    return out


def _base_name(key: str, type_: str) -> str:
    """The element a JSON key belongs to: ``valueQuantity`` → ``value``, ``_birthDate`` → ``birthDate``."""
    key = key.removeprefix("_")
    for choice in _choices(type_):
        if key.startswith(choice) and len(key) > len(choice) and key[len(choice)].isupper():
            return choice
    return key


@cache
def _choices(type_: str) -> tuple[str, ...]:
    return tuple(n[:-3] for n in _type_elements(type_) if "." not in n and n.endswith("[x]"))


@cache
def _mandatory(type_: str) -> frozenset[str]:
    elements = _type_elements(type_)
    return frozenset(
        name.removesuffix("[x]") for name, d in elements.items() if "." not in name and d.get("min", 0) >= 1
    )


@cache
def _summary_elements(type_: str) -> frozenset[str] | None:
    elements = _type_elements(type_)
    if not any("summary" in d for d in elements.values()):
        return None
    return frozenset(n.removesuffix("[x]") for n, d in elements.items() if "." not in n and d.get("summary"))


def _type_elements(type_: str) -> dict[str, dict[str, Any]]:
    try:
        from gpbridge.fhir.spec import type_def
    except ImportError:
        return {}
    definition = type_def(type_) or {}
    elements: dict[str, dict[str, Any]] = definition.get("elements", {})
    return elements
