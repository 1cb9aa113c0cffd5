"""The profile registry: built-in definitions (spec/profiles.json) plus user IG packages.

Built-in: R4 core base types (invariants), core extension definitions and constraint profiles,
and UK Core, compiled by tools/compile_profiles.py. User packages are compiled by
``fhir.packages.install_package`` into a profile store directory (``<var_dir>/profiles``), one
JSON file per package; ``use_store(directory)`` loads them (the server calls it at startup, and
``validate_resource`` on first use with its settings). Loading bumps ``generation()`` so cached
checking plans are rebuilt.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson

from gpbridge.fhir import spec

Json = dict[str, Any]

CORE_BASE = "http://hl7.org/fhir/StructureDefinition/"
UKCORE_BASE = "https://fhir.hl7.org.uk/StructureDefinition/"
STORE_SUFFIX = ".profiles.json"

_user_profiles: dict[str, Json] = {}
_user_valuesets: dict[str, Json] = {}
_loaded_stores: set[str] = set()
_generation = [0]


@cache
def builtin() -> dict[str, Json]:
    return orjson.loads((Path(spec.__file__).parent / "profiles.json").read_bytes())  # type: ignore[no-any-return]


@cache
def builtin_valuesets() -> dict[str, Json]:
    return orjson.loads((Path(spec.__file__).parent / "valuesets_ukcore.json").read_bytes())  # type: ignore[no-any-return]


def strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def get(url: str) -> Json | None:
    """The compiled definition for a canonical URL (a ``|version`` suffix is ignored)."""
    url = strip_version(url)
    found = _user_profiles.get(url)
    return found if found is not None else builtin().get(url)


def base_url(type_name: str) -> str:
    return CORE_BASE + type_name


def ukcore_url(type_name: str) -> str | None:
    """The generic UK Core profile for a resource type, when UK Core has one."""
    url = UKCORE_BASE + "UKCore-" + type_name
    return url if get(url) is not None else None


def user_valueset(url: str) -> Json | None:
    return _user_valuesets.get(url)


def generation() -> int:
    """Changes whenever the set of definitions changes; plan caches key on it."""
    return _generation[0]


def invalidate() -> None:
    """Make every cached plan be rebuilt (something they were built from has changed)."""
    _generation[0] += 1


def use_store(directory: Path | str) -> int:
    """Load every package compiled into ``directory``; returns the number of definitions added.

    Called on every write with the settings' directory, so a directory already seen costs one set
    lookup (no filesystem access); ``reload_store`` picks up a new install.
    """
    key = str(directory)
    if key in _loaded_stores:
        return 0
    _loaded_stores.add(key)
    path = Path(directory)
    if not path.is_dir():
        return 0
    added = 0
    for file in sorted(path.glob("*" + STORE_SUFFIX)):
        package = orjson.loads(file.read_bytes())
        _user_profiles.update(package.get("profiles", {}))
        _user_valuesets.update(package.get("valuesets", {}))
        added += len(package.get("profiles", {}))
    _generation[0] += 1
    return added


def reload_store(directory: Path | str) -> int:
    """Forget what was loaded from ``directory`` and load it again (after an install)."""
    _loaded_stores.discard(str(directory))
    return use_store(directory)


def all_urls() -> list[str]:
    return sorted(set(builtin()) | set(_user_profiles))
