"""SNOMED CT RF2 Snapshot loader: concepts, descriptions, language preferences, is-a closure.

Reads an RF2 release (a TRUD zip or its unpacked folder; International, UK Clinical, UK Drug or a
monolith — several at once when they sit under one folder) in one write transaction:

- ``sct2_Concept_*Snapshot*``: every concept, active or not;
- ``sct2_Description_*Snapshot*`` and ``sct2_TextDefinition_*Snapshot*``: terms (FSN, synonyms,
  definitions) as designations;
- ``der2_cRefset_Language*Snapshot*`` (optional): which synonym is preferred, so the display is
  the NHS realm / GB English preferred term rather than whichever synonym came first;
- ``sct2_Relationship_*Snapshot*``: active inferred ``116680003 |Is a|`` rows become edges, and
  the closure is rebuilt from them (see ``closure``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gpbridge.fhir.outcome import bad_request
from gpbridge.terminology import systems as sx
from gpbridge.terminology.closure import rebuild_closure
from gpbridge.terminology.db import TerminologyStore
from gpbridge.terminology.files import Progress, ReleaseFile, find_files, read_tsv
from gpbridge.terminology.report import LoadReport

CONCEPT_COLUMNS = ("id", "effectiveTime", "active", "moduleId", "definitionStatusId")
DESCRIPTION_COLUMNS = ("id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId",
                       "term", "caseSignificanceId")
RELATIONSHIP_COLUMNS = ("id", "effectiveTime", "active", "moduleId", "sourceId", "destinationId",
                        "relationshipGroup", "typeId", "characteristicTypeId", "modifierId")
LANGUAGE_COLUMNS = ("id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId",
                    "acceptabilityId")
STATED = "900000000000010007"
INTERNATIONAL_EDITION = "900000000000207008"
UK_EDITION = "83821000000107"
UK_MODULES = {"999000011000000103", "999000021000000109", "999000011000001104", "999000021000001108"}
SOURCE = "rf2"


def load_snomed_rf2(store: Any, path: str | Path, progress: Progress | None = None) -> LoadReport:
    """Load (or replace) SNOMED CT from an RF2 Snapshot release under ``path``."""
    files = find_files(Path(path), "sct2_Concept_*Snapshot*.txt", "sct2_Description_*Snapshot*.txt",
                       "sct2_TextDefinition_*Snapshot*.txt", "sct2_Relationship_*Snapshot*.txt",
                       "der2_cRefset_Language*Snapshot*.txt")
    concepts = [f for f in files if f.name.startswith("sct2_Concept_")]
    descriptions = [f for f in files if f.name.startswith(("sct2_Description_", "sct2_TextDefinition_"))]
    relationships = [f for f in files if f.name.startswith("sct2_Relationship_")]
    languages = [f for f in files if f.name.startswith("der2_cRefset_Language")]
    if not concepts:
        raise bad_request(f"no sct2_Concept_*Snapshot*.txt under {path}: give the folder or zip of an RF2 "
                          "release (its Snapshot files are what gpbridge loads)")
    report = LoadReport("SNOMED CT RF2")
    if not languages:
        report.notes.append("no language reference set found: displays are the FSN without its semantic tag")
    preferred = _preferred_descriptions(languages, progress)
    ts = TerminologyStore(store)
    with ts.write() as cur:
        sid = ts.ensure_system(cur, sx.SNOMED, name=sx.NAMES[sx.SNOMED], content="complete")
        ts.delete_source(cur, sid, SOURCE, ("tx_description", "tx_edge"))
        modules: Counter[str] = Counter()
        latest = [""]
        report.add("concepts", ts.upsert(
            cur, "tx_concept", ("sid", "code", "display", "active", "module", "effective", "kind", "source"),
            ("sid", "code"), ("display", "active", "module", "effective", "source"),
            _concept_rows(concepts, sid, modules, latest, progress)))
        report.add("descriptions", ts.insert(
            cur, "tx_description", ("sid", "code", "did", "term", "type", "lang", "preferred", "active", "source"),
            _description_rows(descriptions, sid, preferred, progress)))
        del preferred
        report.add("is-a relationships", ts.upsert(
            cur, "tx_edge", ("sid", "child", "parent", "kind", "source"), ("sid", "child", "parent", "kind"), (),
            _isa_rows(relationships, sid, progress)))
        _set_displays(ts, cur, sid)
        report.add("closure rows", rebuild_closure(ts, cur, sid, progress))
        version = _version(modules, latest[0])
        cur.execute(ts.sql("UPDATE tx_system SET version = ? WHERE sid = ?"), (version, sid))
        ts.bump_generation(cur)
    report.notes.append(f"version {version}")
    return report.finish()


def _preferred_descriptions(files: list[ReleaseFile], progress: Progress | None) -> dict[int, int]:
    """Description id -> preference score (higher = better language refset) for preferred terms.

    Integer keys: a UK release has about a million preferred memberships, and int keys halve
    the memory of string ones.
    """
    scores = {refset: len(sx.LANGUAGE_REFSETS) - i for i, refset in enumerate(sx.LANGUAGE_REFSETS)}
    best: dict[int, int] = {}
    for file in files:
        for col, f in read_tsv(file, "language preferences", progress, LANGUAGE_COLUMNS):
            if f[col["active"]] != "1" or f[col["acceptabilityId"]] != sx.PREFERRED:
                continue
            score = scores.get(f[col["refsetId"]])
            if score is None:
                continue
            did = int(f[col["referencedComponentId"]])
            if best.get(did, 0) < score:
                best[did] = score
    return best


def _concept_rows(files: list[ReleaseFile], sid: int, modules: Counter[str], latest: list[str],
                  progress: Progress | None) -> Iterator[tuple]:
    seen: set[str] = set()  # a monolith and an extension may both carry a concept: keep the first
    for file in files:
        for col, f in read_tsv(file, "concepts", progress, CONCEPT_COLUMNS):
            code = f[col["id"]]
            if code in seen:
                continue
            seen.add(code)
            effective, module = f[col["effectiveTime"]], f[col["moduleId"]]
            modules[module] += 1
            if effective > latest[0]:
                latest[0] = effective
            yield sid, code, None, int(f[col["active"]] == "1"), module, effective, None, SOURCE


def _description_rows(files: list[ReleaseFile], sid: int, preferred: dict[int, int],
                      progress: Progress | None) -> Iterator[tuple]:
    for file in files:
        for col, f in read_tsv(file, "descriptions", progress, DESCRIPTION_COLUMNS):
            did = f[col["id"]]
            kind = sx.DESCRIPTION_TYPES.get(f[col["typeId"]], f[col["typeId"]])
            yield (sid, f[col["conceptId"]], did, f[col["term"]], kind, f[col["languageCode"]] or None,
                   preferred.get(int(did), 0) if did.isdigit() else 0, int(f[col["active"]] == "1"), SOURCE)


def _isa_rows(files: list[ReleaseFile], sid: int, progress: Progress | None) -> Iterator[tuple]:
    for file in files:
        for col, f in read_tsv(file, "relationships", progress, RELATIONSHIP_COLUMNS):
            if (f[col["typeId"]] == sx.IS_A and f[col["active"]] == "1"
                    and f[col["characteristicTypeId"]] != STATED):
                yield sid, f[col["sourceId"]], f[col["destinationId"]], "is-a", SOURCE


def _set_displays(ts: TerminologyStore, cur: Any, sid: int) -> None:
    """Display = the best-scored preferred synonym; failing that the FSN without its semantic tag."""
    cur.execute(ts.sql(
        "UPDATE tx_concept SET display = (SELECT d.term FROM tx_description d WHERE d.sid = tx_concept.sid "
        "AND d.code = tx_concept.code AND d.type = 'synonym' AND d.active = 1 AND d.preferred > 0 "
        "ORDER BY d.preferred DESC, d.term LIMIT 1) WHERE sid = ? AND source = ?"), (sid, SOURCE))
    cur.execute(ts.sql(
        "SELECT c.code, d.term, d.type, d.active FROM tx_concept c JOIN tx_description d "
        "ON d.sid = c.sid AND d.code = c.code WHERE c.sid = ? AND c.display IS NULL AND c.source = ?"),
        (sid, SOURCE))
    fallback: dict[str, tuple[int, str]] = {}
    for code, term, kind, active in cur.fetchall():
        rank = (2 if kind == "fsn" else 1 if kind == "synonym" else 0) + (4 if active else 0)
        if rank > fallback.get(code, (-1, ""))[0]:
            fallback[code] = (rank, strip_semantic_tag(term) if kind == "fsn" else term)
    cur.executemany(ts.sql("UPDATE tx_concept SET display = ? WHERE sid = ? AND code = ?"),
                    [(term, sid, code) for code, (_, term) in fallback.items()])


def strip_semantic_tag(fsn: str) -> str:
    """'Diabetes mellitus (disorder)' -> 'Diabetes mellitus'."""
    if fsn.endswith(")") and " (" in fsn:
        return fsn[: fsn.rindex(" (")]
    return fsn


def _version(modules: Counter[str], effective: str) -> str:
    """A SNOMED CT version URI: the UK Edition when UK modules are present, else International."""
    edition = UK_EDITION if UK_MODULES & set(modules) else INTERNATIONAL_EDITION
    return f"{sx.SNOMED}/{edition}/version/{effective}"
