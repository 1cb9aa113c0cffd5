"""State of one validation: the issues found so far and the FHIRPath environment.

Walks append to ``Run.issues`` directly (no return values to merge), so a deep walk costs nothing
extra when everything is valid. ``enter_resource``/``leave_resource`` track the resource being
walked (for %resource and for the element paths extension contexts are written against), since
contained resources and Bundle entries are validated in place.
"""

from __future__ import annotations

import re
from typing import Any

from gpbridge.fhir.element_path import Path, render
from gpbridge.fhir.fhirpath_py import Env
from gpbridge.fhir.outcome import Issue

_INDEX = re.compile(r"\[\d+\]")

__all__ = ["Path", "Run", "render"]


class Run:
    __slots__ = ("issues", "structure", "best_practice", "env", "root", "plain", "_frames", "_bundle_types")

    def __init__(self, root: dict[str, Any], best_practice: bool) -> None:
        self.issues: list[Issue] = []
        # Structural issues, when the walk checks structure too (``validate``): reported first.
        self.structure: list[Issue] = []
        self.best_practice = best_practice
        self.root = root
        self.env = Env(root, root)
        self.plain: bool | None = None  # no extension anywhere in root (set by core_checks)
        # (expression prefix of the current resource, its type, its Env)
        self._frames: list[tuple[int, str, Env]] = []
        self._bundle_types: dict[str, str] | None = None

    def add(self, severity: str, code: str, diagnostics: str, expression: Path) -> None:
        text = render(expression) if type(expression) is tuple else expression
        self.issues.append(Issue(severity, code, diagnostics, (text,) if text else ()))

    def enter_resource(self, resource: dict[str, Any], path: str, contained: bool = False) -> None:
        """Start walking ``resource`` found at ``path`` (its own type name when it is the root).

        %resource becomes this resource; %rootResource stays the container for a contained
        resource and is the resource itself otherwise (a Bundle entry is its own root).
        """
        self._frames.append((len(path), str(resource.get("resourceType", "")), self.env))
        self.env = Env(resource, self.env.root if contained else resource)

    def leave_resource(self) -> None:
        self.env = self._frames.pop()[2]

    def element_path(self, expression: str) -> str:
        """``Bundle.entry[0].resource.identifier[1]`` -> ``Patient.identifier`` (resource-relative)."""
        if not self._frames:
            return _INDEX.sub("", expression)
        prefix, rtype, _ = self._frames[-1]
        return rtype + _INDEX.sub("", expression[prefix:])

    def bundle_types(self) -> dict[str, str]:
        """fullUrl -> resource type of the entries of the Bundle being validated (for urn:uuid refs)."""
        if self._bundle_types is None:
            found: dict[str, str] = {}
            if self.root.get("resourceType") == "Bundle":
                for entry in self.root.get("entry", ()):
                    if type(entry) is dict and type(entry.get("resource")) is dict and entry.get("fullUrl"):
                        found[str(entry["fullUrl"])] = str(entry["resource"].get("resourceType"))
            self._bundle_types = found
        return self._bundle_types

    def contained_type(self, local_id: str) -> str | None:
        """The type of ``#id`` among the contained resources of the current resource."""
        resource = self.env.resource
        for item in resource.get("contained", ()) if type(resource) is dict else ():
            if type(item) is dict and item.get("id") == local_id:
                return str(item.get("resourceType"))
        return None
