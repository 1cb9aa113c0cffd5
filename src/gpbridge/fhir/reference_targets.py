"""Reference target types: may this Reference point at that kind of resource?

The target type is read from the reference itself: ``Patient/1``, an absolute URL ending in
``/Patient/1`` (``_history`` allowed), ``#id`` (a contained resource), ``urn:uuid:...`` (an entry of
the Bundle being validated), or ``Reference.type``. A logical reference (identifier only) or one
whose type cannot be told is not judged.
"""

from __future__ import annotations

import re
from typing import Any

from gpbridge.fhir import spec
from gpbridge.fhir.validation_run import Run

# https://hl7.org/fhir/R4/references.html#literal: [base/]Type/id[/_history/vid]
_LITERAL = re.compile(
    r"(?:https?://\S+/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?\Z"
)


def parse_literal(literal: str) -> str | None:
    """The resource type a literal reference names, or None when it is not of the literal form."""
    m = _LITERAL.match(literal)
    return m.group(1) if m is not None and spec.is_resource_type(m.group(1)) else None


def target_type(reference: dict[str, Any], run: Run) -> str | None:
    literal = reference.get("reference")
    if type(literal) is str:
        if literal.startswith("#"):
            return run.contained_type(literal[1:]) if len(literal) > 1 else None
        if literal.startswith(("urn:uuid:", "urn:oid:")):
            return run.bundle_types().get(literal)
        return parse_literal(literal)
    declared = reference.get("type")
    if type(declared) is str:
        name = declared.rsplit("/", 1)[-1]
        return name if spec.is_resource_type(name) else None
    return None


def check(reference: Any, allowed: frozenset[str], label: str, expression: str, run: Run) -> None:
    """Report a Reference whose target type is not among ``allowed`` (type names), and a urn:
    reference in a transaction or document Bundle that no entry's fullUrl answers."""
    if type(reference) is not dict:
        return
    _check_resolves(reference.get("reference"), label, expression, run)
    if not allowed or "Resource" in allowed:
        return
    found = target_type(reference, run)
    literal = reference.get("reference")
    if found is None and type(literal) is str and not literal.startswith(("#", "urn:")) and "?" not in literal:
        if parse_literal(literal) is None and not _absolute_elsewhere(literal):
            run.add(
                "warning",
                "invalid",
                f"{label}: {literal!r} is not a literal reference of the form Type/id (or an absolute URL ending in Type/id)",
                expression,
            )
    declared = reference.get("type")
    if type(declared) is str and "reference" in reference:
        name = declared.rsplit("/", 1)[-1]
        if found is not None and name != found:
            run.add(
                "error",
                "invalid",
                f"Reference.type says {name} but the reference points at a {found}",
                expression,
            )
    if found is None or found in allowed:
        return
    run.add(
        "error",
        "invalid",
        f"{label} may not refer to a {found}; allowed: {', '.join(sorted(allowed))}",
        expression,
    )


# Bundles whose urn: references must resolve inside them: a transaction's are rewritten to the
# entries' new ids (the write path refuses one that resolves to nothing); a document is self-contained.
_RESOLVING_BUNDLES = frozenset({"transaction", "document"})


def _check_resolves(literal: Any, label: str, expression: str, run: Run) -> None:
    if type(literal) is not str or not literal.startswith(("urn:uuid:", "urn:oid:")):
        return
    root = run.root
    if root.get("resourceType") != "Bundle" or root.get("type") not in _RESOLVING_BUNDLES:
        return
    if literal not in run.bundle_types():
        run.add("error", "not-found",
                f"{label}: {literal} does not resolve to any entry of the Bundle (no entry has that fullUrl)",
                expression)


def _absolute_elsewhere(literal: str) -> bool:
    # An absolute URL to a non-FHIR-REST location (e.g. a logical URI) is allowed; only
    # relative references must have the Type/id form.
    return literal.startswith(("http://", "https://")) or ":" in literal.split("/", 1)[0]
