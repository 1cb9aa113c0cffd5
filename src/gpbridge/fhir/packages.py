"""Install a FHIR implementation guide package into the user profile store (``gpbridge ig install``).

A package is an NPM-style FHIR package: a folder or a ``.tgz`` holding ``package/package.json``
and one resource per file. Its StructureDefinitions (profiles and extension definitions, JSON; XML
too when lxml is installed) are compiled with the same compiler as the built-in UK Core profiles
(``fhir.profile_compiler``), resolving base profiles in the package or among those already known,
and written with the package's value set expansions to ``<store>/<name>#<version>.profiles.json``.
The server loads the store at startup (``fhir.profiles.use_store``), so profiles of an installed
package are validated like UK Core's: by ``meta.profile`` or the ``profile`` parameter of $validate.

Value sets are expanded when they enumerate their codes (``include.concept``) or include whole
code systems the package defines completely; others are stored as incomplete with the code
systems they draw on, and left to the terminology service.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gpbridge.fhir import profiles
from gpbridge.fhir.conformance import plan_for
from gpbridge.fhir.profile_compiler import compile_definitions, strip_version

Json = dict[str, Any]


class PackageError(ValueError):
    """The path is not a FHIR package this installer can read; the message says why."""


@dataclass
class InstallSummary:
    package: str
    version: str
    store_file: str = ""
    profiles: int = 0
    extensions: int = 0
    valuesets: int = 0
    valuesets_incomplete: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A few lines for the CLI: what was installed, and what could not be checked."""
        lines = [
            f"Installed {self.package}#{self.version} into {self.store_file}",
            f"  {self.profiles} profiles, {self.extensions} extension definitions, "
            f"{self.valuesets} value sets ({self.valuesets_incomplete} left to the terminology service)",
        ]
        if self.skipped:
            shown = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items()))
            lines.append(f"  not used by the validator: {shown}")
        if self.notes:
            lines.append(f"  {len(self.notes)} notes:")
            lines.extend(f"    - {note}" for note in self.notes[:50])
            if len(self.notes) > 50:
                lines.append(f"    ... and {len(self.notes) - 50} more")
        return "\n".join(lines)


def install_package(path: Path | str, store: Path | str) -> InstallSummary:
    """Compile the package at ``path`` (folder or .tgz) into the profile store directory ``store``."""
    manifest, resources = read_package(Path(path))
    name = str(manifest.get("name") or Path(path).stem)
    version = str(manifest.get("version") or "0.0.0")
    summary = InstallSummary(name, version)
    by_type: dict[str, list[Json]] = {}
    for resource in resources:
        by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
    for kind, found in by_type.items():
        if kind not in ("StructureDefinition", "ValueSet", "CodeSystem"):
            summary.skipped[kind] = len(found)
    compiled = compile_definitions(by_type.get("StructureDefinition", []), known=profiles.get, notes=summary.notes)
    for definition in compiled.values():
        if definition.get("derivation") != "constraint":
            continue
        if definition["type"] == "Extension":
            summary.extensions += 1
        else:
            summary.profiles += 1
    valuesets = expand_valuesets(by_type.get("ValueSet", []), by_type.get("CodeSystem", []))
    summary.valuesets = len(valuesets)
    summary.valuesets_incomplete = sum(1 for v in valuesets.values() if v.get("incomplete"))
    target = Path(store)
    target.mkdir(parents=True, exist_ok=True)
    out = target / f"{_safe(name)}#{_safe(version)}{profiles.STORE_SUFFIX}"
    payload = {"package": name, "version": version, "profiles": compiled, "valuesets": valuesets}
    out.write_bytes(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
    summary.store_file = str(out)
    profiles.reload_store(target)
    for url, definition in sorted(compiled.items()):
        if definition.get("derivation") == "constraint":
            plan = plan_for(url)
            if plan is not None:
                summary.notes.extend(f"{plan.name}: {note}" for note in plan.notes)
    return summary


def ig_install_command(path: Path | str, settings: Any) -> str:
    """What ``gpbridge ig install PATH`` does: install into ``<var_dir>/profiles`` and describe it."""
    store = Path(settings.var_dir) / "profiles"
    return install_package(path, store).describe()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


# ---------------------------------------------------------------------------------------------- reading


def read_package(path: Path) -> tuple[Json, list[Json]]:
    """(package.json, resources) from a package folder or .tgz."""
    if not path.exists():
        raise PackageError(f"{path} does not exist")
    if path.is_dir():
        files = list(_folder_files(path))
    elif tarfile.is_tarfile(path):
        files = list(_tar_files(path))
    else:
        raise PackageError(f"{path} is neither a package folder nor a .tgz package")
    manifest: Json = {}
    resources: list[Json] = []
    for name, data in files:
        base = name.rsplit("/", 1)[-1]
        if base == "package.json":
            manifest = _json(name, data)
        elif base.endswith(".json") and not base.startswith(".") and base != ".index.json":
            document = _json(name, data)
            if isinstance(document, dict) and "resourceType" in document:
                resources.append(document)
        elif base.endswith(".xml"):
            resources.append(_xml(name, data))
    if not manifest and not resources:
        raise PackageError(f"{path} holds no package.json and no FHIR resources")
    return manifest, resources


def _folder_files(folder: Path) -> Iterator[tuple[str, bytes]]:
    root = folder / "package" if (folder / "package").is_dir() else folder
    for file in sorted(root.rglob("*")):
        if file.is_file() and "example" not in file.relative_to(root).parts[:1]:
            yield str(file.relative_to(root)), file.read_bytes()


def _tar_files(path: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path, "r:*") as archive:
        for member in archive.getmembers():
            # Only regular files under package/ (examples and other folders are not definitions).
            if not member.isfile() or not member.name.startswith("package/") or "/example/" in member.name:
                continue
            handle = archive.extractfile(member)
            if handle is not None:
                yield member.name[len("package/") :], handle.read()


def _json(name: str, data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PackageError(f"{name} is not valid JSON: {exc}") from None


def _xml(name: str, data: bytes) -> Json:
    try:
        from gpbridge.fhir.fhir_xml import FhirXmlError, parse_resource
    except ImportError:  # lxml is optional at runtime
        raise PackageError(f"{name}: XML resources need lxml installed") from None
    try:
        return parse_resource(io.BytesIO(data).read())
    except FhirXmlError as exc:
        raise PackageError(f"{name}: {exc}") from None


# ---------------------------------------------------------------------------------------------- value sets


def expand_valuesets(valuesets: list[Json], codesystems: list[Json]) -> dict[str, Json]:
    """Expansions in the shape of spec/valuesets.json: {url: {system: [codes]}} or incomplete."""
    systems = {cs["url"]: cs for cs in codesystems if cs.get("url")}
    by_url = {strip_version(vs["url"]): vs for vs in valuesets if vs.get("url")}
    out: dict[str, Json] = {}
    for url in sorted(by_url):
        codes = _expand(url, by_url, systems, ())
        out[url] = (
            {system: sorted(found) for system, found in sorted(codes.items())}
            if codes is not None
            else _incomplete(by_url[url])
        )
    return out


def _expand(
    url: str, valuesets: dict[str, Json], systems: dict[str, Json], stack: tuple[str, ...]
) -> dict[str, set[str]] | None:
    vs = valuesets.get(url)
    if vs is None or url in stack or "compose" not in vs:
        return None
    result: dict[str, set[str]] = {}
    for inc in vs["compose"].get("include", ()):
        if inc.get("valueSet") or inc.get("filter"):
            return None  # intensional: the terminology service's job
        system = inc.get("system")
        if not system:
            return None
        if "concept" in inc:
            codes = {c["code"] for c in inc["concept"]}
        else:
            cs = systems.get(system)
            if cs is None or cs.get("content") != "complete":
                return None
            codes = set(_all_codes(cs.get("concept", ())))
        result.setdefault(system, set()).update(codes)
    for exc in vs["compose"].get("exclude", ()):
        for c in exc.get("concept", ()):
            result.get(exc.get("system", ""), set()).discard(c["code"])
    return result


def _all_codes(concepts: Any) -> Iterator[str]:
    for c in concepts:
        yield c["code"]
        yield from _all_codes(c.get("concept", ()))


def _incomplete(vs: Json) -> Json:
    found = sorted({inc["system"] for inc in vs.get("compose", {}).get("include", ()) if inc.get("system")})
    has_nested = any(inc.get("valueSet") for inc in vs.get("compose", {}).get("include", ()))
    return {"incomplete": True, "systems": found} if found and not has_nested else {"incomplete": True}
