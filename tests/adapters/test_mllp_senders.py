"""Who may send over MLLP with security on: MSH-3/MSH-4 *and* the peer address must match a sender
mapped to a registered client, whose scopes then decide the writes; every message is audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hl7v2_samples import adt
from joserfc import jwk
from mllp_client import control_id

from gpbridge.adapters.hl7v2.mllp import frame, read_frame, start_mllp_server
from gpbridge.config import Settings
from gpbridge.security.audit import MemoryAuditSink, audit_event
from gpbridge.security.clients import register_client
from gpbridge.store.base import Store
from identity_helpers import source_patients

SENDERS = (
    "PAS^RBH=pas-feed@127.0.0.1;"  # the PAS, from this one address only
    "LAB^RBH=lab-feed@127.0.0.0/8;"  # a results feed whose client may not write Patients
    "OLD^RBH=retired-feed@127.0.0.1"  # mapped to a client nobody registered
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Security on (the default), the sender map above, clients registered under ``var_dir``."""
    secure = Settings(database=f"sqlite:///{tmp_path / 'mllp.db'}", validation="strict", insecure_dev=False,
                      var_dir=str(tmp_path / "var"), mllp_senders=SENDERS)
    public = jwk.RSAKey.generate_key(2048, private=True).as_dict(private=False)
    register_client(secure, "pas-feed", {"keys": [public]}, ("system/*.read", "system/*.write"), name="RBH PAS")
    register_client(secure, "lab-feed", {"keys": [public]},
                    ("system/*.read", "system/Observation.write", "system/DiagnosticReport.write"))
    return secure


def send(store: Store, settings: Settings, audit: MemoryAuditSink, payloads: list[bytes],
         source: str = "127.0.0.1") -> list[bytes]:
    """Send each payload from the address ``source`` (any 127/8 address is loopback) and collect the ACKs."""
    async def scenario() -> list[bytes]:
        server = await start_mllp_server(store, settings, "127.0.0.1", 0, audit=audit)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        acks = []
        for payload in payloads:
            writer.write(frame(payload))
            await writer.drain()
            ack = await asyncio.wait_for(read_frame(reader), timeout=60)
            assert ack is not None
            acks.append(ack)
        writer.close()
        server.close()
        await server.wait_closed()
        return acks

    return asyncio.run(scenario())


def as_sender(payload: bytes, application: str, facility: str = "RBH") -> bytes:
    return payload.replace(b"|PAS|RBH|", f"|{application}|{facility}|".encode(), 1)


def msa(ack: bytes) -> str:
    return next(line for line in ack.decode().split("\r") if line.startswith("MSA"))


def test_unknown_sender_is_refused_and_nothing_is_kept(store: Store, settings: Settings) -> None:
    audit = MemoryAuditSink()
    [ack] = send(store, settings, audit, [as_sender(adt("A28", "U1"), "EPR")])
    assert control_id(ack) == ("AR", "U1")
    assert "unknown sender EPR RBH" in msa(ack)  # ^ cannot appear in an ACK field's text
    assert b"ERR|MSH^1^3^207" in ack  # the ERR segment names MSH-3, as for any refusal
    assert store.count() == 0  # not stored, not even quarantined
    [event] = audit.records
    assert not event.allowed and event.interaction == "operation:ingest-hl7v2"
    assert event.reason == "unknown sender EPR^RBH (not in mllp_senders)"
    assert event.principal == "mllp:127.0.0.1" and event.client_id is None
    assert event.source_ip == "127.0.0.1" and event.request_id == "U1"


def test_known_sender_from_its_address_is_stored_as_its_client(store: Store, settings: Settings) -> None:
    audit = MemoryAuditSink()
    acks = send(store, settings, audit, [adt("A28", "K1"), adt("A28", "K1")])  # the second is a resend
    assert [control_id(a) for a in acks] == [("AA", "K1"), ("AA", "K1")]
    assert source_patients(store) == 1 and store.count("Binary") == 1 and store.count("Provenance") == 1
    events = [r for r in audit.records if r.request_id == "K1"]
    assert events and all(e.allowed and e.interaction == "operation:ingest-hl7v2" for e in events)
    assert {(e.principal, e.kind, e.client_id, e.principal_name, e.source_ip) for e in events} == {
        ("pas-feed", "system", "pas-feed", "RBH PAS", "127.0.0.1")}
    written = {entity.what.split("/")[0]: entity.interaction for e in events for entity in e.entities}
    # the Patient is a conditional update on the NHS number (that it created it is in the store's history)
    assert written["Patient"] == "update" and {"Binary", "Provenance"} <= written.keys()
    patient_event = next(e for e in events if e.patient)
    rendered = audit_event(patient_event)
    assert rendered["agent"][0]["altId"] == "pas-feed" and rendered["outcome"] == "0"
    assert any(e["what"].get("reference", "").startswith("Patient/") and "lifecycle" in e for e in rendered["entity"])
    duplicate = [e for e in events if e.detail and "duplicate" in e.detail]
    assert len(duplicate) == 1  # the resend is audited too, as writing nothing


def test_right_msh_from_the_wrong_address_is_refused(store: Store, settings: Settings) -> None:
    audit = MemoryAuditSink()
    [ack] = send(store, settings, audit, [adt("A28", "W1")], source="127.0.0.2")
    assert control_id(ack) == ("AR", "W1")
    assert "sender PAS RBH may not send from 127.0.0.2" in msa(ack)
    assert store.count() == 0
    [event] = audit.records
    assert not event.allowed and event.principal == "mllp:127.0.0.2" and event.source_ip == "127.0.0.2"
    assert event.reason == "sender PAS^RBH may not send from 127.0.0.2"
    assert event.client_id is None  # a claim from the wrong place is not attributed to the client


def test_client_whose_scopes_do_not_grant_the_write_is_refused(store: Store, settings: Settings) -> None:
    audit = MemoryAuditSink()
    [ack] = send(store, settings, audit, [as_sender(adt("A28", "S1"), "LAB")], source="127.0.0.3")
    assert control_id(ack) == ("AR", "S1")
    assert msa(ack) == "MSA|AR|S1|MSH-3: access denied: scope does not grant update on Patient"
    assert store.count() == 0  # refused, so not quarantined either
    refused = [r for r in audit.records if not r.allowed]
    assert len(refused) == 1 and refused[0].principal == "lab-feed" and refused[0].client_id == "lab-feed"
    assert refused[0].resource_type == "Patient" and "scope does not grant" in refused[0].reason
    assert not [r for r in audit.records if r.allowed]  # nothing was written, so nothing recorded as done


def test_mapped_client_that_is_not_registered_is_refused(store: Store, settings: Settings) -> None:
    audit = MemoryAuditSink()
    [ack] = send(store, settings, audit, [as_sender(adt("A28", "R1"), "OLD")])
    assert control_id(ack) == ("AR", "R1") and "client retired-feed is not registered" in msa(ack)
    assert store.count() == 0 and not audit.records[0].allowed


def test_unreadable_message_from_anyone_is_refused_without_quarantine(store: Store, settings: Settings) -> None:
    audit = MemoryAuditSink()
    [ack] = send(store, settings, audit, [b"not hl7 at all"])
    assert control_id(ack) == ("AR", "")
    assert store.count() == 0  # an unidentified peer's bytes are not kept
    assert not audit.records[0].allowed and "cannot be identified" in audit.records[0].reason
