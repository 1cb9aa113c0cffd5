"""``Terminology``: the in-process terminology service the API, the validator and adapters share.

One instance per store (``terminology_for(store)``). Hot answers — concept lookups, compiled
value sets, translations — sit in LRU caches; every few seconds one cheap query reads the load
generation (``tx_state``), and a change (a ``gpbridge terminology load`` in any process) clears
them, so a long-running server never serves a previous release for long.

Errors: lookups and subsumption raise ``FhirError`` (``TerminologyUnavailable`` when the system
or value set is unknown). ``validate_code`` never raises for unknown things: it answers
``known=False`` so a validator can warn instead of rejecting.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from gpbridge.fhir.outcome import FhirError, bad_request
from gpbridge.terminology import systems as sx
from gpbridge.terminology.codeset import AnyOf, Codes, CodeSet, contains, set_sql
from gpbridge.terminology.db import TerminologyStore
from gpbridge.terminology.errors import (
    not_loaded,
    unknown_code,
    unknown_concept_map,
    unknown_system,
    wrong_version,
)
from gpbridge.terminology.expand import MAX_UNPAGED, expand_page
from gpbridge.terminology.results import (
    CodeValidation,
    Concept,
    Designation,
    Expansion,
    LookupResult,
    MapResult,
    Property,
    TerminologyUnavailable,
)
from gpbridge.terminology.valueset import CompiledValueSet, ValueSetCompiler

MATCHING = {"equivalent", "equal", "wider", "subsumes", "narrower", "specializes", "inexact", "relatedto"}
_EDGE_NAMES = {"vtm": "VTM", "vmp": "VMP"}


@dataclass(frozen=True, slots=True)
class SystemInfo:
    sid: int
    url: str
    name: str | None
    version: str | None
    content: str


class Terminology:
    def __init__(self, store: Any, *, cache_size: int = 65_536, recheck_seconds: float = 2.0) -> None:
        self.store = store
        self.ts = TerminologyStore(store)
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._checked_at = float("-inf")
        self._systems: dict[str, SystemInfo | None] = {}
        self._uncompilable: dict[str, Exception] = {}  # value set URLs that could not be compiled
        self._lookup = lru_cache(maxsize=cache_size)(self._lookup_uncached)
        self._concept = lru_cache(maxsize=cache_size)(self._concept_uncached)
        self._compiled = lru_cache(maxsize=512)(self._compile_url_uncached)
        self._compiled_inline = lru_cache(maxsize=512)(self._compile_inline_uncached)
        self._translate = lru_cache(maxsize=cache_size)(self._translate_uncached)
        self._validate_url = lru_cache(maxsize=cache_size)(self._validate_url_uncached)

    # -- freshness -------------------------------------------------------------------------------
    def _fresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.recheck_seconds:
            return
        with self._lock:
            if now - self._checked_at < self.recheck_seconds:
                return
            generation = self.ts.generation()
            if generation != self._generation:
                self._clear()
                self._generation = generation
            self._checked_at = now

    def clear_cache(self) -> None:
        """Forget everything cached (a load in this process calls it through ``refresh``)."""
        with self._lock:
            self._clear()
            self._checked_at = float("-inf")

    def _clear(self) -> None:
        self._systems.clear()
        self._uncompilable.clear()
        self.ts.forget()
        for cached in (self._lookup, self._concept, self._compiled, self._compiled_inline, self._translate,
                       self._validate_url):
            cached.cache_clear()

    # -- systems ---------------------------------------------------------------------------------
    def _system(self, cur: Any, url: str) -> SystemInfo | None:
        if url in self._systems:
            return self._systems[url]
        cur.execute(self.ts.sql("SELECT sid, name, version, content FROM tx_system WHERE url = ?"), (url,))
        row = cur.fetchone()
        info = SystemInfo(int(row[0]), url, row[1], row[2], row[3]) if row else None
        self._systems[url] = info
        return info

    def _loaded_system(self, cur: Any, url: str, version: str | None = None, *expression: str) -> SystemInfo:
        info = self._system(cur, url)
        if info is None:
            raise unknown_system(url, *expression)
        if info.content == "not-present":
            raise not_loaded(url, info.name)
        if version and info.version and not _version_matches(version, info.version):
            raise wrong_version(url, version, info.version)
        return info

    def knows_system(self, system: str) -> bool:
        """True when the concepts of ``system`` are loaded (so its codes can be checked)."""
        self._fresh()
        with self.ts.read() as cur:
            info = self._system(cur, system)
        return info is not None and info.content != "not-present"

    # -- $lookup ---------------------------------------------------------------------------------
    def lookup(self, system: str, code: str, version: str | None = None,
               properties: Sequence[str] | None = None) -> LookupResult:
        """Display, designations and properties (parent, child, inactive...) of one code."""
        self._fresh()
        result: LookupResult = self._lookup(system, code, version)
        if properties:
            wanted = set(properties)
            return LookupResult(result.concept, result.system_name, result.version,
                                result.designations if "designation" in wanted or not wanted else (),
                                tuple(p for p in result.properties if p.code in wanted))
        return result

    def _lookup_uncached(self, system: str, code: str, version: str | None) -> LookupResult:
        sql = self.ts.sql
        with self.ts.read() as cur:
            info = self._loaded_system(cur, system, version, "system")
            cur.execute(sql("SELECT display, active, module, effective, kind FROM tx_concept "
                            "WHERE sid = ? AND code = ?"), (info.sid, code))
            row = cur.fetchone()
            if row is None:
                raise unknown_code(system, code, "code")
            display, active, module, effective, kind = row
            cur.execute(sql("SELECT term, type, lang, preferred FROM tx_description "
                            "WHERE sid = ? AND code = ? AND active = 1"), (info.sid, code))
            terms = cur.fetchall()
            cur.execute(sql("SELECT parent, kind FROM tx_edge WHERE sid = ? AND child = ?"), (info.sid, code))
            parents = cur.fetchall()
            cur.execute(sql("SELECT child, kind FROM tx_edge WHERE sid = ? AND parent = ?"), (info.sid, code))
            children = cur.fetchall()
            cur.execute(sql("SELECT property, value, type FROM tx_property WHERE sid = ? AND code = ?"),
                        (info.sid, code))
            extra = cur.fetchall()
        seen: set[tuple[str, str]] = set()
        designations = []
        for term, use, lang, preferred in sorted(terms, key=lambda t: (-t[3], t[1] != "fsn", t[0])):
            if (term, use) not in seen:
                seen.add((term, use))
                designations.append(Designation(term, use, lang, preferred > 0))
        props: list[Property] = [Property("inactive", not active, "boolean")]
        if module:
            props.append(Property("moduleId", module, "code"))
        if effective:
            props.append(Property("effectiveTime", effective, "string"))
        if kind:
            props.append(Property("class", kind, "code"))
        for parent, edge in sorted(parents):
            props.append(Property("parent", parent, "code"))
            if edge in _EDGE_NAMES:
                props.append(Property(_EDGE_NAMES[edge], parent, "code"))
        props.extend(Property("child", child, "code") for child, _ in sorted(children))
        props.extend(Property(name, _typed(value, kind_), kind_) for name, value, kind_ in extra)
        concept = Concept(system, code, display, bool(active), kind)
        return LookupResult(concept, info.name, info.version, tuple(designations), tuple(props))

    def concept(self, system: str, code: str) -> Concept | None:
        """The concept, or None when the system or the code is unknown (never raises for those)."""
        self._fresh()
        return self._concept(system, code)

    def _concept_uncached(self, system: str, code: str) -> Concept | None:
        with self.ts.read() as cur:
            info = self._system(cur, system)
            if info is None:
                return None
            cur.execute(self.ts.sql("SELECT display, active, kind FROM tx_concept WHERE sid = ? AND code = ?"),
                        (info.sid, code))
            row = cur.fetchone()
        return Concept(system, code, row[0], bool(row[1]), row[2]) if row else None

    # -- $subsumes -------------------------------------------------------------------------------
    def subsumes(self, system: str, code_a: str, code_b: str, version: str | None = None) -> str:
        """equivalent | subsumes (A is an ancestor of B) | subsumed-by | not-subsumed."""
        self._fresh()
        sql = self.ts.sql
        with self.ts.read() as cur:
            info = self._loaded_system(cur, system, version, "system")
            for code, name in ((code_a, "codeA"), (code_b, "codeB")):
                cur.execute(sql("SELECT 1 FROM tx_concept WHERE sid = ? AND code = ?"), (info.sid, code))
                if cur.fetchone() is None:
                    raise unknown_code(system, code, name)
            if code_a == code_b:
                return "equivalent"
            probe = sql("SELECT 1 FROM tx_closure WHERE sid = ? AND ancestor = ? AND descendant = ?")
            cur.execute(probe, (info.sid, code_a, code_b))
            if cur.fetchone() is not None:
                return "subsumes"
            cur.execute(probe, (info.sid, code_b, code_a))
            if cur.fetchone() is not None:
                return "subsumed-by"
        return "not-subsumed"

    def descendants(self, system: str, code: str, include_self: bool = True) -> list[str]:
        """Every code that is a kind of ``code`` (adapters use it to classify coded entries)."""
        self._fresh()
        with self.ts.read() as cur:
            info = self._loaded_system(cur, system)
            query = "SELECT descendant FROM tx_closure WHERE sid = ? AND ancestor = ?"
            params: list[Any] = [info.sid, code]
            if not include_self:
                query += " AND descendant <> ?"
                params.append(code)
            cur.execute(self.ts.sql(query), params)
            return [row[0] for row in cur.fetchall()]

    # -- value sets -------------------------------------------------------------------------------
    def compile_value_set(self, url: str | None = None, value_set: dict[str, Any] | None = None) -> CompiledValueSet:
        """A value set (by canonical URL, optionally ``url|version``, or inline) as a code set."""
        self._fresh()
        if value_set is not None:
            # keyed by content: the validator passes the same UK Core ValueSet for every resource
            return self._compiled_inline(orjson.dumps(value_set, option=orjson.OPT_SORT_KEYS))
        if not url:
            raise bad_request("a value set is needed: give url or valueSet", "url")
        failed = self._uncompilable.get(url)
        if failed is not None:  # remembered until the terminology changes: writes ask again and again
            # With a fresh traceback: re-raising the stored object would prepend this raise's frames
            # to the ones it already carries, and each frame keeps its callers (a whole request's
            # stack) alive — memory that grew with every write and that the collector kept walking.
            raise failed.with_traceback(None)
        try:
            return self._compiled(url)
        except (FhirError, TerminologyUnavailable) as exc:
            if len(self._uncompilable) < 4096:
                self._uncompilable[url] = exc
            raise

    def _compile_inline_uncached(self, raw: bytes) -> CompiledValueSet:
        return ValueSetCompiler(self._sid, self._resolve_value_set).compile(orjson.loads(raw))

    def _compile_url_uncached(self, url: str) -> CompiledValueSet:
        return ValueSetCompiler(self._sid, self._resolve_value_set).compile_url(url)

    def _sid(self, url: str) -> int | None:
        if url in self._systems:
            info = self._systems[url]
        else:
            with self.ts.read() as cur:
                info = self._system(cur, url)
        return info.sid if info is not None else None

    def value_set(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        """The ValueSet resource with this canonical URL (terminology tables, the store, or the spec)."""
        self._fresh()
        return self._resolve_value_set(url, version)

    def _resolve_value_set(self, url: str, version: str | None) -> dict[str, Any] | None:
        found = self._tx_resource("ValueSet", url, version)
        if found is None:
            found = self._stored_resource("ValueSet", url, version)
        if found is None and version is None:
            found = _spec_value_set(url)
        return found

    def _tx_resource(self, kind: str, url: str, version: str | None) -> dict[str, Any] | None:
        query = "SELECT content FROM tx_resource WHERE type = ? AND url = ?"
        params: list[Any] = [kind, url]
        if version is not None:
            query += " AND version = ?"
            params.append(version)
        with self.ts.read() as cur:
            cur.execute(self.ts.sql(query + " ORDER BY version DESC LIMIT 1"), params)
            row = cur.fetchone()
        return orjson.loads(row[0]) if row else None

    def _stored_resource(self, kind: str, url: str, version: str | None) -> dict[str, Any] | None:
        """A ValueSet/ConceptMap PUT through the REST API: found by url like any search."""
        from gpbridge.search.parse import parse_search

        params = [("url", url)] + ([("version", version)] if version else []) + [("_count", "1")]
        try:
            result = self.store.search(parse_search(kind, params))
        except FhirError:
            return None
        for match in result.matches:
            if match.content:
                return orjson.loads(match.content)
        return None

    def expand(self, url: str | None = None, value_set: dict[str, Any] | None = None, *, filter: str | None = None,
               count: int | None = None, offset: int = 0, active_only: bool = False,
               include_designations: bool = False, limit: int = MAX_UNPAGED) -> Expansion:
        """One page of the expansion (``count`` None: all of it, up to ``limit`` codes)."""
        if (count is not None and count < 0) or offset < 0:
            raise bad_request("count and offset must not be negative", "count")
        compiled = self.compile_value_set(url, value_set)
        with self.ts.read() as cur:
            expansion = expand_page(self.ts, cur, compiled, text=filter, count=count, offset=offset,
                                    active_only=active_only, limit=limit)
        if value_set is not None:
            source = value_set
        elif compiled.url and sx.implicit_value_set(compiled.url) is None:
            source = self.value_set(compiled.url, compiled.version) or {}
        else:
            source = {}
        expansion.value_set = {k: source[k] for k in ("url", "version", "name", "title", "status") if k in source}
        if not expansion.value_set and url:
            expansion.value_set = {"url": url}
        if include_designations:
            for c in expansion.contains:
                try:
                    expansion.designations[(c.system, c.code)] = self.lookup(c.system, c.code).designations
                except FhirError:
                    continue
        return expansion

    def value_set_sql(self, url: str) -> tuple[str, list[Any]]:
        """``SELECT system, code`` of a value set, for search ``:in`` / ``:not-in`` (``?`` placeholders)."""
        return set_sql(self.compile_value_set(url).node, self.ts.dialect)

    # -- $validate-code ----------------------------------------------------------------------------
    def validate_code(self, code: str, system: str | None = None, display: str | None = None, *,
                      url: str | None = None, value_set: dict[str, Any] | None = None,
                      version: str | None = None, raise_unknown: bool = False) -> CodeValidation:
        """Is the code valid — in the code system, or (url / value_set given) in the value set?

        ``raise_unknown``: raise ``TerminologyUnavailable`` for an unknown system or value set (the
        ``$validate-code`` operation answers 404) instead of answering ``known=False``."""
        self._fresh()
        try:
            if url is not None and value_set is None and not raise_unknown:
                return self._validate_url(code, system, display, url)  # cached: every write asks
            if url is not None and value_set is None:
                return self._validate_in_value_set(code, system, display, url, None)
            if value_set is not None:
                return self._validate_in_value_set(code, system, display, url, value_set)
            if not system:
                return CodeValidation(False, "a system is needed to validate a code against a code system",
                                      known=False, code=code)
            return self._validate_in_system(code, system, display, version)
        except TerminologyUnavailable as exc:
            if raise_unknown:
                raise
            return _unavailable(exc, system, code)

    def _validate_in_system(self, code: str, system: str, display: str | None, version: str | None) -> CodeValidation:
        with self.ts.read() as cur:
            self._loaded_system(cur, system, version)
        concept = self.concept(system, code)
        if concept is None:
            return CodeValidation(False, f"code '{code}' is not in code system '{system}'", system=system, code=code)
        return self._check_display(concept, display, None)

    def _validate_url_uncached(self, code: str, system: str | None, display: str | None, url: str) -> CodeValidation:
        try:
            return self._validate_in_value_set(code, system, display, url, None)
        except TerminologyUnavailable as exc:  # cached too: the validator asks this for every write
            return _unavailable(exc, system, code)

    def _validate_in_value_set(self, code: str, system: str | None, display: str | None, url: str | None,
                               value_set: dict[str, Any] | None) -> CodeValidation:
        compiled = self.compile_value_set(url, value_set)
        label = url or (value_set or {}).get("url") or "the value set"
        if not system:
            systems = _systems_of(compiled.node)
            if len(systems) != 1:
                return CodeValidation(False, "a system is needed: the value set draws on "
                                      f"{len(systems)} code systems", code=code)
            system = systems.pop()
        with self.ts.read() as cur:
            member = contains(compiled.node, system, code, cur, self.ts.dialect)
        if not member:
            return CodeValidation(False, f"code '{system}|{code}' is not in value set '{label}'",
                                  system=system, code=code)
        concept = self.concept(system, code)
        if concept is None:  # listed by the value set, in a system not loaded here
            given = compiled.displays.get((system, code))
            return self._check_display(Concept(system, code, given), display, given)
        return self._check_display(concept, display, compiled.displays.get((system, code)))

    def _check_display(self, concept: Concept, display: str | None, vs_display: str | None) -> CodeValidation:
        recommended = vs_display or concept.display
        note = f"code '{concept.code}' is inactive" if not concept.active else None
        base = dict(display=recommended, system=concept.system, code=concept.code, code_ok=True,
                    inactive=not concept.active)
        if display is None:
            return CodeValidation(True, note, **base)  # type: ignore[arg-type]
        valid = {t.lower() for t in (concept.display, vs_display) if t}
        try:
            valid.update(d.value.lower() for d in self.lookup(concept.system, concept.code).designations)
        except FhirError:
            pass
        if display.strip().lower() in valid or not valid:
            return CodeValidation(True, note, **base)  # type: ignore[arg-type]
        message = (f"display '{display}' is not a valid display for code '{concept.code}' "
                   f"(recommended: '{recommended}')")
        return CodeValidation(False, message, **base)  # type: ignore[arg-type]

    # -- $translate --------------------------------------------------------------------------------
    def translate(self, code: str, system: str, target_system: str | None = None, *, url: str | None = None,
                  reverse: bool = False, target_value_set: str | None = None) -> list[MapResult]:
        """Maps of one code: Read v2 / CTV3 -> SNOMED CT from the NHS tables, or a loaded ConceptMap."""
        self._fresh()
        if url is not None and self._tx_resource("ConceptMap", url, None) is None:
            raise unknown_concept_map(url)
        matches: list[MapResult] = list(self._translate(code, system, target_system, url, reverse))  # a copy: cached
        if target_value_set:
            compiled = self.compile_value_set(target_value_set)
            with self.ts.read() as cur:
                matches = [m for m in matches if m.system and m.code
                           and contains(compiled.node, m.system, m.code, cur, self.ts.dialect)]
        return matches

    def _translate_uncached(self, code: str, system: str, target_system: str | None, url: str | None,
                            reverse: bool) -> list[MapResult]:
        term = None
        if system == sx.READ_V2 and len(code) == 7 and not reverse:
            code, term = code[:5], code[5:]  # Read v2 as GP systems send it: 5-char code + 2-char term
        here, there = ("target", "source") if reverse else ("source", "target")
        query = (f"SELECT map_url, {there}_system, {there}_code, {there}_term, source_term, equivalence, assured, "
                 f"comment FROM tx_map WHERE {here}_system = ? AND {here}_code = ?")
        params: list[Any] = [system, code]
        if url is not None:
            query += " AND map_url = ?"
            params.append(url)
        if target_system is not None:
            query += f" AND {there}_system = ?"
            params.append(target_system)
        with self.ts.read() as cur:
            cur.execute(self.ts.sql(query + " ORDER BY assured DESC, map_url"), params)
            rows = cur.fetchall()
            if term is not None and any(r[4] == term for r in rows):
                rows = [r for r in rows if r[4] == term]
            results: dict[tuple[Any, ...], MapResult] = {}
            for map_url, out_system, out_code, out_term, _source_term, equivalence, assured, comment in rows:
                if reverse and out_system == sx.READ_V2 and out_term and out_code:
                    out_code = out_code + out_term
                key = (out_system, out_code, equivalence)
                if key in results:
                    continue
                display = self._map_display(cur, out_system, out_code, None if reverse else out_term)
                results[key] = MapResult(equivalence, out_system or None, out_code, display, map_url,
                                         None if assured is None else bool(assured), comment)
        return list(results.values())

    def _map_display(self, cur: Any, system: str | None, code: str | None, description_id: str | None) -> str | None:
        if not system or not code:
            return None
        if description_id:
            cur.execute(self.ts.sql("SELECT term FROM tx_description WHERE did = ? LIMIT 1"), (description_id,))
            row = cur.fetchone()
            if row:
                return str(row[0])
        info = self._system(cur, system)  # this cursor, not a second one: see ValueSetCompiler
        if info is None:
            return None
        cur.execute(self.ts.sql("SELECT display FROM tx_concept WHERE sid = ? AND code = ?"), (info.sid, code))
        row = cur.fetchone()
        return row[0] if row else None


# -- helpers -----------------------------------------------------------------------------------------
_shared: weakref.WeakKeyDictionary[Any, Terminology] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def terminology_for(store: Any) -> Terminology:
    """The shared ``Terminology`` of a store (one cache per store, whoever asks)."""
    with _shared_lock:
        found = _shared.get(store)
        if found is None:
            found = _shared[store] = Terminology(store)
        return found


def expand_value_set_codes(store: Any, url: str) -> tuple[str, list[Any]]:
    """``SELECT system, code`` rows of value set ``url`` for search ``:in`` (``?`` placeholders).

    Raises FhirError (404 unknown value set, 422 not expandable) for the search to report.
    """
    return terminology_for(store).value_set_sql(url)


def _version_matches(asked: str, loaded: str) -> bool:
    return asked == loaded or loaded.startswith(asked) or loaded.endswith(asked)


def _typed(value: str, kind: str) -> Any:
    if kind == "boolean":
        return value == "true"
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _systems_of(node: CodeSet) -> set[str]:
    found: set[str] = set()

    def walk(n: CodeSet) -> None:
        if isinstance(n, Codes):
            if n.codes:
                found.add(n.system)
        elif isinstance(n, AnyOf) or hasattr(n, "parts"):
            for part in n.parts:  # type: ignore[union-attr]
                walk(part)
        elif hasattr(n, "left"):
            walk(n.left)  # type: ignore[union-attr]
        else:
            found.add(n.system)  # type: ignore[union-attr]

    walk(node)
    return found


def _spec_value_set(url: str) -> dict[str, Any] | None:
    """A required-binding value set of FHIR R4 core, from the compiled spec (codes only)."""
    from gpbridge.fhir import spec

    entry = spec.valuesets().get(url)
    if not entry or entry.get("incomplete"):
        return None
    include = [{"system": system, "concept": [{"code": c} for c in codes]}
               for system, codes in entry.items() if isinstance(codes, list)]
    return {"resourceType": "ValueSet", "url": url, "status": "active", "compose": {"include": include}}


def use_for_validation(store: Any) -> None:
    """Let the validator check bindings to value sets it cannot expand itself (SNOMED CT, dm+d)
    against this store's terminology. An undecidable code (system not loaded) stays a warning."""
    from gpbridge.fhir.bindings import register_code_validator

    tx = terminology_for(store)

    def check(url: str, system: str, code: str) -> bool | None:
        result = tx.validate_code(code, system, url=url)
        return result.code_ok if result.known else None

    register_code_validator(check)


def _unavailable(exc: TerminologyUnavailable, system: str | None, code: str) -> CodeValidation:
    """The answer when the service cannot decide: not an error, a warning for the validator."""
    return CodeValidation(False, exc.message, known=False, system=system, code=code)
