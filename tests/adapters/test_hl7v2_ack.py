"""One ACK per message: AA when stored, AE/AR with an ERR segment naming the field otherwise."""

from __future__ import annotations

import pytest
from hl7v2_samples import adt, oru

from gpbridge.adapters.common.quarantine import quarantine_list
from gpbridge.adapters.hl7v2 import handle_message
from gpbridge.config import Settings
from gpbridge.store.base import Store


def segments(ack: bytes) -> dict[str, list[str]]:
    return {line.split("|")[0]: line.split("|") for line in ack.decode().split("\r") if line}


def test_accepted_message_gets_aa(store: Store, settings: Settings) -> None:
    ack, result = handle_message(store, settings, adt("A28", "CTRL1"))
    parts = segments(ack)
    assert parts["MSA"][1:3] == ["AA", "CTRL1"] and "ERR" not in parts
    assert parts["MSH"][8] == "ACK^A28^ACK" and result.status == "imported"


def test_resend_is_acknowledged_but_not_stored_twice(store: Store, settings: Settings) -> None:
    handle_message(store, settings, oru("LAB1"))
    count = store.count()
    ack, result = handle_message(store, settings, oru("LAB1"))
    assert segments(ack)["MSA"][1] == "AA" and result.status == "duplicate"
    assert store.count() == count


def test_reused_control_id_with_other_content_is_an_error(store: Store, settings: Settings) -> None:
    handle_message(store, settings, adt("A28", "SAME"))
    ack, result = handle_message(store, settings, adt("A28", "SAME", family="OTHER"))
    parts = segments(ack)
    assert parts["MSA"][1] == "AE" and parts["ERR"][1].startswith("MSH^1^10^205")


@pytest.mark.parametrize(
    ("raw", "code", "where"),
    [
        (adt("A28", birth="19801301"), "AE", ("PID", "1", "7", "102")),
        (adt("A28", sex="Q"), "AE", ("PID", "1", "8", "103")),
        (adt("A28", nhs="9434765918"), "AE", ("PID", "1", "3", "102")),
        (adt("A05"), "AR", ("MSH", "1", "9", "201")),
        (adt("A28", version="2.2"), "AR", ("MSH", "1", "12", "203")),
    ],
)
def test_v24_error_names_the_field(store: Store, settings: Settings, raw: bytes, code: str,
                                   where: tuple[str, str, str, str]) -> None:
    ack, result = handle_message(store, settings, raw)
    parts = segments(ack)
    assert parts["MSA"][1] == code
    location = parts["ERR"][1].split("^")  # v2.4: ERR-1 segment^sequence^field^code&text&table
    assert (location[0], location[1], location[2], location[3].split("&")[0]) == where
    assert result.status == "quarantined"
    assert store.count() == len(quarantine_list(store))  # nothing but the quarantine item(s)


def test_v25_error_uses_err_2_and_3(store: Store, settings: Settings) -> None:
    bad = oru("LAB9", results=(("NM", "2823-3^Potassium^LN", "five", "", "", "", "F"),))
    ack, _ = handle_message(store, settings, bad)
    err = segments(ack)["ERR"]
    assert err[2] == "OBX^1^5" and err[3].startswith("102^Data type error") and err[4] == "E"
    assert "not a number" in err[8]


def test_unparseable_bytes_still_get_one_ack(store: Store, settings: Settings) -> None:
    ack, result = handle_message(store, settings, b"\x00\x01 definitely not HL7")
    assert segments(ack)["MSA"][1] == "AR" and result.status == "quarantined"


def test_broken_segment_is_rejected_naming_the_line(store: Store, settings: Settings) -> None:
    raw = adt("A28", "B1").replace(b"\rPID|", b"\rPI|")
    ack, result = handle_message(store, settings, raw)
    assert segments(ack)["MSA"][1] == "AR"
    assert "line 3" in result.error.reason and "'PI'" in result.error.reason
