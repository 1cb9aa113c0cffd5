"""The HL7 v2 sender map (``mllp_senders``): its syntax, its errors, and how a peer address matches."""

from __future__ import annotations

from pathlib import Path

import pytest
from joserfc import jwk

from gpbridge.config import Settings
from gpbridge.security.clients import register_client
from gpbridge.security.senders import load_senders, parse_senders


def test_inline_entries_with_addresses_and_networks() -> None:
    senders = parse_senders("PAS^RX1=pas-feed@10.20.0.0/24, 10.20.1.7 ; LAB^RX1=lab-feed@2001:db8::/32", "test")
    pas, lab = senders.senders[("PAS", "RX1")], senders.senders[("LAB", "RX1")]
    assert (pas.client_id, pas.label, lab.client_id) == ("pas-feed", "PAS^RX1", "lab-feed")
    assert pas.allows("10.20.0.99") and pas.allows("10.20.1.7") and not pas.allows("10.20.1.8")
    assert pas.allows("::ffff:10.20.0.5")  # an IPv4 peer seen by a dual-stack listener
    assert lab.allows("2001:db8::5") and not lab.allows("10.20.0.1") and not lab.allows("unknown")


@pytest.mark.parametrize(("entry", "says"), [
    ("PAS^RX1=pas-feed", "expected APP^FACILITY=client-id@address"),
    ("PAS=pas-feed@10.0.0.1", "expected APP^FACILITY=client-id@address"),
    ("PAS^RX1=@10.0.0.1", "expected APP^FACILITY=client-id@address"),
    ("PAS^RX1=pas-feed@", "no address given"),
    ("PAS^RX1=pas-feed@10.0.0.300", "'10.0.0.300' is not an IP address or CIDR network"),
    ("PAS^RX1=a@10.0.0.1;PAS^RX1=b@10.0.0.2", "sender PAS^RX1 is mapped twice"),
])
def test_a_malformed_entry_is_refused_by_name(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("^", r"\^")):
        parse_senders(entry, "mllp_senders")


def test_a_file_of_entries_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "senders.conf"
    path.write_text("# the trust's feeds\nPAS^RX1=pas-feed@10.20.0.0/24  # main PAS\n\nLAB^RX1=lab-feed@10.30.0.9\n")
    senders = load_senders(Settings(mllp_senders=str(path)))
    assert sorted(senders.senders) == [("LAB", "RX1"), ("PAS", "RX1")]
    with pytest.raises(ValueError, match="cannot read"):
        load_senders(Settings(mllp_senders=str(tmp_path / "missing.conf")))
    assert len(load_senders(Settings())) == 0


def test_the_env_variable_is_the_setting() -> None:
    settings = Settings.from_env({"GPBRIDGE_MLLP_SENDERS": "PAS^RX1=pas-feed@10.0.0.1"})
    assert settings.mllp_senders == "PAS^RX1=pas-feed@10.0.0.1"


def test_identify_needs_the_msh_the_address_and_a_registered_client(tmp_path: Path) -> None:
    settings = Settings(var_dir=str(tmp_path), mllp_senders="PAS^RX1=pas-feed@10.0.0.1;OLD^RX1=gone@10.0.0.1")
    public = jwk.RSAKey.generate_key(2048, private=True).as_dict(private=False)
    register_client(settings, "pas-feed", {"keys": [public]}, ("system/*.read", "system/Patient.write"))
    senders = load_senders(settings)
    known = senders.identify(settings, "PAS", "RX1", "10.0.0.1")
    assert known.principal is not None and known.principal.kind == "system"
    assert (known.principal.subject, known.principal.client_id) == ("pas-feed", "pas-feed")
    assert known.principal.scopes == ("system/*.read", "system/Patient.write")
    assert senders.identify(settings, "PAS", "RX2", "10.0.0.1").reason == "unknown sender PAS^RX2 (not in mllp_senders)"
    assert senders.identify(settings, "pas", "RX1", "10.0.0.1").principal is None  # exact match
    wrong = senders.identify(settings, "PAS", "RX1", "10.0.0.2")
    assert wrong.principal is None and wrong.reason == "sender PAS^RX1 may not send from 10.0.0.2"
    assert senders.identify(settings, "OLD", "RX1", "10.0.0.1").reason == \
        "sender OLD^RX1: client gone is not registered"
