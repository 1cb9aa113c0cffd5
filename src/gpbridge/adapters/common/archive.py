"""The original message, kept byte for byte so it can be re-processed after a mapping fix.

It is a ``Binary`` written in the same transaction as its translation (so there is never a
translation without its original, nor the reverse). Its id derives from the message identity,
which also makes it the idempotency key: a message whose archive exists was already imported.
"""

from __future__ import annotations

import base64
from typing import Any

from gpbridge.adapters.common.ids import digest, resource_id
from gpbridge.fhir.outcome import FhirError
from gpbridge.store.base import Store

ADAPTER_SYSTEM = "https://gpbridge.dev/CodeSystem/adapter"
SHA256_SYSTEM = "https://gpbridge.dev/CodeSystem/sha256"


def archive_id(adapter: str, message_key: str) -> str:
    return resource_id(adapter, message_key)


def archive_resource(
    adapter: str, message_key: str, raw: bytes, content_type: str, patient: str | None = None
) -> dict[str, Any]:
    binary: dict[str, Any] = {
        "resourceType": "Binary",
        "id": archive_id(adapter, message_key),
        "meta": {"tag": [{"system": ADAPTER_SYSTEM, "code": adapter}, {"system": SHA256_SYSTEM, "code": digest(raw)}]},
        "contentType": content_type,
    }
    if patient:
        # access to the original follows access to the patient's record
        binary["securityContext"] = {"reference": patient}
    binary["data"] = base64.b64encode(raw).decode("ascii")
    return binary


def find_archive(store: Store, adapter: str, message_key: str) -> dict[str, Any] | None:
    import orjson

    try:
        stored = store.read("Binary", archive_id(adapter, message_key))
    except FhirError as exc:
        if exc.status in (404, 410):
            return None
        raise
    return orjson.loads(stored.content) if stored.content else None


def archived_digest(binary: dict[str, Any]) -> str | None:
    return next((t["code"] for t in binary.get("meta", {}).get("tag", ()) if t.get("system") == SHA256_SYSTEM), None)


def original_bytes(binary: dict[str, Any]) -> bytes:
    return base64.b64decode(binary.get("data", ""))
