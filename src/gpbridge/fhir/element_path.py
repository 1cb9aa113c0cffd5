"""Where an element is, built lazily: a walk descends by tuples and renders FHIRPath only for issues.

A ``Path`` is a rendered FHIRPath string (``Bundle.entry[0].resource``) or ``(parent, key, index)``
with ``index`` None for a single value. Building a tuple per step costs far less than formatting a
string per step, and most elements never need their path rendered.
"""

from __future__ import annotations

from typing import Any, TypeAlias

# The parent is a Path too; spelled Any because mypyc (setup.py) recurses forever on a recursive alias.
Path: TypeAlias = str | tuple[Any, str, int | None]


def render(path: Path) -> str:
    """``(("Patient", "name", 0), "given", 1)`` -> ``Patient.name[0].given[1]``; a primitive's
    extensions and id (``_given[1].extension[0]``) render as the primitive's own (``given[1].extension[0]``)."""
    parts: list[str] = []
    child = ""
    while type(path) is tuple:
        parent, key, index = path
        # JSON's "_status" holds status's id and extensions, which FHIRPath calls status.extension;
        # an issue with the "_status" object itself (a stray key, a misaligned array) keeps its JSON name.
        if key[:1] == "_" and (child == "extension" or child == "id"):
            key = key[1:]
        child = key
        parts.append(f".{key}" if index is None else f".{key}[{index}]")
        path = parent
    return str(path) + "".join(reversed(parts))
