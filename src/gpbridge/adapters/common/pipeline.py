"""The import pipeline every adapter shares: translate → dedupe → archive + Provenance → store.

``run_import`` is the only way adapters write. It hands one transaction Bundle (the translated
resources, the archived original and the Provenance) to ``store.transaction.process_bundle`` —
the same path the REST API uses — so an import is validated, indexed and atomic like any other
write. Input that cannot be translated or stored goes to the quarantine queue with its reason;
nothing of it is stored beside that.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import gpbridge
from gpbridge.adapters.common import archive, quarantine
from gpbridge.adapters.common.bundle import TransactionBuilder
from gpbridge.adapters.common.errors import AdapterError
from gpbridge.adapters.common.flags import Quality, UnmappedCode
from gpbridge.adapters.common.ids import digest
from gpbridge.adapters.common.provenance import build_provenance
from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.store.base import Store
from gpbridge.store.transaction import AuthorizeEntry, Touched, process_bundle

log = logging.getLogger(__name__)

ADAPTER_VERSION = gpbridge.__version__


@dataclass
class Translation:
    """What an adapter's translate step hands the pipeline."""

    adapter: str
    message_key: str  # identity of the message for de-duplication (e.g. sender + message id)
    message_id: str  # the id a human would quote
    source_system: str
    ods_code: str | None
    builder: TransactionBuilder
    quality: Quality
    content_type: str
    patient: str | None = None  # fullUrl of the Patient entry, when there is one
    #: source statement id -> fullUrl of the resource it landed in (the "no silent drops" ledger)
    accounted: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    adapter: str
    status: str  # imported | duplicate | quarantined
    source: str = ""
    message_id: str = ""
    archive: str | None = None
    provenance: str | None = None
    created: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)  # already present (conditional create matched)
    unmapped: list[UnmappedCode] = field(default_factory=list)
    error: AdapterError | None = None
    quarantine_id: str | None = None
    references: dict[str, str] = field(default_factory=dict)  # fullUrl -> Type/id as stored

    @property
    def ok(self) -> bool:
        return self.status in ("imported", "duplicate")


Translate = Callable[[bytes], Translation]


def now_instant() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def instant(received: datetime | str | None) -> str:
    if received is None:
        return now_instant()
    if isinstance(received, str):
        return received
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return received.isoformat(timespec="milliseconds")


def run_import(
    store: Store,
    settings: Settings,
    *,
    adapter: str,
    raw: bytes,
    source: str,
    translate: Translate,
    content_type: str,
    received: datetime | str | None = None,
    params: dict[str, str] | None = None,
    authorize_entry: AuthorizeEntry | None = None,
    touched: list[Touched] | None = None,
) -> ImportResult:
    """Translate ``raw`` and store it atomically, or quarantine it. Never raises for bad input.

    ``authorize_entry`` is the security gate for each translated resource, as for a REST
    transaction (``store.transaction.process_bundle``); a refusal raises its 403 ``FhirError`` and
    nothing of the input is kept — not even in quarantine, since the sender may not write it.
    The archive and the Provenance, the import's own record, are covered by the caller's gate
    for the ingest operation. ``touched`` receives what the Bundle wrote, for the audit.
    """
    when = instant(received)
    try:
        try:
            translation = translate(raw)
            result = _store(store, settings, translation, raw, when, authorize_entry, touched)
        except (AdapterError, FhirError):
            raise
        except Exception as exc:  # a translator bug must not lose the message: keep it for a retry
            log.exception("%s adapter failed on %s", adapter, source)
            raise AdapterError(f"internal error while translating ({type(exc).__name__}); kept for retry",
                               source, code="exception", status=500) from exc
    except FhirError as exc:  # the store itself refused (e.g. a conflict) outside the translation
        if exc.status == 403:
            raise  # refused by the security gate: not the input's fault, and not to be kept
        error = AdapterError(exc.message, source, code="processing", status=exc.status)
        qid = quarantine.quarantine(
            store, settings, adapter=adapter, raw=raw, content_type=content_type, source=source,
            error=error, received=when, params=params or {},
        )
        return ImportResult(adapter, "quarantined", source=source, error=error, quarantine_id=qid)
    except AdapterError as exc:
        qid = quarantine.quarantine(
            store, settings, adapter=adapter, raw=raw, content_type=content_type, source=source,
            error=exc, received=when, params=params or {},
        )
        return ImportResult(adapter, "quarantined", source=source, error=exc, quarantine_id=qid)
    result.source = source
    quarantine.resolve(store, settings, adapter, raw, result)
    return result


def _store(store: Store, settings: Settings, t: Translation, raw: bytes, when: str,
           authorize_entry: AuthorizeEntry | None = None, touched: list[Touched] | None = None) -> ImportResult:
    result = ImportResult(t.adapter, "imported", message_id=t.message_id, unmapped=list(t.quality.unmapped))
    archive_id = archive.archive_id(t.adapter, t.message_key)
    result.archive = f"Binary/{archive_id}"
    result.provenance = f"Provenance/{archive_id}"
    existing = archive.find_archive(store, t.adapter, t.message_key)
    if existing is not None:
        if archive.archived_digest(existing) != digest(raw):
            raise AdapterError(
                f"message {t.message_id!r} was already imported with different content; "
                "a corrected message needs a new message id",
                "message id", code="duplicate",
            )
        result.status = "duplicate"
        return result
    targets = [e["fullUrl"] for e in t.builder.entries]
    binary = archive.archive_resource(t.adapter, t.message_key, raw, t.content_type, t.patient)
    provenance = build_provenance(
        provenance_id=archive_id, adapter=t.adapter, adapter_version=ADAPTER_VERSION,
        source_system=t.source_system, ods_code=t.ods_code, message_id=t.message_id, received=when,
        targets=targets, archive_reference=result.archive,
    )
    extra = [
        {"resource": binary, "request": {"method": "PUT", "url": result.archive}},
        {"resource": provenance, "request": {"method": "PUT", "url": result.provenance}},
    ]
    bundle = t.builder.bundle(extra)
    gate = None
    if authorize_entry is not None:
        own = {("Binary", archive_id), ("Provenance", archive_id)}

        def gate(interaction: str, resource_type: str | None, resource_id: str | None) -> None:
            if (resource_type, resource_id) not in own:
                authorize_entry(interaction, resource_type, resource_id)
    try:
        response = process_bundle(store, bundle, settings=settings, base_url="", authorize_entry=gate,
                                  touched=touched)
    except FhirError as exc:
        if exc.status == 403:
            raise
        raise _as_adapter_error(exc, bundle) from None
    _count(result, bundle, response)
    return result


def _count(result: ImportResult, bundle: dict[str, Any], response: dict[str, Any]) -> None:
    for sent, got in zip(bundle["entry"], response.get("entry") or (), strict=False):
        status = str((got or {}).get("response", {}).get("status", ""))
        type_ = sent["resource"]["resourceType"]
        location = (got or {}).get("response", {}).get("location", "")
        if sent.get("fullUrl") and location:
            result.references[sent["fullUrl"]] = "/".join(location.split("/")[:2])
        if type_ in ("Binary", "Provenance"):
            continue
        if status.startswith("201"):
            result.created[type_] += 1
        else:
            result.matched[type_] += 1


def _as_adapter_error(exc: FhirError, bundle: dict[str, Any]) -> AdapterError:
    """A store rejection of a translated message: name the resource and source it came from."""
    where = next((e for issue in exc.issues for e in issue.expression), "")
    detail = ""
    if where.startswith("Bundle.entry["):
        try:
            index = int(where[len("Bundle.entry["):].split("]", 1)[0])
            resource = bundle["entry"][index]["resource"]
            ident = (resource.get("identifier") or [{}])[0].get("value", "")
            detail = f"{resource['resourceType']} {ident}".strip()
        except (ValueError, IndexError, KeyError):
            detail = ""
    reason = "the translation was rejected by the store: " + exc.message
    return AdapterError(reason, f"{detail} ({where})" if detail else where, code="processing", status=exc.status)
