"""The terminology service's errors, worded for the person who sent the request."""

from __future__ import annotations

from gpbridge.fhir.outcome import FhirError, error
from gpbridge.terminology.results import TerminologyUnavailable


def unknown_system(system: str, *expression: str) -> TerminologyUnavailable:
    return TerminologyUnavailable(404, [error(
        "not-found", f"code system '{system}' is not known to this server: load it with "
        "'gpbridge terminology load' (snomed, dmd or fhir) first", *expression)])


def not_loaded(system: str, name: str | None) -> TerminologyUnavailable:
    label = name or system
    return TerminologyUnavailable(404, [error(
        "not-found", f"{label} ({system}) is known only through maps: its concepts are not loaded, "
        "so codes cannot be looked up in it; use ConceptMap/$translate")])


def unknown_code(system: str, code: str, *expression: str) -> FhirError:
    return FhirError.of(404, "not-found", f"code '{code}' is not in code system '{system}'", *expression)


def unknown_value_set(url: str) -> TerminologyUnavailable:
    return TerminologyUnavailable(404, [error(
        "not-found", f"value set '{url}' is not known to this server: load it with "
        "'gpbridge terminology load fhir', store it as a ValueSet resource, or send it inline")])


def unknown_concept_map(url: str) -> TerminologyUnavailable:
    return TerminologyUnavailable(404, [error("not-found", f"concept map '{url}' is not known to this server")])


def wrong_version(system: str, asked: str, loaded: str | None) -> TerminologyUnavailable:
    return TerminologyUnavailable(404, [error(
        "not-found", f"version '{asked}' of '{system}' is not loaded (loaded: {loaded or 'no version'})")])


def cannot_expand(reason: str, *expression: str) -> FhirError:
    return FhirError.of(422, "not-supported", reason, *expression)


def too_costly(total: int, limit: int) -> FhirError:
    return FhirError.of(422, "too-costly", f"the expansion has {total:,} codes, more than {limit:,}: "
                        "page it with count and offset, or narrow it with filter")
