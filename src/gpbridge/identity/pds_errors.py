"""PDS error responses: OperationOutcomes shaped exactly as the PDS FHIR API returns them.

Each Spine error code has a fixed issue code, severity and display (from the PDS sandbox's
recorded responses); only ``diagnostics`` varies, and some codes carry none. PDS puts no
``expression`` on its issues (its schema would need a string, FHIR an array), so neither do we.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SPINE_ERROR_SYSTEM = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"

# Spine code -> (HTTP status, issue code, severity, display)
CODES: dict[str, tuple[int, str, str, str]] = {
    "INVALID_RESOURCE_ID": (400, "value", "error", "Resource Id is invalid"),
    "RESOURCE_NOT_FOUND": (404, "not-found", "information", "Resource not found"),
    "INVALIDATED_RESOURCE": (404, "processing", "error",
                             "Resource that has been marked as invalid was requested - invalid resources cannot be retrieved"),
    "MISSING_VALUE": (400, "required", "error", "Required value is missing"),
    "INVALID_VALUE": (400, "value", "error", "Provided value is invalid"),
    "INVALID_SEARCH_DATA": (400, "value", "error", "Search data is invalid"),
    "ADDITIONAL_PROPERTIES": (400, "invariant", "error", "Additional properties should not be included"),
    "UNSUPPORTED_SERVICE": (400, "processing", "error", "Unsupported Service"),
    "ACCESS_DENIED": (403, "forbidden", "error", "Access Denied - Unauthorised"),
    "TOO_MANY_REQUESTS": (429, "throttled", "error", "You have exceeded your application's rate limit"),
    "TOO_MANY_MATCHES": (200, "multiple-matches", "information", "Too Many Matches"),
    "INVALID_METHOD": (405, "forbidden", "error", "Method not allowed"),
}


@dataclass
class PdsError(Exception):
    code: str
    diagnostics: str | None = None
    status: int | None = None  # overrides the code's usual status (e.g. ACCESS_DENIED is 401 or 403)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}: {self.diagnostics or ''}")

    @property
    def http_status(self) -> int:
        return self.status or CODES[self.code][0]

    def outcome(self) -> dict[str, Any]:
        return pds_outcome(self.code, self.diagnostics)


def pds_outcome(code: str, diagnostics: str | None = None) -> dict[str, Any]:
    _, issue_code, severity, display = CODES[code]
    issue: dict[str, Any] = {
        "severity": severity,
        "code": issue_code,
        "details": {"coding": [{"system": SPINE_ERROR_SYSTEM, "version": "1", "code": code, "display": display}]},
    }
    if diagnostics:
        issue["diagnostics"] = diagnostics
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def invalid_value(value: str, field: str, where: str = "field") -> PdsError:
    return PdsError("INVALID_VALUE", f"Invalid value - '{value}' in {where} '{field}'")


def invalid_search(diagnostics: str) -> PdsError:
    return PdsError("INVALID_SEARCH_DATA", diagnostics)
