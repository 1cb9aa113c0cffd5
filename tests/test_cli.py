"""The CLI contract: demo-data writes Bundles, import loads files/directories/NDJSON with a summary."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from gpbridge.cli import app
from gpbridge.search.parse import parse_search
from gpbridge.store.sqlite import SQLiteStore
from identity_helpers import NOT_GOLDEN, source_patients

runner = CliRunner()


def test_demo_data_is_deterministic_and_imports(tmp_path: Path) -> None:
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        result = runner.invoke(app, ["demo-data", "--patients", "5", "--out", str(out), "--seed", "3"])
        assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out1.iterdir())
    assert files and all((out1 / f).read_bytes() == (out2 / f).read_bytes() for f in files)
    again = runner.invoke(app, ["demo-data", "--patients", "5", "--out", str(out1)])
    assert again.exit_code == 2 and "--force" in again.output

    db = tmp_path / "g.db"
    result = runner.invoke(app, ["import", str(out1), "--database", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert "Import summary" in result.output and "Patient" in result.output
    store = SQLiteStore(str(db))
    assert source_patients(store) == 5  # (each also has the golden Patient linkage made)
    store.close()


def test_import_ndjson_and_reports_bad_lines_without_storing_them(tmp_path: Path) -> None:
    good = [{"resourceType": "Patient", "id": f"p{n}", "name": [{"family": f"Nd{n}"}]} for n in range(3)]
    lines = [orjson.dumps(r) for r in good]
    lines.insert(1, b'{"resourceType": "Patient", "birthDate": "not-a-date"')  # malformed JSON
    (tmp_path / "patients.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "n.db"
    result = runner.invoke(app, ["import", str(tmp_path / "patients.ndjson"), "--database", f"sqlite:///{db}"])
    assert result.exit_code == 1
    output = result.output.replace("\n", "")  # rich wraps a long temporary path anywhere
    assert "patients.ndjson:2" in output and "not valid JSON" in output
    store = SQLiteStore(str(db))
    assert sorted(m.id for m in store.search(parse_search("Patient", [("family", "nd"), NOT_GOLDEN])).matches) == ["p0", "p1", "p2"]
    store.close()


def test_import_rejects_invalid_batch_atomically(tmp_path: Path) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "ok", "name": [{"family": "Fine"}]}},
        {"resource": {"resourceType": "Patient", "id": "bad", "birthDate": "1984-13-40"}},
    ]}
    (tmp_path / "c.json").write_bytes(orjson.dumps(bundle))
    db = tmp_path / "c.db"
    result = runner.invoke(app, ["import", str(tmp_path / "c.json"), "--database", f"sqlite:///{db}"])
    assert result.exit_code == 1 and "birthDate" in result.output
    store = SQLiteStore(str(db))
    assert store.count() == 0  # the batch failed as a whole: nothing half-stored
    store.close()


def test_import_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "nope.json"), "--database", f"sqlite:///{tmp_path}/x.db"])
    assert result.exit_code == 2 and "no such file" in result.output


A28 = (b"MSH|^~\\&|PAS|RBH|GPB|GPB|20240101120000||ADT^A28|M1|P|2.4\r"
       b"EVN|A28|20240101120000\rPID|1||9434765919^^^NHS^NH||SMITH^JOHN||19800101|M\r")


def test_mllp_insecure_dev_accepts_any_sender_and_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPBRIDGE_INSECURE_DEV", raising=False)
    acks: list[bytes] = []
    _one_message_listener(monkeypatch, acks)
    database = f"sqlite:///{tmp_path}/mllp.db"
    refused = runner.invoke(app, ["mllp", "--database", database])
    accepted = runner.invoke(app, ["mllp", "--database", database, "--insecure-dev"])
    assert refused.exit_code == 0 and accepted.exit_code == 0, refused.output + accepted.output
    assert "security checks are OFF" not in refused.output and "security checks are OFF" in accepted.output
    # without the flag no sender is authorised (the message is refused, not kept); with it, stored
    assert b"MSA|AR|M1|" in acks[0] and b"access denied" in acks[0]
    assert b"MSA|AA|M1|" in acks[1]


def _one_message_listener(monkeypatch: pytest.MonkeyPatch, acks: list[bytes], message: bytes = A28) -> None:
    """Replace serving forever by the real listener, on a free port, answering one message."""
    import asyncio

    from gpbridge.adapters.hl7v2 import mllp as mllp_module

    async def one_message(store: object, settings: object, host: str, port: int, audit: object = None) -> None:
        server = await mllp_module.start_mllp_server(store, settings, host, 0, audit=audit)  # type: ignore[arg-type]
        reader, writer = await asyncio.open_connection(host, server.sockets[0].getsockname()[1])
        writer.write(mllp_module.frame(message))
        await writer.drain()
        acks.append(await mllp_module.read_frame(reader) or b"")
        writer.close()
        server.close()
        await server.wait_closed()

    monkeypatch.setattr(mllp_module, "run_mllp_server", one_message)


def _audit_rows(db: Path) -> list[tuple[str, str, str]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT principal, interaction, outcome FROM audit_log ORDER BY seq").fetchall()


def test_mllp_maps_a_sender_to_its_registered_client_and_audits_every_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from joserfc import jwk

    monkeypatch.delenv("GPBRIDGE_INSECURE_DEV", raising=False)
    monkeypatch.setenv("GPBRIDGE_VAR_DIR", str(tmp_path / "var"))
    key = tmp_path / "pas-feed.pem"
    key.write_bytes(jwk.RSAKey.generate_key(2048, private=True).as_pem(private=False))
    registered = runner.invoke(app, ["client", "register", "pas-feed", "--key", str(key),
                                     "--scope", "system/*.read", "--scope", "system/*.write"])
    assert registered.exit_code == 0, registered.output
    acks: list[bytes] = []
    _one_message_listener(monkeypatch, acks)
    db = tmp_path / "mllp.db"
    monkeypatch.setenv("GPBRIDGE_MLLP_SENDERS", "PAS^RBH=pas-feed@127.0.0.1")
    accepted = runner.invoke(app, ["mllp", "--database", f"sqlite:///{db}"])
    monkeypatch.setenv("GPBRIDGE_MLLP_SENDERS", "PAS^RBH=pas-feed@192.0.2.10")  # not where it sends from
    refused = runner.invoke(app, ["mllp", "--database", f"sqlite:///{db}"])
    assert accepted.exit_code == 0 and refused.exit_code == 0, accepted.output + refused.output
    assert "1 sender mapped" in accepted.output and "security checks are OFF" not in accepted.output
    assert b"MSA|AA|M1|" in acks[0]
    assert b"MSA|AR|M1|MSH-3: access denied: sender PAS RBH may not send from 127.0.0.1" in acks[1]
    rows = _audit_rows(db)  # the same hash-chained audit `serve` writes, flushed when the listener stops
    assert ("pas-feed", "operation:ingest-hl7v2", "allowed") in rows
    assert rows[-1] == ("mllp:127.0.0.1", "operation:ingest-hl7v2", "denied")
    verified = runner.invoke(app, ["audit", "verify", "--database", f"sqlite:///{db}"])
    assert verified.exit_code == 0 and "chain intact" in verified.output


def test_mllp_refuses_to_start_on_a_malformed_sender_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPBRIDGE_MLLP_SENDERS", "PAS^RBH=pas-feed@not-an-address")
    result = runner.invoke(app, ["mllp", "--database", f"sqlite:///{tmp_path}/x.db"])
    assert result.exit_code == 2
    assert "'not-an-address' is not an IP address or CIDR network" in result.output.replace("\n", "")


def test_mllp_warns_when_no_sender_is_mapped_or_a_client_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPBRIDGE_INSECURE_DEV", raising=False)
    monkeypatch.setenv("GPBRIDGE_VAR_DIR", str(tmp_path / "var"))
    acks: list[bytes] = []
    _one_message_listener(monkeypatch, acks)
    monkeypatch.delenv("GPBRIDGE_MLLP_SENDERS", raising=False)
    none = runner.invoke(app, ["mllp", "--database", f"sqlite:///{tmp_path}/w.db"])
    monkeypatch.setenv("GPBRIDGE_MLLP_SENDERS", "PAS^RBH=nobody@127.0.0.1")
    missing = runner.invoke(app, ["mllp", "--database", f"sqlite:///{tmp_path}/w.db"])
    assert "no senders are mapped" in none.output.replace("\n", " ")
    assert "client nobody, which is not registered" in missing.output.replace("\n", " ")
    assert all(b"MSA|AR|M1|" in ack for ack in acks)
