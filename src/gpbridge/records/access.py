"""Who may see what of a patient's record: the question every record assembler must ask.

``records`` reads the store itself (one search per type, then sections in memory), so it could
read round the security policy. The loader (``patient_record.load_record`` / ``load_person``)
therefore takes a ``RecordAccess``, with no default: before it reads, ``open`` asks whether the
caller may read every type it is about to return and refuses the whole record otherwise (a
section silently left empty would read as "no known allergies"); every resource it returns
passes through ``shown``. The policy's implementation is ``security.record_access``; code that
serves no user (the demo loader, benchmarks, tests of the record logic) passes ``TRUSTED``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Protocol

# How ``security.filtering.redact`` marks a Patient whose demographics it withheld (defined here,
# below security, so the record logic can recognise it).
REDACTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED"}


class RecordAccess(Protocol):
    def open(self, patient: dict[str, Any], types: Collection[str], sources: Collection[str] = ()) -> None:
        """Before any of ``patient``'s record is read: raise unless the caller may read the
        Patient and every one of ``types`` of their record. ``sources``: the ``Patient/id`` of
        the person's linked source records, whose entries are read with it."""

    def shown(self, resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """What the caller may see of ``resources``: hidden items dropped, a sensitive Patient's
        demographics withheld."""


class _Trusted:
    """Everything, as stored: for callers that serve no user."""

    def open(self, patient: dict[str, Any], types: Collection[str], sources: Collection[str] = ()) -> None:
        return None

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
