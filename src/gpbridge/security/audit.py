"""Audit records and where they go.

``security.policy`` emits one ``AuditRecord`` per access decision. The sink is a protocol so
routes never know where records end: ``NullAuditSink`` (records nothing), ``MemoryAuditSink``
(tests) and ``security.audit_chain.ChainedAuditSink`` (durable, append-only, hash-chained).
``audit_event`` renders a record as a FHIR R4 AuditEvent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AuditEntity:
    """One resource a Bundle interaction touched (``security.audit_bundle``)."""

    what: str  # "Type/id", or "Type" for a search or a conditional delete that matched nothing
    interaction: str  # create | update | patch | delete | read | vread | search
    detail: str | None = None  # a search's query, or why a batch entry failed ("failed: HTTP 422")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    # read | vread | search | history | create | update | patch | delete | operation | transaction
    # | login | logout | token (sign-in, sign-out and the token endpoint)
    interaction: str
    resource_type: str | None
    resource_id: str | None
    allowed: bool
    reason: str
    principal: str | None = None  # the authenticated subject
    patient: str | None = None  # patient compartment when known, e.g. "Patient/123"
    purpose_of_use: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    recorded: str = ""  # FHIR instant; filled by ``stamp`` when empty
    kind: str | None = None  # user | system | patient | proxy
    roles: tuple[str, ...] = ()
    organisation: str | None = None
    client_id: str | None = None
    source_ip: str | None = None
    flags: tuple[str, ...] = ()  # "break-glass", "redacted", "filtered"
    break_glass_reason: str | None = None
    detail: str | None = None  # e.g. the search query string, or how many results were withheld
    principal_name: str | None = None  # the person's display name, for "who accessed my record"
    # a transaction/batch Bundle: every resource it touched, in one event per patient compartment
    entities: tuple[AuditEntity, ...] = ()


def stamp(record: AuditRecord) -> AuditRecord:
    if record.recorded:
        return record
    return replace(record, recorded=datetime.now(UTC).isoformat(timespec="milliseconds"))


class AuditSink(Protocol):
    #: False lets the policy skip building records nobody keeps (the hot path of every request).
    enabled: bool

    def record(self, record: AuditRecord) -> None: ...


class NullAuditSink:
    """Records nothing: development only."""

    enabled = False

    def record(self, record: AuditRecord) -> None:
        return None


class MemoryAuditSink:
    """Keeps records in a list, for tests."""

    enabled = True

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def record(self, record: AuditRecord) -> None:
        self.records.append(stamp(record))


# ------------------------------------------------------------------------------ FHIR rendering

_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_REST = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_ACTION = {"create": "C", "read": "R", "vread": "R", "search": "E", "history": "R", "update": "U",
           "patch": "U", "delete": "D"}  # fmt: skip
_SUBTYPE = "http://hl7.org/fhir/restful-interaction"
_ROLE_SYSTEM = "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode"
_ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
FLAG_SYSTEM = "https://gpbridge.dev/CodeSystem/audit-flag"
_LIFECYCLE = "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle"
_LIFECYCLE_CODE = {"create": ("1", "Origination / Creation"), "update": ("3", "Amendment"),
                   "patch": ("3", "Amendment"), "delete": ("14", "Logical deletion")}  # fmt: skip
_ACCESS = ("6", "Access / Use")


def audit_event(record: AuditRecord, event_id: str | None = None) -> dict[str, Any]:
    """The record as a FHIR R4 AuditEvent: who, what, why, outcome, where from, which request."""
    base = record.interaction.split(":", 1)[0]
    if base in ("login", "logout", "token"):
        type_ = {"system": _DCM, "code": "110114", "display": "User Authentication"}
    else:
        type_ = {"system": _REST, "code": "rest", "display": "Restful Operation"}
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": type_,
        "subtype": [{"system": _SUBTYPE, "code": base}],
        "action": _ACTION.get(base, "E"),
        "recorded": record.recorded,
        "outcome": "0" if record.allowed else "4",
        "outcomeDesc": record.reason,
        "agent": [_agent(record)],
        "source": {"observer": {"display": "gpbridge"}, "type": [{"system": _DCM, "code": "110150"}]},
    }
    if event_id:
        event["id"] = event_id
    if record.purpose_of_use:
        event["purposeOfEvent"] = [{"text": record.purpose_of_use}]
    entities = []
    if record.resource_type:
        what = record.resource_type + (f"/{record.resource_id}" if record.resource_id else "")
        entity: dict[str, Any] = {"what": {"reference": what} if record.resource_id else {"display": what}}
        if record.detail:
            entity["description"] = record.detail
        entities.append(entity)
    entities += [_entity(e) for e in record.entities]
    if record.patient:
        entities.append({"what": {"reference": record.patient}, "role": {"code": "1", "display": "Patient"}})
    if entities:
        event["entity"] = entities
    ids = [("X-Request-ID", record.request_id), ("X-Correlation-ID", record.correlation_id)]
    extension = [{"url": f"https://gpbridge.dev/audit/{k}", "valueString": v} for k, v in ids if v]
    extension += [{"url": "https://gpbridge.dev/audit/flag", "valueCode": f} for f in record.flags]
    if record.break_glass_reason:
        extension.append(
            {"url": "https://gpbridge.dev/audit/break-glass-reason", "valueString": record.break_glass_reason}
        )
    if extension:
        event["extension"] = extension
    if record.flags:
        event["meta"] = {"tag": [{"system": FLAG_SYSTEM, "code": f} for f in record.flags]}
    return event


def _entity(entity: AuditEntity) -> dict[str, Any]:
    what = {"reference": entity.what} if "/" in entity.what else {"display": entity.what}
    code, display = _LIFECYCLE_CODE.get(entity.interaction, _ACCESS)
    out: dict[str, Any] = {"what": what, "lifecycle": {"system": _LIFECYCLE, "code": code, "display": display}}
    if entity.detail:
        out["description"] = entity.detail
    return out


def _agent(record: AuditRecord) -> dict[str, Any]:
    who = record.principal_name or record.principal or "anonymous"
    agent: dict[str, Any] = {"requestor": True, "who": {"display": who}}
    if record.principal:
        agent["who"]["identifier"] = {"value": record.principal}
    if record.roles:
        agent["role"] = [{"coding": [{"system": _ROLE_SYSTEM, "code": r}]} for r in record.roles]
    if record.client_id:
        agent["altId"] = record.client_id
    if record.organisation:
        agent["location"] = {"identifier": {"system": _ODS, "value": record.organisation}}
    if record.source_ip:
        agent["network"] = {"address": record.source_ip, "type": "2"}
    return agent
