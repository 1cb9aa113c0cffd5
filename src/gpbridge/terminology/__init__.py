"""Terminology: SNOMED CT (RF2), dm+d, Read v2/CTV3 maps and FHIR terminology resources.

- Loaders (one write transaction each, streaming, with a progress callback):
  ``load_snomed_rf2``, ``load_read_v2_map``, ``load_ctv3_map``, ``load_dmd``, ``load_fhir_terminology``.
- ``Terminology`` (``terminology_for(store)``): lookup, validate_code, subsumes, expand, translate.
- Search: ``closure.descendants_sql`` / ``ancestors_sql`` (``:below`` / ``:above``) and
  ``service.expand_value_set_codes`` (``:in``).
- ``operations``: the FHIR ``$operations`` as pure functions (HTTP in ``api.operations.terminology``).

Imports are lazy so ``import gpbridge.terminology`` stays cheap for modules that need one name.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "load_snomed_rf2": "gpbridge.terminology.rf2",
    "load_read_v2_map": "gpbridge.terminology.readmaps",
    "load_ctv3_map": "gpbridge.terminology.readmaps",
    "load_dmd": "gpbridge.terminology.dmd",
    "load_fhir_terminology": "gpbridge.terminology.fhirload",
    "Terminology": "gpbridge.terminology.service",
    "terminology_for": "gpbridge.terminology.service",
    "expand_value_set_codes": "gpbridge.terminology.service",
    "descendants_sql": "gpbridge.terminology.closure",
    "ancestors_sql": "gpbridge.terminology.closure",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gpbridge.terminology' has no attribute {name!r}")
    return getattr(import_module(module), name)
