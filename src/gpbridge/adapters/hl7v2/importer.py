"""Store HL7 v2 messages and answer each with its ACK."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl

import orjson

from gpbridge.adapters.common.codes import CodeMapper, default_code_mapper
from gpbridge.adapters.common.pipeline import ImportResult, Translation, run_import
from gpbridge.adapters.hl7v2.ack import ack
from gpbridge.adapters.hl7v2.convert import CONTENT_TYPE, translate_hl7v2
from gpbridge.adapters.hl7v2.errors import DUPLICATE_KEY, Hl7v2Error
from gpbridge.adapters.hl7v2.message import CHARSETS, Message, parse
from gpbridge.adapters.hl7v2.patients import merge_patient
from gpbridge.config import Settings
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store
from gpbridge.store.transaction import AuthorizeEntry, Touched


def import_hl7v2(
    store: Store,
    settings: Settings,
    raw: bytes,
    source: str = "hl7v2",
    *,
    received: datetime | str | None = None,
    mapper: CodeMapper | None = None,
    authorize_entry: AuthorizeEntry | None = None,
    touched: list[Touched] | None = None,
) -> ImportResult:
    """Translate and store one message; bad input is quarantined (see ``ImportResult.status``).

    ``authorize_entry``/``touched``: the security gate per resource and the audit's record of
    what was written (``run_import``); a refusal raises a 403 ``FhirError`` and keeps nothing."""
    code_mapper = mapper or default_code_mapper(store)
    return run_import(
        store, settings, adapter="hl7v2", raw=raw, source=source, content_type=CONTENT_TYPE, received=received,
        translate=lambda data: merge_stored_patients(store, translate_hl7v2(data, mapper=code_mapper)),
        authorize_entry=authorize_entry, touched=touched,
    )


def handle_message(store: Store, settings: Settings, raw: bytes, *, source: str = "mllp",
                   mapper: CodeMapper | None = None, authorize_entry: AuthorizeEntry | None = None,
                   touched: list[Touched] | None = None) -> tuple[bytes, ImportResult]:
    """Import one message and build its ACK (AA, AE or AR), encoded as the message was.
    A write ``authorize_entry`` refuses raises its 403 ``FhirError`` (the caller answers AR)."""
    result = import_hl7v2(store, settings, raw, source, mapper=mapper, authorize_entry=authorize_entry,
                          touched=touched)
    message: Message | None
    try:
        message = parse(raw)
    except Hl7v2Error:
        message = None
    if result.ok:
        code = "AA"
    else:
        reject = isinstance(result.error, Hl7v2Error) and result.error.reject
        code = "AR" if reject or message is None else "AE"
    charset = message.charset if message is not None else ""
    text = ack(message, code, result.error, charset=charset)
    return text.encode(CHARSETS.get(charset, "utf-8"), errors="replace"), result


def merge_stored_patients(store: Store, translation: Translation) -> Translation:
    """Turn each conditional Patient update into an update of the stored Patient merged with the
    message (version-checked), so data the message does not carry — links from an earlier
    merge, identifiers from other sources — survives an A08."""
    for entry in translation.builder.entries:
        request = entry["request"]
        url = request["url"]
        if request["method"] != "PUT" or not url.startswith("Patient?"):
            continue
        found = store.search(parse_search("Patient", parse_qsl(url.partition("?")[2]), strict=True)).matches
        current = [m for m in found if not m.deleted and m.content]
        if len(current) > 1:
            raise Hl7v2Error(f"{len(current)} stored patients share the identifier {url.partition('=')[2]}",
                             "PID", 3, hl7_code=DUPLICATE_KEY)
        if not current:
            continue
        stored = current[0]
        merged = merge_patient(entry["resource"], orjson.loads(stored.content or b"{}"))
        merged["id"] = stored.id
        merged.pop("meta", None)
        entry["resource"] = merged
        entry["request"] = {"method": "PUT", "url": f"Patient/{stored.id}", "ifMatch": stored.etag}
    return translation


def retry_hl7v2(store: Store, settings: Settings, raw: bytes, *, source: str, params: dict[str, str]) -> ImportResult:
    return import_hl7v2(store, settings, raw, source)
