"""CSV extract + mapping profile → transaction Bundle (pure: no store, no I/O).

The whole file is one message: one transaction, one archive, one Provenance — a bad cell
anywhere (a date that does not parse, an unknown NHS number check digit, a value map miss)
rejects the file with the line and column named, so nothing of it is half-stored.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime
from typing import Any

from gpbridge.adapters.common.bundle import DuplicateEntry, TransactionBuilder, identifier_criteria
from gpbridge.adapters.common.codes import CodeMapper, NullCodeMapper
from gpbridge.adapters.common.concepts import build_concept
from gpbridge.adapters.common.flags import Quality
from gpbridge.adapters.common.ids import digest
from gpbridge.adapters.common.nhs_number import NHS_NUMBER_SYSTEM, check_nhs_number
from gpbridge.adapters.common.pipeline import Translation
from gpbridge.adapters.csv.errors import CsvError
from gpbridge.adapters.csv.profile import SUBJECT, Element, Profile

CONTENT_TYPE = "text/csv"
RECORD_SYSTEM = "https://gpbridge.dev/Id/csv-record"
_UK_TZ = "Europe/London"


def translate_csv(raw: bytes, profile: Profile, *, mapper: CodeMapper | None = None) -> Translation:
    rows = read_rows(raw, profile)
    builder = TransactionBuilder(f"csv|{profile.name}|{digest(bytes(raw))}")
    quality = Quality()
    code_mapper = mapper or NullCodeMapper()
    patients: dict[str, str] = {}
    ods = profile.ods_code
    counts: Counter[str] = Counter()
    for line, row in rows:
        nhs = _nhs(row, profile, line)
        if nhs not in patients:
            patients[nhs] = _patient(builder, row, profile, nhs, line)
        if profile.ods_column and not ods:
            ods = row.get(profile.ods_column, "").strip()
        rule = next((r for r in profile.resources if r.applies(row)), None)
        if rule is None:
            raise CsvError("no resource rule of the profile applies to this row", f"line {line}", code="not-supported")
        resource: dict[str, Any] = {"resourceType": rule.type, SUBJECT[rule.type]: {"reference": patients[nhs]}}
        if rule.type == "Observation":
            resource["status"] = "final"
        for element in rule.elements:
            _apply(resource, element, row, line, profile, code_mapper, quality)
        record = _record_id(row, profile, line)
        try:
            builder.create_identified(f"{rule.type}|{record}", resource, f"{RECORD_SYSTEM}/{profile.name}", record)
        except DuplicateEntry:
            raise CsvError(f"record id {record!r} appears twice in the file", f"line {line}",
                           code="duplicate") from None
        counts[rule.type] += 1
    if not counts:
        raise CsvError("the file has no data rows", "line 2", code="required", status=400)
    return Translation(
        adapter="csv",
        message_key=f"{profile.name}|{digest(bytes(raw))}",
        message_id=f"{profile.name}:{digest(bytes(raw))[:16]}",
        source_system=profile.source_system,
        ods_code=ods or None,
        builder=builder,
        quality=quality,
        content_type=CONTENT_TYPE,
        patient=next(iter(patients.values())) if len(patients) == 1 else None,
    )


def csv_to_bundle(raw: bytes, profile: Profile, *, mapper: CodeMapper | None = None) -> dict[str, Any]:
    return translate_csv(raw, profile, mapper=mapper).builder.bundle()


def read_rows(raw: bytes, profile: Profile) -> list[tuple[int, dict[str, str]]]:
    if not isinstance(raw, (bytes, bytearray)):
        raise CsvError("a CSV extract must be given as bytes", "file", status=400)
    try:
        text = bytes(raw).decode(profile.encoding)
    except UnicodeDecodeError as exc:
        line = bytes(raw)[: exc.start].count(b"\n") + 1
        raise CsvError(f"byte {exc.start} is not valid {profile.encoding} (the profile's encoding)", f"line {line}",
                       code="structure", status=400) from None
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=profile.delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CsvError("the file is empty", "line 1", code="required", status=400) from None
    except csv.Error as exc:
        raise CsvError(f"malformed header: {exc}", "line 1", code="structure", status=400) from None
    missing = sorted(profile.columns() - set(header))
    if missing:
        raise CsvError(f"columns {', '.join(missing)} required by profile {profile.name!r} are missing "
                       f"(delimiter {profile.delimiter!r})", "line 1", code="structure", status=400)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise CsvError(f"{len(values)} values for {len(header)} columns", f"line {line}", code="structure",
                               status=400)
            rows.append((line, dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise CsvError(f"malformed CSV: {exc}", f"line {reader.line_num}", code="structure", status=400) from None
    return rows


def _nhs(row: dict[str, str], profile: Profile, line: int) -> str:
    value = row.get(profile.patient.nhs_number, "").strip()
    try:
        return check_nhs_number(value)
    except ValueError as exc:
        raise CsvError(f"invalid NHS number: {exc}", _cell(line, profile.patient.nhs_number), code="value") from None


def _patient(builder: TransactionBuilder, row: dict[str, str], profile: Profile, nhs: str, line: int) -> str:
    rule = profile.patient
    patient: dict[str, Any] = {"resourceType": "Patient", "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs}]}
    local = row.get(rule.local_id, "").strip() if rule.local_id else ""
    if local:
        patient["identifier"].append({"system": rule.local_system or f"https://gpbridge.dev/Id/csv/{profile.name}",
                                      "value": local})
    name: dict[str, Any] = {}
    if rule.family and row.get(rule.family, "").strip():
        name["family"] = row[rule.family].strip()
    if rule.given and row.get(rule.given, "").strip():
        name["given"] = row[rule.given].split()
    if name:
        patient["name"] = [name]
    if rule.gender and row.get(rule.gender, "").strip():
        raw = row[rule.gender].strip()
        if raw not in rule.gender_map:
            raise CsvError(f"{raw!r} is not one of {', '.join(rule.gender_map)}", _cell(line, rule.gender),
                           code="code-invalid")
        patient["gender"] = rule.gender_map[raw]
    if rule.birth_date and row.get(rule.birth_date, "").strip():
        patient["birthDate"] = _parse_date(row[rule.birth_date], rule.birth_format, line, rule.birth_date)[:10]
    return builder.create(f"Patient|{nhs}", patient, if_none_exist=identifier_criteria(NHS_NUMBER_SYSTEM, nhs))


def _apply(resource: dict[str, Any], element: Element, row: dict[str, str], line: int, profile: Profile,
           mapper: CodeMapper, quality: Quality) -> None:
    raw = row.get(element.column, "").strip()
    if not raw:
        return
    where = _cell(line, element.column)
    if element.type == "code":
        if element.value_map:
            if raw not in element.value_map:
                raise CsvError(f"{raw!r} is not one of {', '.join(element.value_map)}", where, code="code-invalid")
            resource[element.path] = {"coding": [{"system": element.system, "code": element.value_map[raw]}]}
            return
        display = row.get(element.display, "").strip() if element.display else ""
        concept, flag = build_concept([(element.system, raw, display)], display or None, mapper, quality, where)
        if concept:
            resource[element.path] = concept
        if flag:
            quality.flag(resource, flag)
    elif element.type in ("date", "datetime"):
        resource[element.path] = _parse_date(raw, element.format, line, element.column)
    elif element.type == "quantity":
        resource[element.path] = _quantity(raw, row.get(element.unit, "").strip() if element.unit else "",
                                           profile, where)
    elif element.type == "annotation":
        resource.setdefault(element.path, []).append({"text": raw})
    else:
        resource[element.path] = raw


def _quantity(raw: str, unit: str, profile: Profile, where: str) -> dict[str, Any]:
    try:
        value = float(raw)
    except ValueError:
        raise CsvError(f"{raw!r} is not a number", where, code="value") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise CsvError(f"{raw!r} is not a finite number", where, code="value")
    quantity: dict[str, Any] = {"value": int(value) if value.is_integer() and "." not in raw else value}
    if unit:
        quantity["unit"] = unit
        ucum = profile.units.get(unit)
        if ucum:
            quantity.update(system="http://unitsofmeasure.org", code=ucum)
    return quantity


def _parse_date(raw: str, fmt: str, line: int, column: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.strptime(raw.strip(), fmt)
    except ValueError:
        raise CsvError(f"{raw!r} does not match the date format {fmt!r}", _cell(line, column), code="value") from None
    if any(d in fmt for d in ("%H", "%M", "%S", "%I")):
        return moment.replace(tzinfo=ZoneInfo(_UK_TZ)).isoformat()
    return moment.date().isoformat()


def _record_id(row: dict[str, str], profile: Profile, line: int) -> str:
    if profile.record_id:
        parts = [row.get(c, "").strip() for c in profile.record_id]
        if not all(parts):
            raise CsvError("the record id is empty", _cell(line, profile.record_id[0]), code="required")
        return "/".join(parts)
    # no id column: the row's content is its identity (the same row re-sent is the same record)
    return digest("\x1f".join(f"{k}={v}" for k, v in sorted(row.items())).encode())[:32]


def _cell(line: int, column: str) -> str:
    return f"line {line}, column {column!r}"
