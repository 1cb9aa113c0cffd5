"""The code system a token parameter's values imply when its element is a FHIR ``code``.

``Patient.gender`` and ``Observation.status`` are ``code`` elements: their values carry no system
and are indexed with none. The system is implied by the element's required binding, and clients
name it all the same (``gender=http://hl7.org/fhir/administrative-gender|female``, as the R4 spec's
token examples and other servers accept). This finds that system from the compiled definitions:
every path of the parameter's expression must end on a ``code`` element bound (required) to a
value set that draws on exactly one code system, the same one.
"""

from __future__ import annotations

import re
from functools import cache

from gpbridge.fhir import spec
from gpbridge.fhir.element_types import type_of_path

# "Patient.gender", "Patient.telecom.use": a plain path, no functions or casts
_PLAIN_PATH = re.compile(r"[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*)+")


@cache
def implied_system(expression: str) -> str | None:
    """The one code system a token parameter's ``code`` values are drawn from, or None."""
    systems: set[str] = set()
    for part in expression.split("|"):
        system = _path_system(part.strip())
        if system is None:
            return None
        systems.add(system)
    return systems.pop() if len(systems) == 1 else None


def _path_system(path: str) -> str | None:
    if not _PLAIN_PATH.fullmatch(path):
        return None
    type_name, _, rest = path.partition(".")
    parent_path, _, name = rest.rpartition(".")
    parent = type_of_path(type_name, parent_path) if parent_path else type_name
    if parent is None:
        return None
    owner, _, inner = parent.partition(".")  # "Patient.link": a backbone element of Patient
    definition = spec.type_def(owner)
    if definition is None:
        return None
    element = definition["elements"].get(f"{inner}.{name}" if inner else name)
    if element is None or element.get("types") != ["code"]:
        return None
    binding = element.get("binding") or {}
    if binding.get("strength") != "required":
        return None
    url = str(binding.get("valueSet", "")).split("|", 1)[0]
    drawn_from = spec.valuesets().get(url) or {}
    return next(iter(drawn_from)) if len(drawn_from) == 1 else None
