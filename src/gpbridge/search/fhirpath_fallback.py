"""The fhirpathpy fallback for search expressions outside the natively compiled subset.

fhirpathpy is compiled once per expression and given what SearchParameters need but it lacks:
``resolve()`` (a typed stand-in read from the reference, enough for ``resolve() is Patient``) and
``hasExtension()``. Its results are turned back into plain JSON values for the index converters.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from gpbridge.search import fhirpath_model as model
from gpbridge.search.fhirpath_runtime import Collection, Step
from gpbridge.search.references import reference_type

log = logging.getLogger(__name__)


def _resolve_stub(references: Collection) -> Collection:
    """``resolve()`` for fhirpathpy without a server: a typed stand-in, enough for ``is Type``."""
    from fhirpathpy.engine.nodes import ResourceNode

    out = []
    for ref in references:
        type_ = reference_type(ref)
        if type_ is not None:
            out.append(ResourceNode.create_node({"resourceType": type_}, type_))
    return out


def _has_extension_stub(elements: Collection, url: str) -> Collection:
    out = []
    for element in elements:
        if type(element) is dict:
            extensions = element.get("extension")
            found = type(extensions) is list and any(
                type(x) is dict and x.get("url") == url for x in extensions
            )
            out.append(found)
    return out


def fhirpathpy_options() -> dict[str, Any]:
    """Options making fhirpathpy understand the functions SearchParameters use but it lacks."""
    return {
        "userInvocationTable": {
            "resolve": {"fn": _resolve_stub, "arity": {0: []}},
            "hasExtension": {"fn": _has_extension_stub, "arity": {1: ["String"]}},
        }
    }


def _plain(value: Any) -> Any:
    """fhirpathpy returns Decimals and its own date types; index converters expect JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def fallback_step(expression: str, context_type: str | None, at_root: bool) -> Step:
    """A step evaluating ``expression`` with fhirpathpy on each item of its input collection."""
    from fhirpathpy import apply_parsed_path
    from fhirpathpy.engine.nodes import ResourceNode
    from fhirpathpy.parser import parse as fp_parse

    parsed = fp_parse(expression)
    fhir_model = model.fhir_model()
    options = fhirpathpy_options()

    def evaluate(collection: Collection) -> Collection:
        out: Collection = []
        for item in collection:
            if type(item) is not dict:
                continue
            node = item if at_root else ResourceNode.create_node(item, context_type)
            # Only the focus reaches a step, so inside a composite component %resource is the
            # element here; no R4 component needs both the fallback and %resource.
            try:
                result = apply_parsed_path(
                    node, parsed, {"resource": item, "rootResource": item}, fhir_model, options
                )
            except Exception as exc:  # noqa: BLE001 - a bad value must never break ingest
                log.debug("fhirpathpy failed on %r: %s", expression, exc)
                continue
            out.extend(_plain(v) for v in result if v is not None)
        return out

    return evaluate
