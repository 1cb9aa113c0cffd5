"""The CapabilityStatement, generated from what is really there: the resource types and search
parameters of the spec registry, the interactions the route modules declare, and the
``$operations`` the app's routes answer (each defined by its endpoint's module). Nothing is listed
by hand.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from gpbridge import __version__
from gpbridge.api import audit
from gpbridge.api.context import FHIR_PREFIX
from gpbridge.api.routes import history, instance, system
from gpbridge.api.routes import type as type_routes
from gpbridge.fhir import spec
from gpbridge.search.params import UNSUPPORTED_PARAMETERS

TYPE_INTERACTIONS = (
    *instance.TYPE_INTERACTIONS,
    *type_routes.TYPE_INTERACTIONS,
    *history.TYPE_INTERACTIONS,
)
SYSTEM_INTERACTIONS = (*system.SYSTEM_INTERACTIONS, *history.SYSTEM_INTERACTIONS)
CORE = "http://hl7.org/fhir/StructureDefinition/"
# Types with route modules of their own, not the store's generic routes: each module declares its
# ``TYPE_INTERACTIONS`` and ``SEARCH_PARAMETERS``; nothing conditional, versioned or includable is
# offered for them.
OWN_ROUTES = {audit.AUDIT: audit}


def capability_statement(base: str) -> dict[str, Any]:
    types = sorted(spec.resource_types())
    revincludes = _revincludes(types)
    operations = list(_operations())
    rest: dict[str, Any] = {
        "mode": "server",
        "resource": [_resource(t, revincludes.get(t, []), operations) for t in types],
        "interaction": [{"code": c} for c in SYSTEM_INTERACTIONS],
        "searchParam": _search_params("Resource"),
    }
    system_ops = [_operation_entry(op) for op in operations if op.get("system")]
    if system_ops:
        rest["operation"] = system_ops
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": "gpbridge",
        "kind": "instance",
        "software": {"name": "gpbridge", "version": __version__},
        "implementation": {"description": "gpbridge FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [rest],
    }


def _resource(type_: str, revincludes: list[str], operations: list[dict[str, Any]]) -> dict[str, Any]:
    params = _search_params(type_)
    own = OWN_ROUTES.get(type_)
    entry: dict[str, Any] = {"type": type_, "profile": CORE + type_}
    if own is not None:
        entry |= {
            "interaction": [{"code": c} for c in own.TYPE_INTERACTIONS],
            "versioning": "no-version",
            "readHistory": False,
            "updateCreate": False,
            "conditionalCreate": False,
            "conditionalRead": "not-supported",
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
        }
    else:
        entry |= {
            "interaction": [{"code": c} for c in TYPE_INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-match",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "referencePolicy": ["literal"],
            "searchInclude": [f"{type_}:{p['name']}" for p in params if p["type"] == "reference"],
            "searchRevInclude": revincludes,
        }
    entry["searchParam"] = params
    ops = [_operation_entry(op) for op in operations if type_ in op.get("types", ())]
    if ops:
        entry["operation"] = ops
    return entry


def _search_params(type_: str) -> list[dict[str, Any]]:
    own = OWN_ROUTES.get(type_)
    if own is not None:
        return _own_search_params(type_, own.SEARCH_PARAMETERS)
    out = []
    for code, definition in sorted(spec.search_parameters_for(type_).items()):
        if code in UNSUPPORTED_PARAMETERS or definition.get("type") == "special":
            continue
        param = {"name": code, "type": definition["type"]}
        if definition.get("url"):
            param["definition"] = definition["url"]
        out.append(param)
    return out


def _own_search_params(type_: str, declared: dict[str, str]) -> list[dict[str, Any]]:
    """What a route module of its own understands; the R4 definition where the name is R4's."""
    known = spec.search_parameters_for(type_)
    out = []
    for code, kind in sorted(declared.items()):
        param = {"name": code, "type": kind}
        if (known.get(code) or {}).get("url"):
            param["definition"] = known[code]["url"]
        out.append(param)
    return out


def _revincludes(types: list[str]) -> dict[str, list[str]]:
    """For each type, the ``Source:param`` references that can point at it."""
    out: dict[str, list[str]] = {}
    for source in types:
        if source in OWN_ROUTES:  # not in the store that _revinclude searches
            continue
        for code, definition in spec.search_parameters_for(source).items():
            if definition.get("type") != "reference":
                continue
            for target in definition.get("targets") or ():
                out.setdefault(target, []).append(f"{source}:{code}")
    return out


def _operations() -> list[dict[str, Any]]:
    """Every ``$operation`` a FHIR route answers, with the types it is routed for.

    Generated from the routing, so an operation cannot be served and go unlisted (``$match`` once
    was): a path ``[type]/$name`` or ``[type]/[id]/$name`` (``{type}``: every type) or ``$name``
    (system level). The name and canonical come from the ``OPERATION`` / ``OPERATIONS`` declarations
    of the endpoint's module (see ``api.operations``); a routed operation without one is an error.
    """
    from gpbridge.api.app import routes  # the app imports this module's users

    found: dict[tuple[str, str], dict[str, Any]] = {}
    for route in routes():
        path = getattr(route, "path", "")
        if "/$" not in path:
            continue
        parts = path.removeprefix(FHIR_PREFIX).strip("/").split("/")
        name = parts[-1].removeprefix("$")
        types = None if len(parts) == 1 else spec.resource_types() if parts[0] == "{type}" else [parts[0]]
        declared = _declared(route.endpoint, name, types, path)
        entry = found.setdefault((name, declared["definition"]), {**declared, "types": set(), "system": False})
        if types is None:
            entry["system"] = True
        else:
            entry["types"].update(types)
    return list(found.values())


def _declared(endpoint: Any, name: str, types: Any, path: str) -> dict[str, Any]:
    module = sys.modules[endpoint.__module__]
    declarations = [getattr(module, "OPERATION", None), *getattr(module, "OPERATIONS", [])]
    for d in declarations:
        if isinstance(d, dict) and d.get("name") == name:
            if d.get("system") if types is None else set(types) & set(d.get("types", ())):
                return d
    raise LookupError(f"{path} is routed but {module.__name__} declares no OPERATION for ${name} there")


def _operation_entry(op: dict[str, Any]) -> dict[str, Any]:
    return {"name": op["name"], "definition": op["definition"]}
