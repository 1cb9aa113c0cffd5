"""Collect translated resources into one transaction Bundle.

Every resource gets a deterministic ``urn:uuid`` fullUrl from a key the adapter chooses (e.g.
``Observation|<statement id>``), so references can be made before the target is built (a problem
that links statements mapped later) and a repeat of the same message builds the same Bundle.
Conditional creates (``ifNoneExist`` on a source identifier) make the write idempotent: an entry
that already exists is matched, not duplicated, and references to it are rewritten to it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import quote

from gpbridge.adapters.common.ids import full_url
from gpbridge.fhir.profiles import ukcore_url


class DuplicateEntry(ValueError):
    """Two resources built under one key: the source repeats an id it should not."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"two resources built for {key}")


_PLAIN = re.compile(r"[A-Za-z0-9._~:/-]*\Z")


def identifier_criteria(system: str, value: str) -> str:
    # most identifiers need no escaping; quote() is slow enough to matter on large extracts
    system_part = system if _PLAIN.match(system) else quote(system, safe=":/")
    value_part = value if _PLAIN.match(value) and "/" not in value else quote(value, safe="")
    return f"identifier={system_part}|{value_part}"


class TransactionBuilder:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace  # scopes fullUrls to one message
        self.entries: list[dict[str, Any]] = []
        self._index: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, str] = {}  # fullUrl -> key, to name a duplicate
        self._urls: dict[str, str] = {}  # key -> fullUrl (uuid5 is not free)

    def ref(self, key: str) -> str:
        """The fullUrl the resource with ``key`` has (or will have)."""
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = full_url(self.namespace, key)
            self._keys[url] = key
        return url

    def has(self, key: str) -> bool:
        return self.ref(key) in self._index

    def resource(self, key: str) -> dict[str, Any] | None:
        return self.resource_at(self.ref(key))

    def resource_at(self, url: str) -> dict[str, Any] | None:
        entry = self._index.get(url)
        return entry["resource"] if entry else None

    def create(self, key: str, resource: dict[str, Any], *, if_none_exist: str | None = None) -> str:
        """POST ``resource`` (conditionally when ``if_none_exist`` is given); returns its fullUrl."""
        url = self.ref(key)
        request: dict[str, Any] = {"method": "POST", "url": resource["resourceType"]}
        if if_none_exist:
            request["ifNoneExist"] = if_none_exist
        self._add(url, resource, request)
        return url

    def create_identified(self, key: str, resource: dict[str, Any], system: str, value: str) -> str:
        """Create with a source identifier and match on it, the usual adapter write."""
        resource.setdefault("identifier", []).insert(0, {"system": system, "value": value})
        return self.create(key, resource, if_none_exist=identifier_criteria(system, value))

    def put(self, key: str, resource: dict[str, Any], *, if_match: str | None = None) -> str:
        url = self.ref(key)
        request: dict[str, Any] = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        if if_match:
            request["ifMatch"] = if_match
        self._add(url, resource, request)
        return url

    def put_conditional(self, key: str, resource: dict[str, Any], criteria: str) -> str:
        url = self.ref(key)
        self._add(url, resource, {"method": "PUT", "url": f"{resource['resourceType']}?{criteria}"})
        return url

    def remove(self, url: str) -> None:
        """Drop an entry (e.g. a placeholder folded into another resource)."""
        entry = self._index.pop(url, None)
        if entry is not None:
            self.entries.remove(entry)

    def _add(self, url: str, resource: dict[str, Any], request: dict[str, Any]) -> None:
        if url in self._index:
            raise DuplicateEntry(self._keys.get(url, url))
        entry = {"fullUrl": url, "resource": resource, "request": request}
        self._index[url] = entry
        self.entries.append(entry)

    def counts(self) -> Counter[str]:
        return Counter(e["resource"]["resourceType"] for e in self.entries)

    def bundle(self, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        entries = self.entries + list(extra or ())
        for entry in entries:
            claim_ukcore(entry["resource"])
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def claim_ukcore(resource: dict[str, Any]) -> None:
    """Adapters translate into UK Core: each resource claims its UK Core profile, so the write path
    (which checks every profile a resource claims) holds it to UK Core, as it does a REST client's."""
    url = ukcore_url(str(resource.get("resourceType")))
    if url is None:
        return
    meta = resource.setdefault("meta", {})
    profiles = meta.get("profile") or []
    if url not in profiles:
        meta["profile"] = [url, *profiles]
