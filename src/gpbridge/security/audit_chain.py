"""The durable audit sink: AuditEvents appended to ``audit_log`` in a hash chain, written in batches.

Requests only append to an in-memory buffer (a list append under a lock); a background thread
writes the buffer in one transaction every ``interval`` seconds or ``batch`` records, so audit
costs a request microseconds, not a commit. ``flush()`` writes synchronously (tests, shutdown).
The chain: hash = SHA-256(prev_hash | seq | event JSON); see ``verify_audit_chain``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from gpbridge.config import Settings
from gpbridge.security.audit import AuditRecord, AuditSink, NullAuditSink, audit_event, stamp
from gpbridge.store.migrations import v6_audit

log = logging.getLogger("gpbridge.audit")

GENESIS = "0" * 64


def chain_hash(prev_hash: str, seq: int, event: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{seq}|{event}".encode()).hexdigest()


def ensure_table(store: Any) -> None:
    with store._write_cursor() as cur:
        for statement in v6_audit.ddl(store.dialect_obj):
            cur.execute(statement)


def open_audit_sink(settings: Settings, store: Any) -> AuditSink:
    """The audit every server process writes to (``serve``, ``mllp``): the hash chain in the
    store's database, or nothing when the ``audit`` setting is off. Close it to flush."""
    return ChainedAuditSink(store) if settings.audit else NullAuditSink()


class ChainedAuditSink:
    enabled = True

    def __init__(
        self, store: Any, *, interval: float = 0.2, batch: int = 512, background: bool = True
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self._buffer: list[AuditRecord] = []
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one writer at a time keeps the chain in order
        self._wake = threading.Event()
        self._stopped = False
        ensure_table(store)
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def record(self, record: AuditRecord) -> None:
        with self._lock:
            self._buffer.append(stamp(record))
            full = len(self._buffer) >= self.batch
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never lose the writer thread; the records stay buffered
                log.exception("audit flush failed; will retry")

    def flush(self) -> int:
        with self._write_lock:
            with self._lock:
                pending, self._buffer = self._buffer, []
            if not pending:
                return 0
            try:
                self._append(pending)
            except BaseException:
                with self._lock:  # put them back in front, in order
                    self._buffer[:0] = pending
                raise
            return len(pending)

    def _append(self, records: list[AuditRecord]) -> None:
        d = self.store.dialect_obj
        with self.store._write_cursor() as cur:
            if d.name == "postgresql":  # other processes append too: serialise on the table
                cur.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
            cur.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            row = cur.fetchone()
            seq, prev = (row[0], row[1]) if row else (0, GENESIS)
            rows = []
            for r in records:
                seq += 1
                event = orjson.dumps(audit_event(r, str(seq))).decode()
                digest = chain_hash(prev, seq, event)
                outcome = "allowed" if r.allowed else "denied"
                flags = ",".join(r.flags) or None
                rows.append(
                    (
                        seq,
                        r.recorded,
                        r.principal,
                        r.patient,
                        r.interaction,
                        outcome,
                        flags,
                        event,
                        prev,
                        digest,
                    )
                )
                prev = digest
            cols = "seq, recorded, principal, patient, interaction, outcome, flags, event, prev_hash, hash"
            cur.executemany(d.sql(f"INSERT INTO audit_log ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?)"), rows)

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()


# ------------------------------------------------------------------------------- verification


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        head = f"{self.checked} audit events checked: " + ("chain intact" if self.ok else "CHAIN BROKEN")
        return "\n".join([head, *self.problems])


def verify_audit_chain(store: Any) -> ChainReport:
    """Walk the chain and say which event was altered, removed or reordered (``gpbridge audit verify``)."""
    report = ChainReport()
    prev_seq, prev_hash, prev_recorded = 0, GENESIS, ""
    with store._read_cursor() as cur:
        cur.execute("SELECT seq, recorded, event, prev_hash, hash FROM audit_log ORDER BY seq")
        rows = cur.fetchall()
    for seq, recorded, event, stored_prev, stored_hash in rows:
        report.checked += 1
        if seq != prev_seq + 1:
            report.problems.append(f"event {seq}: events {prev_seq + 1}..{seq - 1} were removed")
        elif stored_prev != prev_hash:
            report.problems.append(f"event {seq}: does not follow event {prev_seq} (removed or reordered)")
        if chain_hash(stored_prev, seq, event) != stored_hash:
            report.problems.append(f"event {seq}: content altered (hash mismatch)")
        if recorded < prev_recorded:
            report.problems.append(f"event {seq}: recorded {recorded} before event {prev_seq} (reordered)")
        prev_seq, prev_hash, prev_recorded = seq, stored_hash, recorded
    return report


def audit_events(
    store: Any,
    *,
    patient: str | None = None,
    principal: str | None = None,
    flag: str | None = None,
    outcome: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """AuditEvents newest first (a shorthand for ``audit_search.search_audit``)."""
    from gpbridge.security.audit_search import AuditQuery, search_audit

    query = AuditQuery(patients=(patient,) if patient else (), principal=principal, flag=flag,
                       outcome=outcome, count=limit)  # fmt: skip
    return search_audit(store, query).events
