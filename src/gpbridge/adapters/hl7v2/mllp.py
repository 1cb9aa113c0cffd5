"""HL7 v2 over MLLP: ``<VT> message <FS><CR>`` frames on a TCP stream, one ACK frame per message.

Messages on a connection are handled in arrival order and each ACK is written only after its
message is stored (or quarantined) — an AA means the message is durable. Each message passes the
security gate (``security.policy.authorize``, interaction ``operation:ingest-hl7v2``, principal
``mllp:<peer address>``) like any HTTP request; a refused message is answered AR and not kept. Store calls run in a
worker thread so the event loop keeps serving other connections. Bytes outside a frame are
skipped; an oversized frame is answered with AR and the connection closed, as the stream can no
longer be trusted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gpbridge.adapters.common.codes import CodeMapper, default_code_mapper
from gpbridge.adapters.hl7v2.ack import ack
from gpbridge.adapters.hl7v2.errors import APPLICATION_ERROR, Hl7v2Error
from gpbridge.adapters.hl7v2.importer import handle_message
from gpbridge.adapters.hl7v2.message import parse
from gpbridge.config import Settings
from gpbridge.security.audit import AuditSink, NullAuditSink
from gpbridge.security.policy import Principal, RequestContext, authorize
from gpbridge.store.base import Store

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


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handle: Handler) -> None:
    peer = writer.get_extra_info("peername")
    who = f"mllp:{peer[0]}" if isinstance(peer, tuple) and peer else "mllp:unknown"
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
            writer.write(frame(await handle(payload, who)))
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        log.debug("MLLP connection from %s closed", peer)
        writer.close()


async def start_mllp_server(store: Store, settings: Settings, host: str, port: int,
                            mapper: CodeMapper | None = None,
                            audit: AuditSink | None = None) -> asyncio.base_events.Server:
    """Start listening; returns the asyncio server (its sockets tell the bound port when ``port=0``)."""
    code_mapper = mapper or default_code_mapper(store)
    sink = audit or NullAuditSink()

    async def handle(payload: bytes, who: str) -> bytes:
        context = RequestContext(settings=settings, principal=Principal(subject=who), audit=sink)
        decision = authorize(context, "operation", None, operation="ingest-hl7v2")
        if not decision.allowed:
            return _refused(payload, decision.reason)
        try:
            response, _result = await asyncio.to_thread(handle_message, store, settings, payload, source="mllp",
                                                        mapper=code_mapper)
        except Exception:  # even quarantine failed (e.g. the database is down): nothing was kept
            log.exception("MLLP message could not be stored or quarantined")
            return _not_stored(payload)
        return response

    return await asyncio.start_server(lambda r, w: serve_connection(r, w, handle), host, port,
                                      limit=1024 * 1024)


async def run_mllp_server(store: Store, settings: Settings, host: str = "127.0.0.1", port: int = 2575) -> None:
    """``gpbridge mllp``: serve until cancelled."""
    server = await start_mllp_server(store, settings, host, port)
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
