"""Who may see what of a patient's record: the question every record assembler must ask.

``records`` reads the store itself (one search per type, then sections in memory), so it could
read round the security policy. The loader (``patient_record.load_record`` / ``load_person``)
therefore takes a ``RecordAccess``, with no default: before it reads, ``open`` asks whether the
caller may read every type it is about to return and refuses the whole record otherwise (a
section silently left empty would read as "no known allergies"); every resource it returns
passes through ``shown``. A view that can mark a section withheld (``$summary``, the web views)
asks ``open`` with ``withhold``: then a patient-facing caller whose access level leaves out some of
the types gets the others, and ``open`` names the types withheld, so each section built from them
is shown as withheld (``WITHHELD_REASON``, ``withheld_text``), never as empty. The policy's
implementation is ``security.record_access``; code that serves no user (the demo loader,
benchmarks, tests of the record logic) passes ``TRUSTED``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Protocol

# How ``security.filtering.redact`` marks a Patient whose demographics it withheld (defined here,
# below security, so the record logic can recognise it).
REDACTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED"}


# The code a section withheld from the caller carries (FHIR List/Composition.section emptyReason).
WITHHELD_REASON = {
    "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "withheld", "display": "Information Withheld"
}  # fmt: skip


def withheld_text(title: str) -> str:
    """What a withheld section says, in the FHIR document and on the web pages alike."""
    return (f"{title}: withheld. Your access level does not include this section, so it is not shown "
            "here. This does not mean that nothing is recorded.")


class RecordAccess(Protocol):
    def open(
        self, patient: dict[str, Any], types: Collection[str], sources: Collection[str] = (), *, withhold: bool = False
    ) -> Collection[str]:
        """Before any of ``patient``'s record is read: raise unless the caller may read the
        Patient and every one of ``types`` of their record. ``sources``: the ``Patient/id`` of
        the person's linked source records, whose entries are read with it. ``withhold``: the
        view marks withheld sections, so types the caller's access level leaves out may be
        withheld instead of refusing; returns the types withheld (not to be read)."""

    def shown(self, resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """What the caller may see of ``resources``: hidden items dropped, a sensitive Patient's
        demographics withheld."""


class _Trusted:
    """Everything, as stored: for callers that serve no user."""

    def open(
        self, patient: dict[str, Any], types: Collection[str], sources: Collection[str] = (), *, withhold: bool = False
    ) -> Collection[str]:
        return ()

    def shown(self, resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(resources)


TRUSTED: RecordAccess = _Trusted()


def demographics_withheld(patient: dict[str, Any]) -> bool:
    """True when the policy withheld ``patient``'s demographics: then nothing derived from the raw
    record (their practice, as author or as a source's name) may put them back."""
    security = (patient.get("meta") or {}).get("security") or ()
    return any(
        isinstance(s, dict) and s.get("system") == REDACTED["system"] and s.get("code") == REDACTED["code"]
        for s in security
    )
