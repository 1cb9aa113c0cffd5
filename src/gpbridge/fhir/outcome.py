"""OperationOutcome and the error type every layer raises.

Any layer may raise ``FhirError``; the API turns it into an OperationOutcome response with the
error's HTTP status. An error carries *every* issue found, each with a FHIRPath ``expression``
pointing at the element where that is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    severity: str  # fatal | error | warning | information
    code: str  # IssueType code: invalid, structure, required, value, not-found, conflict, ...
    diagnostics: str
    expression: tuple[str, ...] = ()
    details: dict[str, Any] | None = None  # a CodeableConcept, e.g. Spine error codes

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.details:
            out["details"] = self.details
        out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def error(code: str, diagnostics: str, *expression: str) -> Issue:
    return Issue("error", code, diagnostics, tuple(e for e in expression if e))


def warning(code: str, diagnostics: str, *expression: str) -> Issue:
    return Issue("warning", code, diagnostics, tuple(e for e in expression if e))


def information(code: str, diagnostics: str, *expression: str) -> Issue:
    return Issue("information", code, diagnostics, tuple(e for e in expression if e))


def operation_outcome(issues: list[Issue] | tuple[Issue, ...]) -> dict[str, Any]:
    if not issues:
        issues = [information("informational", "All OK")]
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


@dataclass
class FhirError(Exception):
    """A failure the client can see: an HTTP status and the issues that explain it."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues) or f"HTTP {self.status}"

    def describe(self) -> str:
        """Every issue on one line, each with the element it names: for CLI and log messages."""
        return "; ".join(
            f"{', '.join(i.expression)}: {i.diagnostics}" if i.expression else i.diagnostics for i in self.issues
        ) or f"HTTP {self.status}"

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)

    @classmethod
    def of(cls, status: int, code: str, diagnostics: str, *expression: str) -> FhirError:
        return cls(status, [error(code, diagnostics, *expression)])


def bad_request(diagnostics: str, *expression: str, code: str = "invalid") -> FhirError:
    return FhirError.of(400, code, diagnostics, *expression)


def not_found(diagnostics: str) -> FhirError:
    return FhirError.of(404, "not-found", diagnostics)


def gone(diagnostics: str) -> FhirError:
    return FhirError.of(410, "deleted", diagnostics)


def conflict(diagnostics: str) -> FhirError:
    return FhirError.of(409, "conflict", diagnostics)


def precondition_failed(diagnostics: str) -> FhirError:
    return FhirError.of(412, "conflict", diagnostics)


def unprocessable(issues: list[Issue]) -> FhirError:
    return FhirError(422, issues)
