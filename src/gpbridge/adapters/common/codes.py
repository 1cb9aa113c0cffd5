"""Code systems and the ``CodeMapper`` every adapter translates legacy codes through.

Adapters never hard-code Read v2 / CTV3 → SNOMED CT maps: they ask a ``CodeMapper``. In the
server that is the terminology service (``TerminologyCodeMapper``); tests use ``DictCodeMapper``
built from a small fixture. ``build_concept`` then produces the CodeableConcept the house rules
ask for: SNOMED CT first when a map exists, the original codings always kept beside it, and the
concept flagged (see ``flags``) when no SNOMED CT concept could be found.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from gpbridge.fhir.outcome import FhirError

SNOMED = "http://snomed.info/sct"
READ_V2 = "http://read.info/readv2"
CTV3 = "http://read.info/ctv3"
EGTON = "https://fhir.hl7.org.uk/Id/egton-codes"
EMIS_DRUG = "https://fhir.hl7.org.uk/Id/emis-drug-codes"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
#: Pseudo-system for asking a mapper which concept a SNOMED CT *description* id belongs to
#: (GP2GP extracts often carry description ids where a concept id belongs).
SNOMED_DESCRIPTION = "urn:gpbridge:snomed-description-id"
#: UK Core extension carrying a SNOMED CT description id on a Coding.
SCT_DESC_ID_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-CodingSCTDescId"

#: Short names used in mapping profiles and docs.
SYSTEM_ALIASES = {
    "snomed": SNOMED,
    "sct": SNOMED,
    "readv2": READ_V2,
    "read": READ_V2,
    "ctv3": CTV3,
    "egton": EGTON,
    "loinc": LOINC,
}

#: (system, code, display)
Mapped = tuple[str, str, str]


class CodeMapper(Protocol):
    def map_code(self, system: str, code: str) -> list[Mapped]:
        """SNOMED CT (or other target) codings equivalent to ``system|code``; [] when unmapped."""
        ...


class NullCodeMapper:
    """Maps nothing: every non-SNOMED code is kept as-is and flagged unmapped."""

    def map_code(self, system: str, code: str) -> list[Mapped]:
        return []


class DictCodeMapper:
    """An in-memory map, e.g. a tiny fixture for tests or a site's local code list."""

    def __init__(self, mapping: dict[tuple[str, str], list[Mapped]] | None = None) -> None:
        self.mapping = dict(mapping or {})

    def map_code(self, system: str, code: str) -> list[Mapped]:
        return list(self.mapping.get((system, code), ()))

    @classmethod
    def from_csv(cls, path: Path) -> DictCodeMapper:
        """Rows ``source_system,source_code,target_system,target_code,target_display`` (aliases allowed)."""
        mapping: dict[tuple[str, str], list[Mapped]] = {}
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                key = (resolve_system(row["source_system"]), row["source_code"])
                target = (resolve_system(row["target_system"]), row["target_code"], row.get("target_display") or "")
                mapping.setdefault(key, []).append(target)
        return cls(mapping)


class TerminologyCodeMapper:
    """Adapter from ``gpbridge.terminology`` (``Terminology.translate(code, system, target)``).

    A store without terminology tables, or a code system not loaded, maps nothing rather than
    failing the import: the original coding is kept and flagged, and a later retry (after
    ``gpbridge terminology load``) can map it.
    """

    _NO_MATCH = frozenset({"unmatched", "disjoint"})

    def __init__(self, terminology: Any, target: str = SNOMED) -> None:
        self.terminology = terminology
        self.target = target
        self.available = True

    def map_code(self, system: str, code: str) -> list[Mapped]:
        if system == SNOMED_DESCRIPTION:
            lookup = getattr(self.terminology, "concept_for_description", None)
            return _as_mapped(self._ask(lookup, code), SNOMED) if lookup is not None else []
        found = self._ask(self.terminology.translate, code, system, self.target) or []
        return [
            (getattr(m, "system", None) or self.target, m.code, getattr(m, "display", None) or "")
            for m in found
            if getattr(m, "code", None) and getattr(m, "equivalence", "") not in self._NO_MATCH
        ]

    def _ask(self, function: Any, *args: Any) -> Any:
        if not self.available:
            return None
        try:
            return function(*args)
        except FhirError as exc:
            if exc.status >= 500:  # no terminology schema here: stop asking
                self.available = False
            return None


class CachingCodeMapper:
    """Memoises another mapper: extracts repeat the same few hundred codes thousands of times."""

    def __init__(self, inner: CodeMapper, size: int = 65536) -> None:
        self.inner = inner
        self._cached = lru_cache(maxsize=size)(self._lookup)

    def _lookup(self, system: str, code: str) -> tuple[Mapped, ...]:
        return tuple(self.inner.map_code(system, code))

    def map_code(self, system: str, code: str) -> list[Mapped]:
        return list(self._cached(system, code))


def default_code_mapper(store: Any = None) -> CodeMapper:
    """The terminology service when it is installed, else a mapper that maps nothing."""
    if store is None:
        return NullCodeMapper()
    try:
        from gpbridge.terminology import terminology_for
    except ImportError:
        return NullCodeMapper()
    return CachingCodeMapper(TerminologyCodeMapper(terminology_for(store)))


def resolve_system(name: str) -> str:
    """A profile's short system name (``readv2``) or a full URI."""
    return SYSTEM_ALIASES.get(name.strip().lower(), name.strip())


def _as_mapped(found: Any, default_system: str) -> list[Mapped]:
    if not found:
        return []
    if isinstance(found, (tuple, dict)) or hasattr(found, "code"):
        found = [found]
    out: list[Mapped] = []
    for item in found if isinstance(found, Iterable) else []:
        if isinstance(item, tuple):
            if len(item) == 3:
                out.append((str(item[0]), str(item[1]), str(item[2] or "")))
            elif len(item) == 2:  # (code, display)
                out.append((default_system, str(item[0]), str(item[1] or "")))
            continue
        get = item.get if isinstance(item, dict) else lambda k, d=None, o=item: getattr(o, k, d)
        code = get("code")
        if code:
            out.append((str(get("system") or default_system), str(code), str(get("display") or "")))
    return out


def sctid_partition(code: str) -> str:
    """The partition of a SNOMED CT id: '0' concept, '1' description, '2' relationship ('' if not an SCTID)."""
    if len(code) < 6 or not code.isdigit():
        return ""
    return code[-2]
