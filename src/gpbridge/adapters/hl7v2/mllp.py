"""HL7 v2 over MLLP: ``<VT> message <FS><CR>`` frames on a TCP stream, one ACK frame per message.

Messages on a connection are handled in arrival order and each ACK is written only after its
message is stored (or quarantined) — an AA means the message is durable. Bytes outside a frame are
skipped; an oversized frame is answered with AR and the connection closed, as the stream can no
longer be trusted. Store calls run in a worker thread so the event loop keeps serving others.

Who may send: MSH-3/MSH-4 *and* the peer address must match a sender in ``mllp_senders``
(``security.senders``), which names the registered system client the message is sent as. The
message then passes the security gate like any HTTP request — ``security.policy.authorize`` for the
operation ``ingest-hl7v2``, then for each resource it would write, with that client's scopes — and
a refusal (unknown sender, wrong address, a scope that does not grant the write) is answered AR
and nothing of the message is kept. Every message, accepted or refused, is an audit record: who
(the client, or ``mllp:<address>`` when the sender is not known), what was written or why not,
the peer address, and MSH-10 as the request id. ``insecure_dev`` lets every sender in (unknown ones
as ``mllp:<address>``), as it lets every HTTP request in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gpbridge.adapters.common.codes import CodeMapper, default_code_mapper
from gpbridge.adapters.common.pipeline import ImportResult
from gpbridge.adapters.hl7v2.ack import ack
from gpbridge.adapters.hl7v2.errors import APPLICATION_ERROR, Hl7v2Error
from gpbridge.adapters.hl7v2.importer import handle_message
from gpbridge.adapters.hl7v2.message import Message, parse
from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.audit import AuditSink, NullAuditSink
from gpbridge.security.audit_bundle import record_touched
from gpbridge.security.policy import Principal, RequestContext, authorize, record
from gpbridge.security.rules import Decision, deny
from gpbridge.security.senders import Identified, SenderMap, load_senders
from gpbridge.store.base import Store
from gpbridge.store.transaction import Touched

log = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\x0d"
MAX_FRAME = 16 * 1024 * 1024


def frame(payload: bytes) -> bytes:
    return START + payload + END


async def read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME) -> bytes | None:
    """The next message on the stream (without framing); None at end of stream."""
    while True:
        byte = await reader.read(1)
        if not byte:
            return None
        if byte == START:
            break  # anything before a start block (keep-alives, stray CRs) is not a message
    chunks = []
    size = 0
    while True:
        try:
            chunk = await reader.readuntil(END)
        except asyncio.IncompleteReadError:
            return None  # the peer closed mid-frame: nothing to acknowledge
        except asyncio.LimitOverrunError as exc:
            chunk = await reader.readexactly(exc.consumed)
            size += len(chunk)
            if size > limit:
                raise Hl7v2Error(f"frame larger than {limit} bytes", "MLLP", reject=True, status=413) from None
            chunks.append(chunk)
            continue
        chunks.append(chunk[: -len(END)])
        return b"".join(chunks)


Handler = Callable[[bytes, str], Awaitable[bytes]]
OPERATION = "ingest-hl7v2"


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handle: Handler) -> None:
    peer = writer.get_extra_info("peername")
    address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
    try:
        while True:
            try:
                payload = await read_frame(reader)
            except Hl7v2Error as exc:
                writer.write(frame(ack(None, "AR", exc).encode()))
                await writer.drain()
                break
            if payload is None:
                break
            writer.write(frame(await handle(payload, address)))
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        log.debug("MLLP connection from %s closed", peer)
        writer.close()


async def start_mllp_server(store: Store, settings: Settings, host: str, port: int,
                            mapper: CodeMapper | None = None,
                            audit: AuditSink | None = None,
                            senders: SenderMap | None = None) -> asyncio.base_events.Server:
    """Start listening; returns the asyncio server (its sockets tell the bound port when ``port=0``).

    ``senders`` defaults to the ``mllp_senders`` setting (``ValueError`` when it is malformed);
    ``audit`` receives a record of every message (none are kept without one)."""
    code_mapper = mapper or default_code_mapper(store)
    sink = audit or NullAuditSink()
    sender_map = load_senders(settings) if senders is None else senders

    async def handle(payload: bytes, address: str) -> bytes:
        return await receive(store, settings, sink, sender_map, code_mapper, payload, address)

    return await asyncio.start_server(lambda r, w: serve_connection(r, w, handle), host, port,
                                      limit=1024 * 1024)


async def receive(store: Store, settings: Settings, sink: AuditSink, senders: SenderMap, mapper: CodeMapper,
                  payload: bytes, address: str) -> bytes:
    """One message from ``address``: identify the sender, authorise, store, audit; the ACK bytes."""
    context = RequestContext(settings=settings, audit=sink, source_ip=address, audit_deferred=True)
    try:
        message = parse(payload)
    except Hl7v2Error as exc:
        context.principal = Principal(subject=f"mllp:{address}")
        if not settings.insecure_dev:  # nothing of an unidentified sender's input is kept, not even in quarantine
            record(context, deny(f"the sender cannot be identified: {exc}"), "operation", None, None,
                   operation=OPERATION)
            return ack(None, "AR", exc).encode("utf-8", errors="replace")
        message = None  # insecure-dev: the importer answers AR and quarantines it, as before
    if message is not None:
        context.request_id = message.control_id or None
        identified = _identify(settings, senders, message, address)
        if identified.principal is None and not settings.insecure_dev:
            context.principal = Principal(subject=f"mllp:{address}")
            record(context, deny(identified.reason), "operation", None, None, operation=OPERATION)
            return _refused(payload, identified.reason)
        context.principal = identified.principal or Principal(subject=f"mllp:{address}")
    gate = authorize(context, "operation", None, operation=OPERATION)  # a refusal is recorded here
    if not gate.allowed:
        return _refused(payload, gate.reason)
    refusals: list[str] = []

    def authorize_entry(interaction: str, resource_type: str | None, resource_id: str | None) -> None:
        # allowed writes are recorded once, with the message's result; a refusal is recorded here
        decision = authorize(context, interaction, resource_type, resource_id)
        if not decision.allowed:
            refusals.append(decision.reason)
            decision.enforce()

    touched: list[Touched] = []
    try:
        response, result = await asyncio.to_thread(handle_message, store, settings, payload, source="mllp",
                                                    mapper=mapper, authorize_entry=authorize_entry,
                                                    touched=touched)
    except Exception as exc:
        if isinstance(exc, FhirError) and exc.status == 403 and refusals:
            return _refused(payload, refusals[0])  # a write its scopes do not grant: nothing kept
        # even quarantine failed (e.g. the database is down): nothing was kept
        log.exception("MLLP message could not be stored or quarantined")
        record(context, Decision(True, "failed: not stored"), "operation", None, None, operation=OPERATION)
        return _not_stored(payload)
    _record_result(context, gate, result, touched)
    return response


def _identify(settings: Settings, senders: SenderMap, message: Message, address: str) -> Identified:
    if not senders and settings.insecure_dev:
        return Identified(None, "insecure-dev")
    return senders.identify(settings, message.msh.value(3), message.msh.value(4), address)


def _record_result(context: RequestContext, gate: Decision, result: ImportResult, touched: list[Touched]) -> None:
    """What an accepted message did: the resources written (one event per patient, as for a REST
    transaction), a duplicate that wrote nothing, or the quarantine Task that holds it."""
    if result.status == "imported":
        record_touched(context, f"operation:{OPERATION}", gate, touched)
    elif result.status == "duplicate":
        record(context, gate, "operation", "Bundle", None, operation=OPERATION,
               detail=f"message {result.message_id}: a duplicate of an earlier import; nothing written")
    else:
        record(context, Decision(True, "quarantined"), "operation", "Task", result.quarantine_id,
               operation=OPERATION, detail=str(result.error) if result.error else None)


async def run_mllp_server(store: Store, settings: Settings, host: str = "127.0.0.1", port: int = 2575,
                          audit: AuditSink | None = None) -> None:
    """``gpbridge mllp``: serve until cancelled."""
    server = await start_mllp_server(store, settings, host, port, audit=audit)
    bound = ", ".join(str(s.getsockname()) for s in server.sockets)
    log.info("MLLP listening on %s", bound)
    async with server:
        await server.serve_forever()


def _refused(payload: bytes, reason: str) -> bytes:
    try:
        message = parse(payload)
    except Hl7v2Error:
        message = None
    error = Hl7v2Error(f"access denied: {reason}", "MSH", 3, hl7_code=APPLICATION_ERROR, reject=True)
    return ack(message, "AR", error).encode("utf-8", errors="replace")


def _not_stored(payload: bytes) -> bytes:
    """AE for a message that could not be kept at all: the sender must send it again."""
    try:
        message = parse(payload)
    except Hl7v2Error:
        message = None
    error = Hl7v2Error("the message could not be stored; send it again", "MSH", 10, hl7_code=APPLICATION_ERROR)
    return ack(message, "AE", error).encode("utf-8", errors="replace")
