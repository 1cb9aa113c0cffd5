"""FHIR CodeSystem, ValueSet and ConceptMap resources (JSON) into the terminology tables.

A path may be one resource, a Bundle, NDJSON, or a folder of them (other resource types are
counted and skipped). Every resource is kept in ``tx_resource`` by canonical URL; a CodeSystem
whose content is complete, fragment or example also gets its concepts, designations, properties
and hierarchy (nested concepts and ``parent``/``child`` properties) into the concept tables, and
a ConceptMap its elements into ``tx_map`` for ``$translate``. A CodeSystem with ``content:
not-present`` (UK Core's SNOMED CT one, say) only registers the system: it never wipes concepts
an RF2 or dm+d load put there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from gpbridge.fhir.outcome import bad_request
from gpbridge.terminology.closure import rebuild_closure
from gpbridge.terminology.db import TerminologyStore
from gpbridge.terminology.files import Progress
from gpbridge.terminology.report import LoadReport

SOURCE = "fhir"
TERMINOLOGY_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
LOADED_CONTENT = ("complete", "fragment", "example")
EDGE_PROPERTIES = ("parent", "child")


def load_fhir_terminology(store: Any, path: str | Path, progress: Progress | None = None) -> LoadReport:
    """Load CodeSystem / ValueSet / ConceptMap JSON from ``path`` (file, Bundle, NDJSON or folder)."""
    return load_resources(store, read_resources(Path(path), progress))


def load_resources(store: Any, resources: Iterable[dict[str, Any]]) -> LoadReport:
    """Load resources already in memory (one transaction for all of them)."""
    report = LoadReport("FHIR terminology resources")
    ts = TerminologyStore(store)
    touched: set[int] = set()
    with ts.write() as cur:
        for resource in resources:
            kind = resource.get("resourceType")
            if kind not in TERMINOLOGY_TYPES:
                report.add("other resources (skipped)")
                continue
            url = resource.get("url")
            if not isinstance(url, str) or not url:
                report.notes.append(f"a {kind} without a url was skipped (id {resource.get('id')!r})")
                report.add(f"{kind}s without url (skipped)")
                continue
            _keep(ts, cur, kind, url, resource)
            report.add(f"{kind}s")
            if kind == "CodeSystem":
                sid = _code_system(ts, cur, url, resource, report)
                if sid is not None:
                    touched.add(sid)
            elif kind == "ConceptMap":
                report.add("map elements", _concept_map(ts, cur, url, resource))
        for sid in touched:
            report.add("closure rows", rebuild_closure(ts, cur, sid))
        ts.bump_generation(cur)
    return report.finish()


def read_resources(path: Path, progress: Progress | None = None) -> Iterator[dict[str, Any]]:
    if not path.exists():
        raise bad_request(f"no such file or directory: {path}")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson"))
    for n, file in enumerate(files, 1):
        raw = file.read_bytes()
        documents: list[Any]
        if file.suffix == ".ndjson":
            documents = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            try:
                documents = [orjson.loads(raw)]
            except orjson.JSONDecodeError as exc:
                raise bad_request(f"{file} is not JSON: {exc}") from None
        for document in documents:
            yield from _flatten(document)
        if progress is not None:
            progress("FHIR resources", n, len(files))


def _flatten(document: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(document, dict):
        return
    if document.get("resourceType") == "Bundle":
        for entry in document.get("entry") or ():
            yield from _flatten((entry or {}).get("resource"))
    else:
        yield document


def _keep(ts: TerminologyStore, cur: Any, kind: str, url: str, resource: dict[str, Any]) -> None:
    version = str(resource.get("version") or "")
    cur.execute(ts.sql("DELETE FROM tx_resource WHERE type = ? AND url = ? AND version = ?"), (kind, url, version))
    cur.execute(ts.sql("INSERT INTO tx_resource (type, url, version, name, content) VALUES (?, ?, ?, ?, ?)"),
                (kind, url, version, resource.get("title") or resource.get("name"), orjson.dumps(resource).decode()))


# -- CodeSystem -----------------------------------------------------------------------------------
def _code_system(ts: TerminologyStore, cur: Any, url: str, cs: dict[str, Any], report: LoadReport) -> int | None:
    content = cs.get("content") or "complete"
    name = cs.get("title") or cs.get("name")
    version = cs.get("version")
    if content not in LOADED_CONTENT or not cs.get("concept"):
        ts.ensure_system(cur, url, name=name, version=version, content="not-present")
        return None
    sid = ts.ensure_system(cur, url, name=name, version=version, content=content)
    ts.delete_source(cur, sid, SOURCE, ("tx_concept", "tx_description", "tx_edge", "tx_property"))
    nested_kind = cs.get("hierarchyMeaning") or "is-a"  # absent: read nesting as is-a, as most HL7 systems mean
    concepts, descriptions, edges, properties = [], [], set(), []
    for concept, parent in _walk(cs["concept"], None):
        code = concept.get("code")
        if not isinstance(code, str) or not code:
            continue
        active = True
        if parent is not None:
            edges.add((sid, code, parent, nested_kind, SOURCE))
        for prop in concept.get("property") or ():
            pcode, (ptype, value) = prop.get("code"), _property_value(prop)
            if value is None or not pcode:
                continue
            if pcode == "parent":
                edges.add((sid, code, str(value), "is-a", SOURCE))
            elif pcode == "child":
                edges.add((sid, str(value), code, "is-a", SOURCE))
            else:
                if (pcode == "inactive" and value is True) or (pcode == "status" and value in ("retired", "inactive")):
                    active = False
                properties.append((sid, code, pcode, _text(value), ptype, SOURCE))
        display = concept.get("display")
        concepts.append((sid, code, display, int(active), None, None, None, SOURCE))
        if display:
            descriptions.append((sid, code, None, display, "display", cs.get("language"), 1, 1, SOURCE))
        for d in concept.get("designation") or ():
            if d.get("value"):
                use = d.get("use") or {}
                kind = f"{use.get('system', '')}|{use.get('code', '')}" if use.get("code") else "designation"
                descriptions.append((sid, code, None, d["value"], kind, d.get("language"), 0, 1, SOURCE))
        if concept.get("definition"):
            descriptions.append((sid, code, None, concept["definition"], "definition", cs.get("language"), 0, 1, SOURCE))
    report.add("concepts", ts.upsert(
        cur, "tx_concept", ("sid", "code", "display", "active", "module", "effective", "kind", "source"),
        ("sid", "code"), ("display", "active", "source"), _unique(concepts)))
    ts.insert(cur, "tx_description", ("sid", "code", "did", "term", "type", "lang", "preferred", "active", "source"),
              descriptions)
    ts.upsert(cur, "tx_edge", ("sid", "child", "parent", "kind", "source"), ("sid", "child", "parent", "kind"), (),
              sorted(edges))
    ts.insert(cur, "tx_property", ("sid", "code", "property", "value", "type", "source"), properties)
    return sid


def _walk(concepts: list[Any], parent: str | None) -> Iterator[tuple[dict[str, Any], str | None]]:
    for concept in concepts:
        if isinstance(concept, dict):
            yield concept, parent
            yield from _walk(concept.get("concept") or [], concept.get("code"))


def _unique(rows: list[tuple]) -> list[tuple]:
    """Last row per (sid, code): a code listed twice must not break the upsert."""
    return list({(r[0], r[1]): r for r in rows}.values())


def _property_value(prop: dict[str, Any]) -> tuple[str, Any]:
    for key, value in prop.items():
        if key.startswith("value"):
            kind = key[5:6].lower() + key[6:]
            if kind == "coding" and isinstance(value, dict):
                return "Coding", f"{value.get('system', '')}|{value.get('code', '')}"
            return kind, value
    return "string", None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- ConceptMap -----------------------------------------------------------------------------------
def _concept_map(ts: TerminologyStore, cur: Any, url: str, cm: dict[str, Any]) -> int:
    cur.execute(ts.sql("DELETE FROM tx_map WHERE map_url = ?"), (url,))
    rows = []
    for group in cm.get("group") or ():
        source, target = group.get("source") or "", group.get("target") or ""
        for element in group.get("element") or ():
            code = element.get("code")
            if not code:
                continue
            targets = element.get("target") or [{"equivalence": "unmatched"}]
            for t in targets:
                rows.append((url, source, code, None, target, t.get("code"), None,
                             t.get("equivalence") or "equivalent", None, None, t.get("comment")))
    return ts.insert(cur, "tx_map", ("map_url", "source_system", "source_code", "source_term", "target_system",
                                     "target_code", "target_term", "equivalence", "assured", "effective", "comment"),
                     rows)
