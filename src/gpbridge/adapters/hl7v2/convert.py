"""HL7 v2 message → transaction Bundle (pure: no store, no I/O).

ADT A01/A04 (admit/register), A03 (discharge), A08 (update) → Patient + Encounter;
A28/A31 (add/update person) → Patient; A40 (merge) → the surviving Patient ``replaces`` the old
one, which becomes inactive and ``replaced-by`` it; ORU^R01 → DiagnosticReport + Observations.
Patients and encounters are conditional updates keyed on their identifiers (the importer merges
them with what is stored); segments no mapping reads — Z-segments, NK1, AL1, ... — are kept
verbatim on the message's main resource, and the whole message is archived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpbridge.adapters.common.bundle import DuplicateEntry, TransactionBuilder
from gpbridge.adapters.common.codes import CodeMapper, NullCodeMapper
from gpbridge.adapters.common.flags import Quality
from gpbridge.adapters.common.pipeline import Translation
from gpbridge.adapters.hl7v2 import datatypes as dt
from gpbridge.adapters.hl7v2 import encounters, patients, results
from gpbridge.adapters.hl7v2.errors import (
    DUPLICATE_KEY,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_VERSION,
    Hl7v2Error,
)
from gpbridge.adapters.hl7v2.message import Message, Segment, parse

CONTENT_TYPE = "x-application/hl7-v2+er7"
SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
ADT_EVENTS = frozenset({"A01", "A03", "A04", "A08", "A28", "A31", "A40"})
SEGMENT_EXTENSION = "https://gpbridge.dev/StructureDefinition/hl7v2-segment"
_MAPPED = {
    "ADT": frozenset({"MSH", "EVN", "PID", "PD1", "PV1", "MRG"}),
    "ORU": frozenset({"MSH", "PID", "PD1", "OBR", "OBX", "NTE"}),
}


@dataclass
class _Context:
    message: Message
    builder: TransactionBuilder
    mapper: CodeMapper
    quality: Quality
    facility: str


def translate_hl7v2(raw: bytes, *, mapper: CodeMapper | None = None) -> Translation:
    message = parse(raw)
    msh = message.msh
    kind, event, _structure = message.message_type
    if not kind:
        raise Hl7v2Error("message type is required", "MSH", 9, hl7_code=REQUIRED_FIELD_MISSING, reject=True)
    control_id = msh.required(10, what="message control id")
    version = message.version
    if version not in SUPPORTED_VERSIONS:
        raise Hl7v2Error(f"version {version or '(none)'} is not one of {', '.join(SUPPORTED_VERSIONS)}",
                         "MSH", 12, hl7_code=UNSUPPORTED_VERSION, reject=True)
    application = msh.value(3) or "unknown"
    facility = msh.value(4) or application
    ctx = _Context(message, TransactionBuilder(f"hl7v2|{application}|{facility}|{control_id}"),
                   mapper or NullCodeMapper(), Quality(), facility)
    try:
        if kind == "ADT":
            patient = _adt(ctx, event or _evn_event(message))
        elif kind == "ORU" and event == "R01":
            patient = _oru(ctx)
        elif kind == "ORU":
            raise Hl7v2Error(f"event {event!r} is not supported for ORU (R01 only)", "MSH", 9,
                             hl7_code=UNSUPPORTED_EVENT_CODE, reject=True)
        else:
            raise Hl7v2Error(f"message type {kind!r} is not supported (ADT, ORU)", "MSH", 9,
                             hl7_code=UNSUPPORTED_MESSAGE_TYPE, reject=True)
    except DuplicateEntry as exc:
        raise Hl7v2Error(f"{exc.key} appears twice in one message", "OBX", 1, hl7_code=DUPLICATE_KEY) from None
    return Translation(
        adapter="hl7v2",
        message_key=f"{application}|{facility}|{control_id}",
        message_id=control_id,
        source_system=f"{application} at {facility}",
        ods_code=facility if facility.isalnum() and len(facility) <= 10 else None,
        builder=ctx.builder,
        quality=ctx.quality,
        content_type=CONTENT_TYPE,
        patient=patient,
    )


def hl7v2_to_bundle(raw: bytes, *, mapper: CodeMapper | None = None) -> dict[str, Any]:
    """The transaction Bundle for one message (without the archive/Provenance the importer adds)."""
    return translate_hl7v2(raw, mapper=mapper).builder.bundle()


# -- ADT ------------------------------------------------------------------------------------------


def _evn_event(message: Message) -> str:
    evn = message.first("EVN")
    return evn.value(1).upper() if evn is not None else ""


def _adt(ctx: _Context, event: str) -> str:
    message = ctx.message
    if event not in ADT_EVENTS:
        raise Hl7v2Error(f"ADT event {event or '(none)'} is not supported ({', '.join(sorted(ADT_EVENTS))})",
                         "MSH", 9, hl7_code=UNSUPPORTED_EVENT_CODE, reject=True)
    pid = message.require("PID")
    patient = patients.patient_from_pid(pid, message.first("PD1"), ctx.facility)
    _keep_unmapped(ctx, patient, "ADT")
    primary = patients.primary_identifier(patient["identifier"], pid, 3)
    patient_url = ctx.builder.put_conditional("Patient", patient, patients.match_criteria(primary))
    if event == "A40":
        _merge(ctx, patient, patient_url)
        return patient_url
    evn = message.first("EVN")
    recorded = dt.dtm(evn, 2) if evn is not None else None
    pv1 = message.first("PV1")
    if event in ("A01", "A03", "A04") and pv1 is None:
        raise Hl7v2Error(f"ADT^{event} needs a PV1 segment", "PV1", hl7_code=SEGMENT_SEQUENCE)
    if pv1 is not None and event in ("A01", "A03", "A04", "A08") and (event != "A08" or pv1.value(19)):
        encounter = encounters.encounter_from_pv1(pv1, event, ctx.facility, recorded)
        encounter["subject"] = {"reference": patient_url}
        ctx.builder.put_conditional("Encounter", encounter, patients.match_criteria(encounter["identifier"][0]))
    return patient_url


def _merge(ctx: _Context, survivor: dict[str, Any], survivor_url: str) -> None:
    mrg = ctx.message.require("MRG")
    old_ids = patients.identifiers(mrg, 1, ctx.facility)
    old_primary = patients.primary_identifier(old_ids, mrg, 1)
    if any((i["system"], i["value"]) == (old_primary["system"], old_primary["value"]) for i in survivor["identifier"]):
        raise Hl7v2Error("the prior patient identifier is the surviving patient's own", "MRG", 1,
                         hl7_code=DUPLICATE_KEY)
    old: dict[str, Any] = {"resourceType": "Patient", "identifier": old_ids, "active": False}
    old_url = ctx.builder.put_conditional("Patient|merged", old, patients.match_criteria(old_primary))
    old["link"] = [{"other": {"reference": survivor_url}, "type": "replaced-by"}]
    survivor["link"] = [{"other": {"reference": old_url}, "type": "replaces"}]
    survivor["active"] = True


# -- ORU ------------------------------------------------------------------------------------------


def _oru(ctx: _Context) -> str:
    message = ctx.message
    pid = message.require("PID")
    patient = patients.patient_from_pid(pid, message.first("PD1"), ctx.facility)
    primary = patients.primary_identifier(patient["identifier"], pid, 3)
    # results never rewrite demographics: the patient is matched, or created when unknown
    patient_url = ctx.builder.create("Patient", patient, if_none_exist=patients.match_criteria(primary))
    groups, orphans = _report_groups(message)
    if not groups:
        raise Hl7v2Error("ORU^R01 needs at least one OBR segment", "OBR", hl7_code=SEGMENT_SEQUENCE)
    first_report: dict[str, Any] | None = None
    for obr, members, report_notes in groups:
        rc = results.ReportContext(ctx, obr, patient_url, ctx.facility)
        identifier = results.report_identifier(obr, ctx.facility, message.control_id)
        report = results.report(rc, identifier)
        result_urls = []
        for index, (obx, obx_notes) in enumerate(members, start=1):
            obs = results.observation(rc, obx)
            notes = results.notes(obx_notes)
            if notes:
                obs["note"] = notes
            set_id = obx.value(1) or str(index)
            obs_id = {"system": identifier["system"] + "-result",
                      "value": f"{identifier['value']}/{set_id}/{obx.value(4) or '-'}"}
            obs["identifier"] = [obs_id]
            url = ctx.builder.put_conditional(f"Observation|{obs_id['value']}", obs, patients.match_criteria(obs_id))
            result_urls.append({"reference": url})
        if result_urls:
            report["result"] = result_urls
        extensions = results.note_extensions(report_notes)
        if extensions:
            report["extension"] = extensions
        ctx.builder.put_conditional(f"DiagnosticReport|{identifier['value']}", report,
                                    patients.match_criteria(identifier))
        first_report = first_report or report
    assert first_report is not None
    _keep_unmapped(ctx, first_report, "ORU", tuple(orphans))
    return patient_url


Group = tuple[Segment, list[tuple[Segment, list[Segment]]], list[Segment]]


def _report_groups(message: Message) -> tuple[list[Group], list[Segment]]:
    """OBR segments with their OBX (each with its NTEs) and the NTEs directly after the OBR; and
    any NTE that comes before the first OBR (kept verbatim)."""
    groups: list[Group] = []
    orphans: list[Segment] = []
    for segment in message.segments:
        if segment.name == "OBR":
            groups.append((segment, [], []))
        elif segment.name == "OBX":
            if not groups:
                raise Hl7v2Error("OBX before any OBR", "OBX", sequence=segment.sequence, hl7_code=SEGMENT_SEQUENCE)
            groups[-1][1].append((segment, []))
        elif segment.name == "NTE" and groups:
            members = groups[-1][1]
            (members[-1][1] if members else groups[-1][2]).append(segment)
        elif segment.name == "NTE":
            orphans.append(segment)
    return groups, orphans


def _keep_unmapped(ctx: _Context, resource: dict[str, Any], kind: str, extra: tuple[Segment, ...] = ()) -> None:
    mapped = _MAPPED[kind]
    kept = [{"url": SEGMENT_EXTENSION, "valueString": s.text()} for s in ctx.message.segments
            if (s.name not in mapped or s in extra) and s.text().strip()]
    if kept:
        resource.setdefault("extension", []).extend(kept)
