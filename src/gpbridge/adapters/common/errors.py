"""The one error type adapters raise for input they cannot translate.

Each adapter subclasses ``AdapterError`` (``Gp2gpError``, ``Hl7v2Error``, ``CsvError``) so a caller
— and a fuzz test — can tell "this input is bad" from "this program is broken": malformed input
must never surface as anything else. ``place`` names where the problem is (an XPath, an HL7 field
such as ``PID-7``, a CSV ``line 12, column date``) so whoever fixes the message can find it.
"""

from __future__ import annotations

from gpbridge.fhir.outcome import FhirError, Issue, error


class AdapterError(Exception):
    adapter = "adapter"

    def __init__(self, reason: str, place: str = "", *, code: str = "invalid", status: int = 422) -> None:
        self.reason = reason
        self.place = place
        self.code = code  # an OperationOutcome IssueType code
        self.status = status  # 400 for input we cannot even parse, 422 for input we cannot translate
        super().__init__(f"{place}: {reason}" if place else reason)

    def issue(self) -> Issue:
        # ``place`` is an XPath / HL7 field / CSV cell, not FHIRPath, so it goes in the diagnostics
        return error(self.code, str(self))

    def fhir_error(self) -> FhirError:
        return FhirError(self.status, [self.issue()])
