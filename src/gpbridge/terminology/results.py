"""What the terminology service answers with: small immutable values, safe to cache and share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpbridge.fhir.outcome import FhirError


@dataclass(frozen=True, slots=True)
class Concept:
    system: str
    code: str
    display: str | None
    active: bool = True
    kind: str | None = None  # dm+d class: VTM, VMP, AMP


@dataclass(frozen=True, slots=True)
class Designation:
    value: str
    use: str  # fsn | synonym | definition | display | "system|code" of a FHIR designation use
    language: str | None = None
    preferred: bool = False


@dataclass(frozen=True, slots=True)
class Property:
    code: str  # parent | child | inactive | moduleId | effectiveTime | VTM | VMP | ...
    value: Any  # str (a code), bool or a plain string
    kind: str = "code"  # code | boolean | string | dateTime | integer | decimal | Coding


@dataclass(frozen=True, slots=True)
class LookupResult:
    concept: Concept
    system_name: str | None
    version: str | None
    designations: tuple[Designation, ...] = ()
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True, slots=True)
class CodeValidation:
    """``result`` is the answer; ``known`` is False when the service could not decide (unknown
    code system or value set), which a validator should report as a warning, not an error."""

    result: bool
    message: str | None = None
    display: str | None = None  # the recommended display
    known: bool = True
    code_ok: bool = False  # the code is in the system / value set (the display may still be wrong)
    system: str | None = None
    code: str | None = None
    inactive: bool = False


@dataclass(frozen=True, slots=True)
class MapResult:
    equivalence: str  # ConceptMap equivalence: equivalent, relatedto, inexact, unmatched...
    system: str | None
    code: str | None
    display: str | None
    source: str  # the ConceptMap URL the match came from
    assured: bool | None = None
    comment: str | None = None


@dataclass(slots=True)
class Expansion:
    total: int
    offset: int
    contains: list[Concept] = field(default_factory=list)
    # the expanded value set's metadata (url, version, name, title, status) when it has any
    value_set: dict[str, Any] = field(default_factory=dict)
    designations: dict[tuple[str, str], tuple[Designation, ...]] = field(default_factory=dict)


class TerminologyUnavailable(FhirError):
    """The service cannot answer: the code system or value set is not known here.

    An ``$operation`` reports it like any FhirError; in-process callers (the validator) catch it
    to downgrade "cannot check" to a warning instead of rejecting a resource.
    """
