"""The FHIR validator: every issue in a resource, from the definitions (no hand-written rules).

``validate(resource, profiles=None, mode="create")`` returns every ``Issue`` (severity, IssueType
code, plain-English diagnostics, FHIRPath expression):

1. structure (``fhir.structure``): unknown elements, cardinality, JSON types, primitive formats,
   choice types, ele-1 (reported first);
2. base checks (``fhir.core_checks``): required bindings, invariants, datatype profiles, reference
   targets, extension definitions and contexts, NHS numbers, nested resources;
3. profiles (``fhir.conformance``): every ``meta.profile`` the resource claims plus ``profiles``.

Steps 1 and 2 are one walk (``core_checks.walk_resource(structure=True)``): each object is
visited once, its structure checked beside its content.

``validate_resource(resource, settings)`` is the write-path hook ``store.interactions`` looks for:
it runs steps 2-3 (the write path has already run the structure check), adds the UK Core profile
for types the settings require it for, and leaves out information-level and best-practice notes.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from gpbridge.fhir import profiles as registry
from gpbridge.fhir.core_checks import walk_resource
from gpbridge.fhir.outcome import Issue, error
from gpbridge.fhir.structure import resource_type_at
from gpbridge.fhir.validation_run import Run

MODES = ("create", "update", "delete")


def validate(
    resource: Any,
    *,
    profiles: list[str] | None = None,
    mode: str = "create",
    best_practice: bool = True,
) -> list[Issue]:
    """Every issue in ``resource``; no issue at error level means it is valid.

    ``profiles``: canonical URLs to check besides those in ``meta.profile`` (unknown ones give a
    warning). ``mode``: create (an id is allowed but not needed), update (an id is required) or
    delete (nothing about the content is checked). ``best_practice``: include best-practice
    invariants such as dom-6 (narrative) as warnings.
    """
    if mode not in MODES:
        return [error("invalid", f"Unknown validation mode {mode!r}; use create, update or delete")]
    if mode == "delete":
        return []
    issues: list[Issue] = []
    rtype = resource_type_at(resource, None, "", issues)
    if rtype is None:
        return issues
    # Structure and content in one walk: every object is visited once.
    run = Run(resource, best_practice)
    walk_resource(resource, rtype, run, extra_profiles=tuple(profiles or ()), structure=True)
    issues = run.structure
    if mode == "update" and "id" not in resource:
        issues.append(error("required", "A resource being updated must have an id", f"{rtype}.id"))
    issues.extend(run.issues)
    return issues


def validate_resource(resource: dict[str, Any], settings: Any) -> list[Issue]:
    """The write-path hook: base checks and profiles, without structure (already checked).

    Reads from ``settings`` (duck-typed, so fhir/ needs nothing of config): ``var_dir`` (user IG
    packages in ``<var_dir>/profiles``) and the optional ``validation_require_ukcore`` (comma-
    separated resource types, or ``*``, that are validated against their UK Core profile even when
    they do not claim it).
    """
    use_settings_store(settings)
    extra = tuple(required_profiles(settings, str(resource.get("resourceType"))))
    found = _content(resource, extra, best_practice=False)
    return [i for i in found if i.severity != "information"]


def validate_for_store(resource: dict[str, Any], settings: Any) -> tuple[list[Issue], list[Issue]]:
    """The write path's check in one walk: ``(structure issues, content issues)``.

    The store answers structural errors with 400 and content errors with 422, so it needs the two
    apart; ``check_resource`` followed by ``validate_resource`` gives the same lists in two walks.
    Content issues leave out information-level and best-practice notes, as ``validate_resource``.
    """
    use_settings_store(settings)
    rtype = str(resource.get("resourceType"))
    run = Run(resource, False)
    walk_resource(resource, rtype, run, extra_profiles=tuple(required_profiles(settings, rtype)), structure=True)
    return run.structure, [i for i in run.issues if i.severity != "information"]


def required_profiles(settings: Any, resource_type: str) -> list[str]:
    """The UK Core profile for ``resource_type`` when the settings require it, else nothing."""
    if not _requires_ukcore(settings, resource_type):
        return []
    url = registry.ukcore_url(resource_type)
    return [url] if url is not None else []


def use_settings_store(settings: Any) -> None:
    """Load the IG packages installed under ``<var_dir>/profiles`` (once per directory)."""
    var_dir = getattr(settings, "var_dir", None)
    if var_dir:  # this runs on every write: the joined path is looked up, not rebuilt
        directory = _profile_dirs.get(var_dir)
        if directory is None:
            directory = _profile_dirs[var_dir] = os.path.join(var_dir, "profiles")
        registry.use_store(directory)


_profile_dirs: dict[str, str] = {}  # var_dir -> its profiles directory


def _content(resource: dict[str, Any], extra: tuple[str, ...], best_practice: bool) -> list[Issue]:
    run = Run(resource, best_practice)
    walk_resource(resource, str(resource["resourceType"]), run, extra_profiles=extra)
    return run.issues


def _requires_ukcore(settings: Any, resource_type: str) -> bool:
    wanted = getattr(settings, "validation_require_ukcore", "")
    if not wanted:
        return False
    names = _type_names(str(wanted))
    return "*" in names or resource_type in names


@lru_cache(maxsize=16)
def _type_names(setting: str) -> frozenset[str]:
    """The setting's comma-separated types, split once (this runs on every write)."""
    return frozenset(n.strip() for n in setting.split(","))
