"""Security labels on a resource (``meta.security`` / ``meta.tag``) and what they mean to us.

- Confidentiality R (restricted) or V (very restricted): on a Patient, a *sensitive patient*
  (demographics withheld, as PDS does); on any other resource, a *confidential item* kept within
  the registered practice.
- NOPAT (no disclosure to patient) and our own ``do-not-show`` / ``third-party`` flags: kept out of
  patient- and proxy-facing access.
"""

from __future__ import annotations

from typing import Any

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACCESS_FLAG = "https://gpbridge.dev/CodeSystem/access-flag"

_CONFIDENTIAL = {(CONFIDENTIALITY, "R"), (CONFIDENTIALITY, "V")}
_NOT_FOR_PATIENT = {(ACT_CODE, "NOPAT"), (ACCESS_FLAG, "do-not-show"), (ACCESS_FLAG, "third-party")}


def codes(resource: dict[str, Any]) -> frozenset[tuple[str, str]]:
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        return frozenset()
    found: set[tuple[str, str]] = set()
    for key in ("security", "tag"):
        for coding in meta.get(key) or ():
            if isinstance(coding, dict):
                found.add((str(coding.get("system", "")), str(coding.get("code", ""))))
    return frozenset(found)


def is_confidential(labels: frozenset[tuple[str, str]]) -> bool:
    return bool(labels & _CONFIDENTIAL)


def is_hidden_from_patient(labels: frozenset[tuple[str, str]]) -> bool:
    return bool(labels & _NOT_FOR_PATIENT) or is_confidential(labels)
