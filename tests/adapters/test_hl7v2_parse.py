"""The ER7 parser: agrees with python-hl7 on what it extracts, decodes as MSH-18 says, unescapes."""

from __future__ import annotations

import hl7
import pytest
from hl7v2_samples import adt, oru
from hypothesis import given, settings
from hypothesis import strategies as st

from gpbridge.adapters.hl7v2 import Hl7v2Error
from gpbridge.adapters.hl7v2.message import parse

plain = st.text(st.characters(whitelist_categories=["Lu", "Ll", "Nd"], whitelist_characters=" .-/"),
                max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.lists(plain, min_size=1, max_size=3), min_size=1, max_size=2), min_size=1, max_size=8))
def test_fields_agree_with_python_hl7(fields: list[list[list[str]]]) -> None:
    """python-hl7 is the reference; our parser only splits lazily (see message.py for why)."""
    body = "|".join("~".join("^".join(components) for components in reps) for reps in fields)
    text = f"MSH|^~\\&|A|B|C|D|20240101||ADT^A28|1|P|2.4\rZZZ|{body}\r"
    ours = parse(text.encode()).first("ZZZ")
    theirs = hl7.parse(text)
    assert ours is not None
    for n, reps in enumerate(fields, start=1):
        for r, components in enumerate(reps):
            for c in range(len(components)):
                expected = theirs.extract_field("ZZZ", 1, n, r + 1, c + 1)
                assert ours.value(n, c + 1, r) == str(expected).strip()


def test_escapes_and_repetitions() -> None:
    message = parse(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A28|1|P|2.4\rNTE|1||Fish \\T\\ chips\\.br\\a\\F\\b~two\r")
    nte = message.first("NTE")
    assert nte is not None
    assert nte.value(3) == "Fish & chips\na|b"
    assert nte.value(3, rep=1) == "two"


def test_character_set_follows_msh_18() -> None:
    latin = "MSH|^~\\&|A|B|C|D|20240101||ADT^A28|1|P|2.4||||||8859/1\rNTE|1||caf\u00e9\r".encode("latin-1")
    assert parse(latin).first("NTE").value(3) == "caf\u00e9"  # type: ignore[union-attr]
    lying = latin.replace(b"8859/1", b"UNICODE UTF-8")
    with pytest.raises(Hl7v2Error) as caught:
        parse(lying)
    assert caught.value.place == "MSH-18"
    undeclared = latin.replace(b"|8859/1", b"|")
    with pytest.raises(Hl7v2Error, match="UTF-8 was expected"):
        parse(undeclared)


@pytest.mark.parametrize("raw", [adt("A01"), oru()])
def test_sample_messages_parse(raw: bytes) -> None:
    message = parse(raw)
    assert message.msh.value(10)
    assert message.first("PID") is not None
