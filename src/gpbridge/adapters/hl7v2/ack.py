"""Acknowledgements: one ACK per message — AA, or AE/AR with an ERR segment naming the field.

ERR is written the way the message's version expects: ERR-1 (error code and location) up to
v2.4, ERR-2/3/4/8 (location, HL7 error code, severity, user message) from v2.5.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

from gpbridge.adapters.common.errors import AdapterError
from gpbridge.adapters.hl7v2.errors import APPLICATION_ERROR, DUPLICATE_KEY, Hl7v2Error
from gpbridge.adapters.hl7v2.message import Message

_ids = count(1)


def ack(message: Message | None, code: str, error: AdapterError | None = None, *, charset: str = "") -> str:
    """An ACK (as text) for ``message``; ``message`` is None when even MSH could not be read."""
    sep, comp = ("|", "^") if message is None else (message.seps.field, message.seps.component)
    enc = "^~\\&" if message is None else "".join(
        x for x in (message.seps.component, message.seps.repetition, message.seps.escape, message.seps.subcomponent) if x)
    msh = message.msh if message is not None else None
    version = (message.version if message is not None else "") or "2.4"
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    control = f"ACK{now[:14]}{next(_ids):06d}"
    trigger = msh.value(9, 2) if msh is not None else ""
    fields = [
        "MSH", enc,
        msh.value(5) if msh else "", msh.value(6) if msh else "",  # we are the receiver: swap
        msh.value(3) if msh else "", msh.value(4) if msh else "",
        now, "", f"ACK{comp}{trigger}{comp}ACK" if trigger else "ACK", control,
        msh.value(11) if msh and msh.value(11) else "P", version,
    ]
    if charset:
        fields += ["", "", "", "", "", charset]
    segments = [sep.join(fields)]
    text = _clean(str(error), sep, comp) if error is not None else ""
    segments.append(sep.join(["MSA", code, message.control_id if message is not None else "", text[:80]]))
    if error is not None:
        segments.append(_err(error, version, sep, comp, text))
    return "\r".join(segments) + "\r"


def _err(error: AdapterError, version: str, sep: str, comp: str, text: str) -> str:
    if isinstance(error, Hl7v2Error):
        segment, sequence, field, hl7_code, hl7_text = (error.segment, error.sequence, error.field, error.hl7_code,
                                                         error.hl7_text)
    elif error.code == "duplicate":  # a control id reused for different content
        segment, sequence, field, hl7_code, hl7_text = "MSH", 1, 10, DUPLICATE_KEY, "Duplicate key identifier"
    else:
        segment, sequence, field, hl7_code, hl7_text = "", 1, None, APPLICATION_ERROR, "Application internal error"
    location = comp.join([segment, str(sequence) if segment else "", str(field) if field is not None else ""])
    if _older_than_25(version):
        # ERR-1 ELD: segment^sequence^field position^code identifying error (CE)
        return sep.join(["ERR", comp.join([segment, str(sequence) if segment else "",
                                           str(field) if field is not None else "",
                                           f"{hl7_code}&{hl7_text}&HL70357"])])
    return sep.join(["ERR", "", location, comp.join([hl7_code, hl7_text, "HL70357"]), "E", "", "", "", text[:250]])


def _older_than_25(version: str) -> bool:
    parts = [int(p) for p in version.split(".") if p.isdigit()]
    return parts < [2, 5]


def _clean(text: str, sep: str, comp: str) -> str:
    """Message text inside an ACK field: no delimiters, no line breaks."""
    for ch in (sep, comp, "~", "\\", "&", "\r", "\n"):
        text = text.replace(ch, " ")
    return " ".join(text.split())
