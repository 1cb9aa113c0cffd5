"""Declarative mapping profiles: one YAML file per source layout (see profiles/*.yaml).

A profile names the file format (delimiter, encoding), the record id columns, how to read the
patient, and per resource type the rows it applies to (``when``) and ``elements``: FHIR element
→ column, with the column's type (code + code system, date + format, quantity + unit column,
annotation) and value maps. Profiles are checked completely when loaded, so a mistake in one
is reported before any data is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gpbridge.adapters.common.codes import resolve_system
from gpbridge.adapters.csv.errors import ProfileError

PROFILE_DIR = Path(__file__).parent / "profiles"
RESOURCE_TYPES = frozenset({"Observation", "Condition", "AllergyIntolerance", "Procedure", "Immunization"})
ELEMENT_TYPES = frozenset({"code", "date", "datetime", "quantity", "annotation", "string"})
#: where each resource type keeps its patient reference
SUBJECT = {"Observation": "subject", "Condition": "subject", "AllergyIntolerance": "patient",
           "Procedure": "subject", "Immunization": "patient"}


@dataclass(frozen=True)
class Element:
    path: str  # the FHIR element, e.g. "effectiveDateTime"
    column: str
    type: str
    system: str = ""  # code: the column's code system (resolved URI)
    display: str = ""  # code: the column holding the display text
    format: str = ""  # date/datetime: strptime format
    unit: str = ""  # quantity: the column holding the unit
    value_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceRule:
    type: str
    elements: tuple[Element, ...]
    when_column: str = ""
    when_in: frozenset[str] = frozenset()

    def applies(self, row: dict[str, str]) -> bool:
        return not self.when_column or row.get(self.when_column, "").strip() in self.when_in


@dataclass(frozen=True)
class PatientRule:
    nhs_number: str
    local_id: str = ""
    local_system: str = ""
    family: str = ""
    given: str = ""
    birth_date: str = ""
    birth_format: str = "%Y-%m-%d"
    gender: str = ""
    gender_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source_system: str
    delimiter: str
    encoding: str
    record_id: tuple[str, ...]
    patient: PatientRule
    resources: tuple[ResourceRule, ...]
    units: dict[str, str]
    ods_code: str = ""
    ods_column: str = ""

    def columns(self) -> set[str]:
        """Every column the profile reads (checked against the file's header)."""
        p = self.patient
        cols = {*self.record_id, p.nhs_number, p.local_id, p.family, p.given, p.birth_date, p.gender, self.ods_column}
        for rule in self.resources:
            cols.add(rule.when_column)
            for e in rule.elements:
                cols.update((e.column, e.display, e.unit))
        cols.discard("")
        return cols


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``readv2-journal``) or a profile file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ProfileError(f"no mapping profile {str(name_or_path)!r} (shipped: {', '.join(available_profiles())})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    return parse_profile(data, str(path))


def parse_profile(data: Any, where: str = "profile") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a profile is a mapping")
    fmt = _mapping(data.get("format", {}), f"{where}: format")
    patient = _mapping(data.get("patient"), f"{where}: patient")
    rules = data.get("resources")
    if not isinstance(rules, list) or not rules:
        raise ProfileError(f"{where}: resources must be a non-empty list")
    record_id = data.get("record_id") or []
    if isinstance(record_id, str):
        record_id = [record_id]
    encoding = str(fmt.get("encoding", "utf-8"))
    try:
        "".encode(encoding)
    except LookupError:
        raise ProfileError(f"{where}: unknown encoding {encoding!r}") from None
    delimiter = str(fmt.get("delimiter", ","))
    if len(delimiter) != 1:
        raise ProfileError(f"{where}: delimiter must be one character")
    return Profile(
        name=str(data.get("name") or Path(where).stem),
        description=str(data.get("description", "")),
        source_system=str(data.get("source_system", "CSV extract")),
        delimiter=delimiter,
        encoding=encoding,
        record_id=tuple(str(c) for c in record_id),
        patient=_patient(patient, where),
        resources=tuple(_rule(r, f"{where}: resources[{i}]") for i, r in enumerate(rules)),
        units={str(k): str(v) for k, v in _mapping(data.get("units", {}), f"{where}: units").items()},
        ods_code=str(data.get("ods_code", "")),
        ods_column=str(data.get("ods_column", "")),
    )


def _patient(data: dict[str, Any], where: str) -> PatientRule:
    if not data.get("nhs_number"):
        raise ProfileError(f"{where}: patient.nhs_number (the column holding the NHS number) is required")
    local = data.get("local_id") or {}
    birth = data.get("birth_date") or {}
    gender = data.get("gender") or {}
    if isinstance(local, str) or isinstance(birth, str) or isinstance(gender, str):
        raise ProfileError(f"{where}: patient.local_id, birth_date and gender are mappings with a column")
    return PatientRule(
        nhs_number=str(data["nhs_number"]), local_id=str(local.get("column", "")),
        local_system=str(local.get("system", "")), family=str(data.get("family", "")),
        given=str(data.get("given", "")), birth_date=str(birth.get("column", "")),
        birth_format=str(birth.get("format", "%Y-%m-%d")), gender=str(gender.get("column", "")),
        gender_map={str(k): str(v) for k, v in (gender.get("map") or {}).items()},
    )


def _rule(data: Any, where: str) -> ResourceRule:
    data = _mapping(data, where)
    type_ = str(data.get("type", ""))
    if type_ not in RESOURCE_TYPES:
        raise ProfileError(f"{where}: type {type_!r} is not one of {', '.join(sorted(RESOURCE_TYPES))}")
    elements = _mapping(data.get("elements"), f"{where}: elements")
    if "code" not in elements and type_ != "Immunization":
        raise ProfileError(f"{where}: elements.code is required")
    when = data.get("when") or {}
    return ResourceRule(
        type=type_,
        elements=tuple(_element(path, spec, f"{where}: elements.{path}") for path, spec in elements.items()),
        when_column=str(when.get("column", "")),
        when_in=frozenset(str(v) for v in when.get("in", ())),
    )


def _element(path: str, data: Any, where: str) -> Element:
    data = _mapping(data, where)
    kind = str(data.get("type", "code" if path in ("code", "vaccineCode") else "string"))
    if kind not in ELEMENT_TYPES:
        raise ProfileError(f"{where}: type {kind!r} is not one of {', '.join(sorted(ELEMENT_TYPES))}")
    if not data.get("column"):
        raise ProfileError(f"{where}: column is required")
    system = str(data.get("system", ""))
    if kind == "code" and not system:
        raise ProfileError(f"{where}: a code column needs its code system (readv2, ctv3, snomed, local URI)")
    if kind in ("date", "datetime") and not data.get("format"):
        raise ProfileError(f"{where}: a {kind} column needs its format (e.g. %d/%m/%Y)")
    return Element(
        path=path, column=str(data["column"]), type=kind, system=resolve_system(system) if system else "",
        display=str(data.get("display", "")), format=str(data.get("format", "")), unit=str(data.get("unit", "")),
        value_map={str(k): str(v) for k, v in (data.get("map") or {}).items()},
    )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProfileError(f"{where} must be a mapping")
    return value
