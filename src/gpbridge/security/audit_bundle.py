"""The audit of a transaction or batch Bundle: one AuditEvent per patient compartment it touched.

A Bundle of 40 resources used to leave 41 AuditEvents (the Bundle, then each entry without the id
a POST was given), each built, hashed and inserted on its own — about a quarter of the CPU of an
ingest. Now the entry decisions are still made one by one (a denied entry is recorded at once,
as any denial), but what was done is recorded after the Bundle, from ``store.transaction.Touched``:
every resource with its final id and lifecycle (created, amended, deleted, read) in
``AuditEvent.entity``, grouped by patient so that the ``patient`` column, "who accessed my
record" and a patient's own view of their audit show that patient's resources and no one else's.
Resources outside any patient compartment (Organization, Practitioner, ...) share one event
without a patient. A Bundle that fails is recorded as failed, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from gpbridge.fhir.outcome import FhirError
from gpbridge.security.audit import AuditEntity
from gpbridge.security.facts import patient_of
from gpbridge.security.policy import RequestContext, record
from gpbridge.security.rules import Decision
from gpbridge.store.transaction import Touched


@dataclass(slots=True)
class BundleAudit:
    kind: str = "transaction"  # or "batch", once the body is read
    touched: list[Touched] = field(default_factory=list)  # what ``process_bundle`` did


@contextmanager
def bundle_audit(context: RequestContext, decision: Decision) -> Iterator[BundleAudit]:
    """Record the Bundle's events when the block ends, or its failure if it raises.

    ``decision`` is the gate's (allowed) decision, which the gate deferred to here (``audit_later``).
    A 403 is a denial the policy has recorded already (``authorize`` records every denial).
    """
    audit = BundleAudit()
    try:
        yield audit
    except FhirError as exc:
        if exc.status != 403:
            reason = (exc.outcome().get("issue") or [{}])[0].get("diagnostics")
            failed = Decision(True, f"failed: HTTP {exc.status}")
            record(context, failed, audit.kind, "Bundle", None, detail=reason)
        raise
    except Exception:
        record(context, Decision(True, "failed: HTTP 500"), audit.kind, "Bundle", None)
        raise
    record_touched(context, audit.kind, decision, audit.touched)


def record_touched(context: RequestContext, kind: str, decision: Decision, touched: list[Touched]) -> None:
    if not context.audit.enabled:
        return
    groups: dict[str | None, list[AuditEntity]] = {}
    failed = 0
    for item in touched:
        groups.setdefault(_patient(item), []).append(_entity(item))
        failed += item.status is not None
    if not groups:
        groups[None] = []
    # the "Bundle" entity says how big the whole Bundle was; each event lists only its own group
    detail = f"{len(touched)} entries" + (f", {failed} failed" if failed else "")
    for patient, entities in groups.items():
        record(context, decision, kind, "Bundle", None, patient, detail=detail, entities=tuple(entities))


def _patient(item: Touched) -> str | None:
    if item.type == "Patient":
        return f"Patient/{item.id}" if item.id else None
    return patient_of(item.resource) if item.resource is not None else None


def _entity(item: Touched) -> AuditEntity:
    if item.id is None:
        what, detail = item.type, item.criteria
    else:
        what, detail = f"{item.type}/{item.id}", None
    if item.status is not None:
        detail = f"failed: HTTP {item.status}" + (f" ({detail})" if detail else "")
    return AuditEntity(what, item.interaction, detail)
