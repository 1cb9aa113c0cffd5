"""JSON Patch (RFC 6902) for ``interactions.patch``, with errors that never quote the record.

jsonpatch's own messages carry the document or its values (``member 'gender' not found in
{'resourceType': 'Patient', ...}``, ``'male' (<class 'str'>) is not equal to tested value ...``),
and an error's diagnostics reach the client, the logs and the audit's failure detail: patient data
must reach none of them. So operations are checked and applied one at a time, and a failure is
described here from the operation alone — its position, ``op``, JSON Pointer and what failed —
with the element it names as a FHIRPath expression. ``str(exc)`` of the library is never used.
"""

from __future__ import annotations

import re
from typing import Any

import jsonpatch
import jsonpointer

from gpbridge.fhir.outcome import FhirError, Issue, bad_request, error, unprocessable

_OPS = ("add", "remove", "replace", "move", "copy", "test")
_NEEDS_VALUE = frozenset({"add", "replace", "test"})
_NEEDS_FROM = frozenset({"move", "copy"})
_BAD_ESCAPE = re.compile(r"~(?![01])")
# What a failing operation may raise: a conflict, a failed test, or the pointer's own errors.
_FAILURES = (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError, IndexError,
             ValueError)  # fmt: skip


def apply_json_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    """``operations`` applied to ``document`` (in place). 400 for a malformed patch, naming every
    malformed operation; 422 for the first operation that cannot be applied (a failed ``test``)."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise bad_request("A JSON Patch document must be an array of operation objects")
    problems = [issue for index, op in enumerate(operations) if (issue := _malformed(index, op))]
    if problems:
        raise FhirError(400, problems)
    type_ = str(document.get("resourceType") or "Resource")
    result: Any = document
    for index, op in enumerate(operations):
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except jsonpatch.InvalidJsonPatch:
            raise bad_request(f"{_which(index, op)} cannot be used at that path") from None
        except _FAILURES:
            raise unprocessable([_failure(index, op, result, type_)]) from None
    if not isinstance(result, dict):
        raise unprocessable([error("processing", "JSON Patch result is not a resource")])
    return result


def _which(index: int, op: dict[str, Any]) -> str:
    return f"JSON Patch operation {index} ('{op['op']}' at '{op['path']}')"


def _malformed(index: int, op: dict[str, Any]) -> Issue | None:
    name = op.get("op")
    if name not in _OPS:
        return error("invalid", f"JSON Patch operation {index}: 'op' must be one of {', '.join(_OPS)}")
    members = ["path", "from"] if name in _NEEDS_FROM else ["path"]
    for member in members:
        pointer = op.get(member)
        if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")) or _BAD_ESCAPE.search(pointer):
            return error("invalid", f"JSON Patch operation {index} ('{name}'): '{member}' must be a JSON Pointer")
    if name in _NEEDS_VALUE and "value" not in op:
        return error("invalid", f"{_which(index, op)} has no 'value'")
    return None


def _failure(index: int, op: dict[str, Any], document: Any, type_: str) -> Issue:
    """Why ``op`` failed on ``document``, found by looking up its pointers: never by quoting values."""
    name, path = op["op"], op["path"]
    where = _fhirpath(type_, path)
    if name == "test":
        if not _exists(document, path):
            return error("processing", f"{_which(index, op)} failed: '{path}' does not exist", where)
        return error("processing", f"{_which(index, op)} failed: the value at '{path}' is not the tested value", where)
    if name in ("add", "move", "copy"):
        parent = path[: path.rfind("/")] if path else path
        if not _exists(document, parent):
            return error("processing", f"{_which(index, op)} cannot be applied: '{parent}' does not exist", where)
    if name in _NEEDS_FROM:
        source = op["from"]
        if path.startswith(source + "/"):
            return error("processing", f"{_which(index, op)} cannot move '{source}' into itself", where)
        if not _exists(document, source):
            return error("processing", f"{_which(index, op)} cannot be applied: '{source}' does not exist",
                         _fhirpath(type_, source))  # fmt: skip
    if name in ("remove", "replace") and not _exists(document, path):
        return error("processing", f"{_which(index, op)} cannot be applied: '{path}' does not exist", where)
    return error("processing", f"{_which(index, op)} cannot be applied there (e.g. an array index past the end)",
                 where)  # fmt: skip


def _exists(document: Any, pointer: str) -> bool:
    try:
        found = jsonpointer.JsonPointer(pointer).resolve(document)
    except (jsonpointer.JsonPointerException, KeyError, IndexError, TypeError):
        return False
    return not isinstance(found, jsonpointer.EndOfList)


def _fhirpath(type_: str, pointer: str) -> str:
    """``/name/0/given`` -> ``Patient.name[0].given``: the element, as every issue names it."""
    out = type_
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if part.isdigit():
            out += f"[{part}]"
        elif part != "-":
            out += f".{part}"
    return out
