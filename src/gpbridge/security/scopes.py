"""SMART on FHIR scopes: ``<context>/<Type|*>.<permission>``, enforced per interaction and type.

v1 permissions (``read``, ``write``, ``*``) and v2 letters (``cruds``) are both understood. The
context must match the kind of caller: a patient token's ``user/`` scope grants nothing, so a
token minted for one audience cannot be replayed as another.
"""

from __future__ import annotations

from functools import lru_cache

# Which SMART v2 letter each FHIR interaction needs.
_LETTER = {
    "read": "r",
    "vread": "r",
    "history": "r",
    "operation": "r",
    "search": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "transaction": "c",  # entries are checked one by one; the envelope needs some write right
}
_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}
_CONTEXT = {"user": "user", "system": "system", "patient": "patient", "proxy": "patient"}


@lru_cache(maxsize=4096)
def _parse(scope: str) -> tuple[str, str, frozenset[str]] | None:
    context, _, rest = scope.partition("/")
    type_, dot, perm = rest.rpartition(".")
    if not dot or not type_ or context not in ("user", "system", "patient"):
        return None  # openid, launch, offline_access ...: not resource scopes
    letters = _V1.get(perm)
    if letters is None:
        perm = perm.split("?", 1)[0]  # v2 query suffixes narrow further; we do not honour them
        if not perm or set(perm) - set("cruds"):
            return None
        letters = frozenset(perm)
    return context, type_, letters


def permits(scopes: tuple[str, ...], kind: str, interaction: str, resource_type: str | None) -> bool:
    """True when one of ``scopes`` grants ``interaction`` on ``resource_type`` for this caller kind."""
    letter = _LETTER.get(interaction)
    context = _CONTEXT.get(kind)
    if letter is None or context is None:
        return False
    for scope in scopes:
        parsed = _parse(scope)
        if parsed is None:
            continue
        ctx, type_, letters = parsed
        if ctx == context and letter in letters and (type_ == "*" or type_ == resource_type):
            return True
    return False
