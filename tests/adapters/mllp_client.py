"""A minimal MLLP client and a server fixture for the MLLP tests (loopback only)."""

from __future__ import annotations

import asyncio

from gpbridge.adapters.common.nhs_number import check_nhs_number
from gpbridge.adapters.hl7v2.mllp import frame, read_frame, start_mllp_server
from gpbridge.config import Settings
from gpbridge.store.base import Store


def nhs_number(i: int) -> str:
    """The ``i``-th valid test NHS number from 900000000x (Modulus 11; remainder 10 is skipped)."""
    base = 900_000_000 + i * 2
    while True:
        stem = str(base)
        check = (11 - sum(int(d) * w for d, w in zip(stem, range(10, 1, -1), strict=True)) % 11) % 11
        if check != 10:
            return check_nhs_number(stem + str(check))
        base += 1


async def exchange(store: Store, settings: Settings, payloads: list[bytes], *, chunk: int = 0,
                   noise: bytes = b"") -> list[bytes]:
    """Send every payload over one connection (without waiting for ACKs) and collect the ACKs."""
    server = await start_mllp_server(store, settings, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        for payload in payloads:
            data = noise + frame(payload)
            if chunk:  # dribble the bytes to prove framing does not depend on TCP segment boundaries
                for i in range(0, len(data), chunk):
                    writer.write(data[i:i + chunk])
                    await writer.drain()
            else:
                writer.write(data)
                await writer.drain()

    sender = asyncio.create_task(send())
    acks: list[bytes] = []
    for _ in payloads:
        ack = await asyncio.wait_for(read_frame(reader), timeout=60)
        assert ack is not None
        acks.append(ack)
    await sender
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return acks


def control_id(ack: bytes) -> tuple[str, str]:
    msa = next(line for line in ack.decode().split("\r") if line.startswith("MSA"))
    fields = msa.split("|")
    return fields[1], fields[2]
