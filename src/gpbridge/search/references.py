"""Reading FHIR reference strings: which resource (type, id) or URL a Reference points at.

Shared by the FHIRPath compiler (``resolve() is Patient``) and the reference index, so both agree
on what a reference means.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from gpbridge.search.fhirpath_model import resource_types

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@lru_cache(maxsize=65536)  # the same few references (the patient, the encounter) recur constantly
def _parse_reference_cached(text: str) -> tuple[str | None, str | None, str | None] | None:
    return _parse_reference(text)


def parse_reference(text: str) -> tuple[str | None, str | None, str | None] | None:
    """``(type, id, url)`` for a Reference.reference string, or None when there is nothing to index.

    ``Patient/1`` -> (Patient, 1, None); ``https://x/fhir/Patient/1`` -> (Patient, 1, the URL);
    ``urn:uuid:..``, canonicals and anything else -> (None, None, text); ``#contained`` -> None.
    A ``/_history/n`` suffix is ignored: search matches the resource, not the version.
    """
    # Bounded by count and (here) by length, so odd inputs cannot grow the cache's memory.
    return _parse_reference_cached(text) if len(text) <= 256 else _parse_reference(text)


def _parse_reference(text: str) -> tuple[str | None, str | None, str | None] | None:
    if not text or text[0] == "#":
        return None
    if text.startswith("urn:"):
        return (None, None, text)
    absolute = "://" in text
    parts = text.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and (absolute or len(parts) == 2):
        type_, id_ = parts[-2], parts[-1]
        if type_ in resource_types() and _ID.fullmatch(id_):
            return (type_, id_, text if absolute else None)
    return (None, None, text)


def reference_type(ref: Any) -> str | None:
    """The resource type a Reference points at, as ``resolve() is Type`` sees it without a server:
    from the reference string when it names one, else from ``Reference.type``. Contained
    (``#x``) and ``urn:uuid`` references without ``type`` have no known type."""
    if type(ref) is not dict:
        return None
    text = ref.get("reference")
    if type(text) is str:
        parsed = parse_reference(text)
        if parsed is not None and parsed[0] is not None:
            return parsed[0]
    return declared_type(ref)


def declared_type(ref: dict[str, Any]) -> str | None:
    """``Reference.type`` as a resource type name, when it names one."""
    declared = ref.get("type")
    if type(declared) is str:
        # Reference.type is a URI; core types may be given bare ("Patient") or as the SD URL.
        tail = declared.rsplit("/", 1)[-1]
        if tail in resource_types():
            return tail
    return None
