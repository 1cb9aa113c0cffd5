"""May this extension be used here? (StructureDefinition.context of its definition.)

An extension definition lists where it may appear (https://hl7.org/fhir/R4/defining-extensions.html#context):
``element`` contexts name an element path (``Patient.identifier``), a datatype (``Identifier``,
``CodeableConcept``) or an ancestor type (``Element``, ``DomainResource``); ``extension`` contexts
name the extension it must sit inside; ``fhirpath`` contexts are expressions (accepted: they are
rare and mostly ``Resource``-wide).
"""

from __future__ import annotations

from typing import Any

from gpbridge.fhir.element_types import derives_from


def allowed_here(
    contexts: list[dict[str, Any]], paths: tuple[str, ...], datatype: str, parent_extension: str | None
) -> bool:
    """``paths``: where the extended element is, as the resource-relative path (``Patient.telecom.system``)
    and as its element definition (``ContactPoint.system``, or ``Questionnaire.item`` for a nested
    item); ``datatype`` its type (``code``, ``Identifier``, the resource type at a root,
    ``BackboneElement`` for backbones)."""
    if not contexts:
        return True
    for context in contexts:
        kind, expression = context.get("type"), str(context.get("expression", ""))
        if kind == "fhirpath":
            return True
        if kind == "extension":
            if parent_extension is not None and expression == parent_extension:
                return True
            continue
        if expression in ("Element", "Base") or expression in paths:
            return True
        if derives_from(datatype, expression):
            return True
        if "[x]" in expression and any(_choice_matches(expression, p) for p in paths):
            return True
    return False


def _choice_matches(expression: str, element_path: str) -> bool:
    stem = expression.replace("[x]", "")
    return element_path.startswith(stem) and element_path[len(stem) : len(stem) + 1].isupper()


def describe(contexts: list[dict[str, Any]]) -> str:
    return ", ".join(str(c.get("expression")) for c in contexts)
