"""Audit records and where they go.

``security.policy`` emits one ``AuditRecord`` per access decision. The sink is a protocol so the
security issue can plug in a durable sink (AuditEvent resources, a log shipper) without touching
routes; ``NullAuditSink`` is the default and ``MemoryAuditSink`` lets tests see what was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AuditRecord:
    interaction: (
        str  # read | vread | search | history | create | update | patch | delete | operation | transaction
    )
    resource_type: str | None
    resource_id: str | None
    allowed: bool
    reason: str
    principal: str | None = None  # the authenticated subject (None until tokens land)
    patient: str | None = None  # patient compartment when known, e.g. "Patient/123"
    purpose_of_use: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    recorded: str = ""  # FHIR instant; filled by ``stamp`` when empty


def stamp(record: AuditRecord) -> AuditRecord:
    if record.recorded:
        return record
    return replace(record, recorded=datetime.now(UTC).isoformat(timespec="milliseconds"))


class AuditSink(Protocol):
    #: False lets the policy skip building records nobody keeps (the hot path of every request).
    enabled: bool

    def record(self, record: AuditRecord) -> None: ...


class NullAuditSink:
    """Records nothing: the development default until the audit issue provides a durable sink."""

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
