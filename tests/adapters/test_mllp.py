"""MLLP framing, one ACK per message, and a 10,000-message load over one connection (loopback)."""

from __future__ import annotations

import asyncio

from hl7v2_samples import adt, oru
from mllp_client import control_id, exchange, nhs_number

from gpbridge.adapters.hl7v2.mllp import frame, read_frame, start_mllp_server
from gpbridge.config import Settings
from gpbridge.security.audit import MemoryAuditSink
from gpbridge.store.base import Store
from identity_helpers import source_patients


def test_framing_survives_dribbled_bytes_and_noise(store: Store, settings: Settings) -> None:
    messages = [adt("A28", "F1"), oru("F2"), b"not hl7 at all", adt("A31", "F3")]
    acks = asyncio.run(exchange(store, settings, messages, chunk=7, noise=b"\r\n"))
    assert [control_id(a) for a in acks] == [("AA", "F1"), ("AA", "F2"), ("AR", ""), ("AA", "F3")]


def test_every_message_passes_the_security_gate(store: Store, settings: Settings) -> None:
    audit = MemoryAuditSink()

    async def scenario() -> list[bytes]:
        server = await start_mllp_server(store, settings, "127.0.0.1", 0, audit=audit)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        acks = []
        for payload in (adt("A28", "G1"), adt("A31", "G2")):
            writer.write(frame(payload))
            await writer.drain()
            acks.append(await read_frame(reader))
        writer.close()
        server.close()
        await server.wait_closed()
        return [a for a in acks if a]

    assert [control_id(a) for a in asyncio.run(scenario())] == [("AA", "G1"), ("AA", "G2")]
    # insecure-dev: any sender, as mllp:<address>; each message recorded with what it wrote
    records = [r for r in audit.records if r.interaction == "operation:ingest-hl7v2"]
    assert {r.request_id for r in records} == {"G1", "G2"}
    assert {(r.principal, r.source_ip, r.allowed) for r in records} == {("mllp:127.0.0.1", "127.0.0.1", True)}


def test_peer_closing_mid_frame_gets_no_ack_and_stores_nothing(store: Store, settings: Settings) -> None:
    async def scenario() -> bytes | None:
        server = await start_mllp_server(store, settings, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(frame(adt("A28", "H1"))[:-5])
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        reply = await reader.read() if not reader.at_eof() else None
        server.close()
        await server.wait_closed()
        return reply or None

    assert asyncio.run(scenario()) is None
    assert store.count() == 0


def test_ten_thousand_messages_over_one_connection(store: Store, settings: Settings) -> None:
    """Every message ACKed exactly once, in order, and every one stored (its archive exists)."""
    total = 10_000
    messages = []
    for i in range(total):
        nhs = nhs_number(i // 2)
        if i % 10 == 9:
            messages.append(oru(f"L{i}", filler=f"F{i}", nhs=nhs))
        else:
            messages.append(adt("A28" if i % 2 == 0 else "A31", f"A{i}", nhs=nhs, mrn=f"M{i // 2}"))
    acks = asyncio.run(exchange(store, settings, messages))
    ids = [control_id(a) for a in acks]
    expected = [("AA", f"L{i}" if i % 10 == 9 else f"A{i}") for i in range(total)]
    assert ids == expected
    assert store.count("Binary") == total  # each message archived: stored, not just acknowledged
    assert store.count("Provenance") == total
    assert source_patients(store) == total // 2


def test_read_frame_handles_large_messages() -> None:
    async def scenario() -> bytes | None:
        reader = asyncio.StreamReader(limit=1024)
        payload = b"MSH|" + b"x" * 10_000
        reader.feed_data(b"junk" + frame(payload))
        reader.feed_eof()
        return await read_frame(reader)

    assert asyncio.run(scenario()) == b"MSH|" + b"x" * 10_000
