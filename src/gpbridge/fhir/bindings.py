"""Terminology bindings: is this code in the bound value set?

Value sets come from the compiled expansions: R4 core required bindings (spec/valuesets.json),
UK Core (spec/valuesets_ukcore.json) and installed IG packages. A value set that could not be
enumerated at compile time (SNOMED CT ECL, dm+d, UCUM...) is "incomplete": a code from a system
it does not draw on is still certainly outside it; otherwise the terminology service decides,
when one is registered with ``register_code_validator`` (the server wires
``gpbridge.terminology`` in; ``fhir`` imports nothing above it).

Outcome by strength: required -> error when the code is outside, warning when it cannot be
checked (an unknown code system is never a crash); extensible and preferred -> warning when the
code is outside a value set we can enumerate, nothing when we cannot; example -> nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpbridge.fhir import profiles, spec

# (value set url, system or None, code) -> True (in), False (not in), None (cannot tell)
CodeValidator = Callable[[str, str | None, str], bool | None]

_validator: list[CodeValidator | None] = [None]


def register_code_validator(validator: CodeValidator | None) -> None:
    """Let a terminology service answer for value sets the compiled expansions cannot enumerate.

    Plans are rebuilt afterwards: which bindings are worth checking depends on it.
    """
    _validator[0] = validator
    profiles.invalidate()


@dataclass(frozen=True, slots=True)
class ValueSet:
    url: str
    complete: bool
    pairs: frozenset[tuple[str, str]]
    codes: frozenset[str]
    systems: frozenset[str] | None  # None: not even the systems are known

    def contains(self, system: str | None, code: str) -> bool | None:
        if self.complete:
            return (system, code) in self.pairs if system is not None else code in self.codes
        if system is not None and self.systems is not None and system not in self.systems:
            return False
        validator = _validator[0]
        if validator is None:
            return None
        try:
            return validator(self.url, system, code)
        except Exception:  # noqa: BLE001 - a failing terminology service must not fail validation
            return None


_cache: dict[str, ValueSet | None] = {}
_cache_generation = [-1]


def valueset(url: str) -> ValueSet | None:
    if _cache_generation[0] != profiles.generation():
        _cache.clear()
        _cache_generation[0] = profiles.generation()
    if url not in _cache:
        _cache[url] = _load(url)
    return _cache[url]


def _load(url: str) -> ValueSet | None:
    raw = profiles.user_valueset(url)
    if raw is None:
        # The core expansion wins unless it is incomplete and the UK Core compile knows its systems.
        core, extra = spec.valuesets().get(url), profiles.builtin_valuesets().get(url)
        raw = core if core is not None and not core.get("incomplete") else (extra or core)
    if raw is None:
        return None
    if raw.get("incomplete"):
        systems = raw.get("systems")
        return ValueSet(url, False, frozenset(), frozenset(), frozenset(systems) if systems else None)
    pairs = frozenset((system, code) for system, codes in raw.items() for code in codes)
    return ValueSet(url, True, pairs, frozenset(code for _, code in pairs), frozenset(raw))


Problem = tuple[str, str]  # (severity, diagnostics)


def problems(value: Any, type_code: str, strength: str, url: str) -> list[Problem]:
    """What is wrong with ``value`` (of datatype ``type_code``) bound to ``url``; [] when fine.

    The caller adds the expression, so the common (valid) case builds no strings at all.
    """
    if strength not in ("required", "extensible", "preferred"):
        return []
    vs = valueset(url)
    if type_code == "CodeableConcept":
        return _concept(value, vs, strength, url)
    system, code = _system_code(value, type_code)
    if code is None:
        return []
    found = vs.contains(system, code) if vs is not None else None
    return _report(found, system, code, vs, strength, url)


def checkable(strength: str, url: str) -> bool:
    """Whether a binding can ever produce an issue (plans skip the ones that cannot)."""
    if strength == "required":
        return True
    if strength not in ("extensible", "preferred"):
        return False
    vs = valueset(url)
    return vs is not None and (vs.complete or vs.systems is not None or _validator[0] is not None)


def _system_code(value: Any, type_code: str) -> tuple[str | None, str | None]:
    if type(value) is str:
        return None, value
    if type(value) is dict and type_code in ("Coding", "Quantity"):
        code = value.get("code")
        return _text(value.get("system")), code if type(code) is str else None
    return None, None


def _text(value: Any) -> str | None:
    # A malformed system (a number, a list) is fhir.structure's finding; here it is just absent.
    return value if type(value) is str else None


def _concept(value: Any, vs: ValueSet | None, strength: str, url: str) -> list[Problem]:
    if type(value) is not dict:
        return []
    listed = value.get("coding")
    codings = [c for c in listed if type(c) is dict and type(c.get("code")) is str] if type(listed) is list else []
    if not codings:
        if strength == "required" and vs is not None:
            return [("error", f"No code provided, and a code from the required value set {url} is needed")]
        return []
    results = [vs.contains(_text(c.get("system")), c["code"]) if vs is not None else None for c in codings]
    if True in results:
        return []
    if None in results:
        first = codings[results.index(None)]
        return _report(None, _text(first.get("system")), first["code"], vs, strength, url)
    shown = ", ".join(_show(_text(c.get("system")), c["code"]) for c in codings)
    return [_outside(shown, strength, url, several=len(codings) > 1)]


def _report(
    found: bool | None, system: str | None, code: str, vs: ValueSet | None, strength: str, url: str
) -> list[Problem]:
    if found is True:
        return []
    if found is False:
        return [_outside(_show(system, code), strength, url, several=False)]
    if strength != "required":
        return []  # cannot tell, and the binding does not insist
    if vs is None:
        reason = f"the value set {url} is not known to this server"
    elif system is not None:
        reason = f"the code system {system} is not available on this server"
    else:
        reason = f"the value set {url} cannot be expanded on this server"
    return [("warning", f"The code {_show(system, code)} was not checked: {reason}")]


def _outside(shown: str, strength: str, url: str, several: bool) -> Problem:
    what = "None of the codes" if several else "The code"
    verb = "are" if several else "is"
    severity = "error" if strength == "required" else "warning"
    return severity, f"{what} {shown} {verb} not in the {strength} value set {url}"


def _show(system: str | None, code: str) -> str:
    return f"'{code}'" if system is None else f"'{code}' ({system})"
