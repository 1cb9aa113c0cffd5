"""Operation inputs and outputs as FHIR ``Parameters``, the same for GET and POST.

GET carries primitives in the query string (and, as many servers accept, a Coding as
``system|code``); POST carries a Parameters resource whose entries may also be Coding,
CodeableConcept or whole resources (an inline ValueSet or ConceptMap). Both become one
``OperationInput`` so each operation is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpbridge.fhir.outcome import bad_request

FORMAT_PARAMETERS = frozenset({"_format", "_pretty", "_summary", "_elements"})


@dataclass
class OperationInput:
    values: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_query(cls, items: list[tuple[str, str]]) -> OperationInput:
        out = cls()
        for name, value in items:
            if name not in FORMAT_PARAMETERS:
                out.values.setdefault(name, []).append(value)
        return out

    @classmethod
    def from_parameters(cls, resource: dict[str, Any]) -> OperationInput:
        if resource.get("resourceType") != "Parameters":
            raise bad_request(f"the body must be a Parameters resource, not {resource.get('resourceType')!r}",
                              "resourceType")
        out = cls()
        for i, p in enumerate(resource.get("parameter") or ()):
            if not isinstance(p, dict) or not isinstance(p.get("name"), str):
                raise bad_request("every parameter needs a name", f"Parameters.parameter[{i}]")
            value: Any = p.get("resource")
            if value is None:
                value = next((v for k, v in p.items() if k.startswith("value")), None)
            if value is None and p.get("part"):
                value = {part.get("name"): next((v for k, v in part.items() if k.startswith("value")), None)
                         for part in p["part"] if isinstance(part, dict)}
            out.values.setdefault(p["name"], []).append(value)
        return out

    # -- typed access ------------------------------------------------------------------------------
    def text(self, name: str, required: bool = False) -> str | None:
        values = self.values.get(name) or []
        if not values or values[0] is None or values[0] == "":
            if required:
                raise bad_request(f"parameter '{name}' is required", name, code="required")
            return None
        if len(values) > 1:
            raise bad_request(f"parameter '{name}' may be given only once", name)
        value = values[0]
        if isinstance(value, dict | list):
            raise bad_request(f"parameter '{name}' must be a simple value", name)
        return str(value).lower() if isinstance(value, bool) else str(value)

    def texts(self, name: str) -> list[str]:
        return [str(v) for v in self.values.get(name) or () if v not in (None, "")]

    def integer(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise bad_request(f"parameter '{name}' must be an integer, not '{value}'", name) from None
        if number < 0:
            raise bad_request(f"parameter '{name}' must not be negative", name)
        return number

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise bad_request(f"parameter '{name}' must be true or false, not '{value}'", name)
        return value == "true"

    def coding(self, name: str) -> dict[str, Any] | None:
        values = self.values.get(name) or []
        if not values:
            return None
        value = values[0]
        if isinstance(value, dict):
            return value
        system, sep, code = str(value).rpartition("|")
        if not sep:
            raise bad_request(f"parameter '{name}' must be a Coding (in a GET: system|code)", name)
        return {"system": system, "code": code}

    def codeable_concept(self, name: str) -> dict[str, Any] | None:
        values = self.values.get(name) or []
        if not values:
            return None
        if not isinstance(values[0], dict):
            raise bad_request(f"parameter '{name}' must be a CodeableConcept (POST a Parameters resource)", name)
        return values[0]

    def resource(self, name: str, resource_type: str) -> dict[str, Any] | None:
        values = self.values.get(name) or []
        if not values:
            return None
        value = values[0]
        if not isinstance(value, dict) or value.get("resourceType") != resource_type:
            raise bad_request(f"parameter '{name}' must be a {resource_type} resource (POST a Parameters "
                              "resource with it in parameter.resource)", name)
        return value


# -- output -----------------------------------------------------------------------------------------
def parameters(*entries: dict[str, Any] | None) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [e for e in entries if e]}


def param(name: str, value: Any, kind: str | None = None) -> dict[str, Any] | None:
    """One ``Parameters.parameter``; None (dropped) when the value is None."""
    if value is None:
        return None
    if kind is None:
        kind = "Boolean" if isinstance(value, bool) else "Integer" if isinstance(value, int) else "String"
    return {"name": name, f"value{kind[0].upper()}{kind[1:]}": value}


def part(name: str, *parts: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": name, "part": [p for p in parts if p]}
