"""The ``$gpc.getstructuredrecord`` Parameters resource -> a typed ``StructuredRequest``.

Every rule of GP Connect 1.6 that a consumer can break is checked here, before any data is read:
a malformed body (and, as the specification's error table says, ``consultationSearchPeriod``
with ``includeNumberOfMostRecent``) is INVALID_RESOURCE; a missing or mistyped part, a duplicate,
a partial date or one with a time, a search date in the future (a diary date in the past), a
reversed period or a combination the specification forbids is INVALID_PARAMETER; a bad NHS
number is INVALID_NHS_NUMBER. Unknown parameters (and parts) are accepted and reported as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gpbridge.fhir.outcome import Issue
from gpbridge.identity.nhs_number import NHS_NUMBER_SYSTEM, NhsNumberError, validate_nhs_number
from gpbridge.records.gpc_codes import gpc_error, not_implemented_warning


@dataclass(frozen=True, slots=True)
class Window:
    """An inclusive date window; either end may be open. ISO dates compare as strings."""

    start: str | None = None
    end: str | None = None

    def holds(self, when: str | None) -> bool:
        if when is None:
            return True  # GP Connect: entries with no recorded date are returned alongside the matches
        day = when[:10]
        if self.start is not None and day < self.start[:10] and not self.start.startswith(day):
            return False
        return self.end is None or day <= self.end[:10] or day.startswith(self.end)


EVERYTHING = Window()


@dataclass(slots=True)
class StructuredRequest:
    nhs_number: str
    # section key -> its options; a section is requested when its key is present
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[Issue] = field(default_factory=list)


# parameter -> (section key, {part name: (value[x] type, option key)})
_SECTIONS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "includeAllergies": ("allergies", {"includeResolvedAllergies": ("valueBoolean", "resolved")}),
    "includeMedication": ("medications", {
        "includePrescriptionIssues": ("valueBoolean", "issues"),
        "medicationSearchFromDate": ("valueDate", "from"),
    }),
    "includeConsultations": ("consultations", {
        "consultationSearchPeriod": ("valuePeriod", "period"),
        "includeNumberOfMostRecent": ("valuePositiveInt", "most_recent"),
    }),
    "includeProblems": ("problems", {
        "filterStatus": ("valueCode", "status"),
        "filterSignificance": ("valueCode", "significance"),
    }),
    "includeImmunisations": ("immunisations", {
        "includeNotGiven": ("valueBoolean", "not_given"),
        "includeStatus": ("valueBoolean", "status"),
    }),
    "includeUncategorisedData": ("uncategorised", {"uncategorisedDataSearchPeriod": ("valuePeriod", "period")}),
    "includeInvestigations": ("investigations", {"investigationSearchPeriod": ("valuePeriod", "period")}),
    # "referralsSearchPeriod" is how GP Connect's own example request spells it
    "includeReferrals": ("referrals", {
        "referralSearchPeriod": ("valuePeriod", "period"),
        "referralsSearchPeriod": ("valuePeriod", "period"),
    }),
    "includeDiaryEntries": ("diary", {"diaryEntriesSearchDate": ("valueDate", "until")}),
}
_REQUIRED_PARTS = {"includeAllergies": ("includeResolvedAllergies",)}
_CODES = {"filterStatus": ("active", "inactive"), "filterSignificance": ("major", "minor")}
# 0..*: each includeProblems is one (status, significance) pair; the section holds their union
REPEATABLE = frozenset({"includeProblems"})
# GP Connect's "not permitted parameter combinations" (clinical risk): with the section on the
# left requested, none of these part parameters may be given
_FORBIDDEN_WITH: dict[str, tuple[str, ...]] = {
    "includeConsultations": (
        "includeMedication.medicationSearchFromDate", "includeUncategorisedData.uncategorisedDataSearchPeriod",
        "includeProblems.filterSignificance", "includeProblems.filterStatus",
        "includeReferrals.referralSearchPeriod", "includeReferrals.referralsSearchPeriod",
        "includeDiaryEntries.diaryEntriesSearchDate",
        "includeImmunisations.includeNotGiven", "includeImmunisations.includeStatus",
    ),
    "includeProblems": (
        "includeMedication.medicationSearchFromDate", "includeUncategorisedData.uncategorisedDataSearchPeriod",
        "includeReferrals.referralSearchPeriod", "includeReferrals.referralsSearchPeriod",
        "includeDiaryEntries.diaryEntriesSearchDate",
        "includeImmunisations.includeNotGiven", "includeImmunisations.includeStatus",
    ),
}


def parse_request(body: Any, today: date) -> StructuredRequest:
    """Check ``body`` against the operation's rules; ``today`` bounds the date parameters."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise gpc_error("INVALID_RESOURCE", "The request body must be a FHIR Parameters resource")
    parameters = body.get("parameter")
    if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
        raise gpc_error("INVALID_RESOURCE", "Parameters.parameter must be a list of parameters", "Parameters.parameter")
    names = [p.get("name") for p in parameters]
    for name in {n for n in names if names.count(n) > 1 and n not in REPEATABLE}:
        raise gpc_error("INVALID_PARAMETER", f"Parameter {name} is given more than once", _where(str(name)))
    by_name = {str(p.get("name")): p for p in parameters}
    request = StructuredRequest(nhs_number=_nhs_number(by_name.get("patientNHSNumber")))
    given: set[str] = set()  # "parameter.part" of every recognised part given
    for parameter in parameters:
        name = str(parameter.get("name"))
        if name == "patientNHSNumber":
            continue
        if name not in _SECTIONS:
            request.warnings.append(not_implemented_warning(name))
            continue
        key, parts = _SECTIONS[name]
        options = _options(name, parameter, parts, today, request.warnings)
        given |= {f"{name}.{part}" for part in options.pop(_GIVEN)}
        if name in REPEATABLE:
            request.sections.setdefault(key, {"filters": []})["filters"].append(options)
        else:
            request.sections[key] = options
    if len(request.sections) == 0:
        raise gpc_error("INVALID_PARAMETER", "Request at least one section (e.g. includeAllergies)", "Parameters")
    consultations = request.sections.get("consultations", {})
    if "period" in consultations and "most_recent" in consultations:
        raise gpc_error(
            "INVALID_RESOURCE",
            "consultationSearchPeriod and includeNumberOfMostRecent cannot be used together",
            _where("includeConsultations"),
        )
    _refuse_forbidden_combinations(by_name, given)
    return request


def _refuse_forbidden_combinations(by_name: dict[str, Any], given: set[str]) -> None:
    for section, forbidden in _FORBIDDEN_WITH.items():
        if section not in by_name:
            continue
        clashes = sorted(given.intersection(forbidden))
        if clashes:
            raise gpc_error(
                "INVALID_PARAMETER",
                f"{', '.join(clashes)} cannot be used when {section} is requested",
                *(_where(c.partition(".")[0]) for c in clashes),
            )


def _where(name: str) -> str:
    return f"Parameters.parameter.where(name='{name}')"


def _nhs_number(parameter: dict[str, Any] | None) -> str:
    if parameter is None:
        raise gpc_error("INVALID_PARAMETER", "patientNHSNumber is required", "Parameters.parameter")
    identifier = parameter.get("valueIdentifier")
    if not isinstance(identifier, dict):
        raise gpc_error("INVALID_PARAMETER", "patientNHSNumber must be a valueIdentifier", _where("patientNHSNumber"))
    if identifier.get("system") != NHS_NUMBER_SYSTEM:
        raise gpc_error(
            "INVALID_IDENTIFIER_SYSTEM",
            f"patientNHSNumber must use the system {NHS_NUMBER_SYSTEM}",
            _where("patientNHSNumber"),
        )
    try:
        return validate_nhs_number(identifier.get("value"))  # type: ignore[arg-type]
    except NhsNumberError as exc:
        raise gpc_error("INVALID_NHS_NUMBER", str(exc), _where("patientNHSNumber")) from None


def _options(
    name: str, parameter: dict[str, Any], parts: dict[str, tuple[str, str]], today: date, warnings: list[Issue]
) -> dict[str, Any]:
    if any(k.startswith("value") or k == "resource" for k in parameter):
        raise gpc_error("INVALID_PARAMETER", f"{name} takes part parameters, not a value", _where(name))
    options: dict[str, Any] = {}
    given = parameter.get("part") or []
    if not isinstance(given, list):
        raise gpc_error("INVALID_PARAMETER", f"{name}.part must be a list", _where(name))
    seen: set[str] = set()
    for part in given:
        part_name = str(part.get("name")) if isinstance(part, dict) else "?"
        if part_name not in parts:
            warnings.append(not_implemented_warning(f"{name}.{part_name}"))
            continue
        if part_name in seen:
            raise gpc_error("INVALID_PARAMETER", f"{name}.{part_name} is given more than once", _where(name))
        seen.add(part_name)
        value_type, key = parts[part_name]
        options[key] = _value(name, part_name, part, value_type, today)
    for required in _REQUIRED_PARTS.get(name, ()):
        if required not in seen:
            raise gpc_error("INVALID_PARAMETER", f"{name} requires the part parameter {required}", _where(name))
    options[_GIVEN] = seen
    return options


_GIVEN = "_given"  # the part names given, handed back to parse_request for the combination rules


def _value(name: str, part_name: str, part: dict[str, Any], value_type: str, today: date) -> Any:
    label = f"{name}.{part_name}"
    value = part.get(value_type)
    others = [k for k in part if k.startswith("value") and k != value_type]
    if value is None or others:
        raise gpc_error("INVALID_PARAMETER", f"{label} must have a {value_type}", _where(name))
    if value_type == "valueBoolean" and not isinstance(value, bool):
        raise gpc_error("INVALID_PARAMETER", f"{label} must be true or false", _where(name))
    if value_type == "valuePositiveInt" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise gpc_error("INVALID_PARAMETER", f"{label} must be a positive integer", _where(name))
    if value_type == "valueCode":
        allowed = _CODES.get(part_name, ())
        if value not in allowed:
            raise gpc_error("INVALID_PARAMETER", f"{label} must be one of {', '.join(allowed)}", _where(name))
    if value_type == "valueDate":
        day = _date(label, value, name)
        if part_name == "diaryEntriesSearchDate":
            if day < today.isoformat():  # diary entries are due by a date: asking by a past one is refused
                raise gpc_error("INVALID_PARAMETER", f"{label} {value} is before today", _where(name))
        elif day > today.isoformat():
            raise gpc_error("INVALID_PARAMETER", f"{label} {value} is in the future", _where(name))
        return day
    if value_type == "valuePeriod":
        return _period(label, value, name, today)
    return value


def _date(label: str, value: Any, name: str) -> str:
    """A whole date (YYYY-MM-DD): GP Connect refuses partial dates and any time or offset."""
    text = value if isinstance(value, str) else ""
    try:
        if len(text) != 10:
            raise ValueError(text)
        date.fromisoformat(text)
    except ValueError:
        raise gpc_error(
            "INVALID_PARAMETER", f"{label} {value!r} is not a whole date (YYYY-MM-DD, no time)", _where(name)
        ) from None
    return text


def _period(label: str, value: Any, name: str, today: date) -> Window:
    if not isinstance(value, dict) or not (value.get("start") or value.get("end")):
        raise gpc_error("INVALID_PARAMETER", f"{label} must have a start or an end", _where(name))
    start = _date(f"{label}.start", value["start"], name) if value.get("start") else None
    end = _date(f"{label}.end", value["end"], name) if value.get("end") else None
    for end_name, day in (("start", start), ("end", end)):
        if day is not None and day > today.isoformat():
            raise gpc_error("INVALID_PARAMETER", f"{label}.{end_name} {day} is in the future", _where(name))
    if start is not None and end is not None and end < start:
        raise gpc_error("INVALID_PARAMETER", f"{label} ends ({end}) before it starts ({start})", _where(name))
    return Window(start, end)
