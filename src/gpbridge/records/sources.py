"""Which source system said what: each record entry's source, from its import's Provenance.

Every adapter writes one Provenance per import, targeting everything it created, with the sending
system as the ``author`` agent. Entries with no Provenance (e.g. written through the REST API)
fall back to ``meta.source``, then to a name the caller knows (the source Patient's practice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Source:
    system: str  # the sending system as its Provenance names it, e.g. "EMIS Web (B86001)"
    provenance: str | None  # Provenance/<id> of the import, when there is one


def _author(provenance: dict[str, Any]) -> str:
    for agent in provenance.get("agent") or ():
        codes = {c.get("code") for c in (agent.get("type") or {}).get("coding") or ()}
        if "author" in codes:
            who = agent.get("who") or {}
            name = who.get("display") or "unknown source system"
            ods = (who.get("identifier") or {}).get("value")
            return f"{name} ({ods})" if ods and ods not in name else str(name)
    return "unknown source system"


def source_index(provenances: Iterable[dict[str, Any]]) -> dict[str, Source]:
    """``Type/id`` -> the Source of the import that created it (the earliest import wins)."""
    index: dict[str, Source] = {}
    for provenance in sorted(provenances, key=lambda p: p.get("recorded") or ""):
        source = Source(_author(provenance), f"Provenance/{provenance['id']}")
        for target in provenance.get("target") or ():
            reference = target.get("reference")
            if reference and reference not in index:
                index[reference] = source
    return index


def source_of(resource: dict[str, Any], index: dict[str, Source], fallback: str = "gpbridge") -> Source:
    """``fallback`` names the source when neither a Provenance nor ``meta.source`` does (e.g. the
    registered practice of the source Patient the entry belongs to)."""
    found = index.get(f"{resource.get('resourceType')}/{resource.get('id')}")
    if found is not None:
        return found
    meta_source = (resource.get("meta") or {}).get("source")
    return Source(str(meta_source) if meta_source else fallback, None)
