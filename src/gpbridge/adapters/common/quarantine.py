"""The quarantine queue: input an adapter could not import, kept with its reason until fixed.

An item is a ``Task`` (status ``failed``) holding the original bytes, the adapter, the parameters
needed to re-run it (e.g. the CSV profile) and the error naming the place. Its id derives from
the adapter and the content, so the same bad message quarantined twice is one item with two
attempts. ``quarantine_retry`` re-runs the adapter; on success the Task is marked ``completed``
and points at the import's Provenance. Tasks are written through the same transaction path as
everything else, so the queue is visible (and access-controlled) like any resource.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

import orjson

from gpbridge.adapters.common.archive import ADAPTER_SYSTEM
from gpbridge.adapters.common.errors import AdapterError
from gpbridge.adapters.common.ids import digest, resource_id
from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store
from gpbridge.store.transaction import process_bundle

if TYPE_CHECKING:
    from gpbridge.adapters.common.pipeline import ImportResult

TASK_SYSTEM = "https://gpbridge.dev/CodeSystem/adapter-task"
QUARANTINE = "quarantine"

#: adapter -> "module:function(store, settings, raw, *, source, params) -> ImportResult"
RETRY_ENTRY_POINTS = {
    "gp2gp": "gpbridge.adapters.gp2gp.importer:retry_gp2gp",
    "hl7v2": "gpbridge.adapters.hl7v2.importer:retry_hl7v2",
    "csv": "gpbridge.adapters.csv.importer:retry_csv",
}


@dataclass
class QuarantineItem:
    id: str
    adapter: str
    status: str  # failed (waiting for a fix) | completed (a retry succeeded)
    source: str
    reason: str
    received: str
    attempts: int
    content_type: str
    params: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "raw"} | {"bytes": len(self.raw)}


def quarantine_id(adapter: str, raw: bytes) -> str:
    return resource_id("q-" + adapter, digest(raw))


def quarantine(
    store: Store,
    settings: Settings,
    *,
    adapter: str,
    raw: bytes,
    content_type: str,
    source: str,
    error: AdapterError,
    received: str,
    params: dict[str, str],
) -> str:
    qid = quarantine_id(adapter, raw)
    previous_task = _task(store, qid)
    previous = _item(previous_task) if previous_task else None
    attempts = (previous.attempts if previous else 0) + 1
    notes = previous_task.get("note", []) if previous_task else []
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": qid,
        "meta": {"tag": [{"system": ADAPTER_SYSTEM, "code": adapter}]},
        "identifier": [{"system": TASK_SYSTEM, "value": qid}],
        "status": "failed",
        "businessStatus": {"text": f"quarantined ({attempts} attempt{'s' if attempts > 1 else ''})"},
        "intent": "order",
        "code": {"coding": [{"system": TASK_SYSTEM, "code": QUARANTINE, "display": "Quarantined input"}]},
        "description": f"{adapter} input {source} could not be imported",
        "statusReason": {"text": str(error)[:4000]},
        "authoredOn": previous.received if previous else received,
        "lastModified": received,
        "input": _inputs(adapter, raw, content_type, source, params, attempts),
        "note": [*notes, {"time": received, "text": f"attempt {attempts}: {error}"[:4000]}],
    }
    _write(store, settings, task)
    return qid


def resolve(store: Store, settings: Settings, adapter: str, raw: bytes, result: ImportResult) -> None:
    """Mark a quarantined item done once the same input imported (e.g. after a mapping fix)."""
    task = _task(store, quarantine_id(adapter, raw))
    if task is None or task.get("status") == "completed":
        return
    task["status"] = "completed"
    task["businessStatus"] = {"text": f"imported on retry ({result.status})"}
    if result.provenance:
        task["output"] = [{"type": {"text": "provenance"}, "valueReference": {"reference": result.provenance}}]
    _write(store, settings, task)


def quarantine_list(store: Store, *, status: str | None = "failed", adapter: str | None = None,
                    limit: int = 100) -> list[QuarantineItem]:
    params = [("code", f"{TASK_SYSTEM}|{QUARANTINE}"), ("_count", str(limit))]
    if status:
        params.append(("status", status))
    if adapter:
        params.append(("_tag", f"{ADAPTER_SYSTEM}|{adapter}"))
    found = store.search(parse_search("Task", params, max_count=max(limit, 1)))
    items = [_item(orjson.loads(r.content)) for r in found.matches if r.content]
    items.sort(key=lambda i: i.received)
    for item in items:
        item.raw = b""  # listing shows metadata only
    return items


def quarantine_show(store: Store, item_id: str) -> QuarantineItem:
    item = _read(store, item_id)
    if item is None:
        raise KeyError(f"no quarantined item {item_id!r}")
    return item


def quarantine_retry(store: Store, settings: Settings, item_id: str) -> ImportResult:
    """Re-run the item's adapter on the kept input (after a fix); the queue updates either way."""
    item = quarantine_show(store, item_id)
    module, _, function = RETRY_ENTRY_POINTS[item.adapter].partition(":")
    retry = getattr(import_module(module), function)
    result: ImportResult = retry(store, settings, item.raw, source=item.source, params=item.params)
    return result


# -- internals ------------------------------------------------------------------------------


def _inputs(adapter: str, raw: bytes, content_type: str, source: str, params: dict[str, str],
            attempts: int) -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = [
        {
            "type": {"text": "original"},
            "valueAttachment": {
                "contentType": content_type,
                "data": base64.b64encode(raw).decode("ascii"),
                "title": source[:200] or "input",
                "size": len(raw),
            },
        },
        {"type": {"text": "adapter"}, "valueString": adapter},
        {"type": {"text": "source"}, "valueString": source or "input"},
        {"type": {"text": "attempts"}, "valueUnsignedInt": attempts},
    ]
    inputs += [{"type": {"text": f"param:{k}"}, "valueString": v} for k, v in sorted(params.items()) if v]
    return inputs


def _write(store: Store, settings: Settings, task: dict[str, Any]) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": task, "request": {"method": "PUT", "url": f"Task/{task['id']}"}}]}
    process_bundle(store, bundle, settings=settings, base_url="")


def _task(store: Store, item_id: str) -> dict[str, Any] | None:
    try:
        stored = store.read("Task", item_id)
    except FhirError as exc:
        if exc.status in (400, 404, 410):
            return None
        raise
    return orjson.loads(stored.content) if stored.content else None


def _read(store: Store, item_id: str) -> QuarantineItem | None:
    task = _task(store, item_id)
    return _item(task) if task is not None else None


def _item(task: dict[str, Any]) -> QuarantineItem:
    values: dict[str, Any] = {}
    params: dict[str, str] = {}
    for inp in task.get("input", ()):
        name = inp.get("type", {}).get("text", "")
        value = next((v for k, v in inp.items() if k.startswith("value")), None)
        if name.startswith("param:"):
            params[name[6:]] = str(value)
        else:
            values[name] = value
    original = values.get("original") or {}
    return QuarantineItem(
        id=task["id"],
        adapter=str(values.get("adapter", "")),
        status=task.get("status", ""),
        source=str(values.get("source", "")),
        reason=task.get("statusReason", {}).get("text", ""),
        received=task.get("authoredOn", ""),
        attempts=int(values.get("attempts") or 0),
        content_type=original.get("contentType", ""),
        params=params,
        raw=base64.b64decode(original.get("data", "")),
    )
