"""The NHS Data Migration maps from Read v2 and CTV3 to SNOMED CT, in their published tables.

Both come from the TRUD "NHS Data Migration" release, ``Mapping Tables/Updated/Clinically
Assured/``, tab-separated with a header line:

- ``rcsctmap2_uk_*.txt`` (Read v2): MapId, ReadCode, TermCode, ConceptId, DescriptionId,
  IS_ASSURED, EffectiveDate, MapStatus;
- ``ctv3sctmap2_uk_*.txt`` (CTV3): MAPID, CTV3_CONCEPTID, CTV3_TERMID, CTV3_TERMTYPE,
  SCT_CONCEPTID, SCT_DESCRIPTIONID, MAPSTATUS, EFFECTIVEDATE, IS_ASSURED.

Rows are versioned like RF2: a map id repeats with later EffectiveDates, and only its latest
revision counts, and only when MapStatus is 1. A CTV3 drug term maps to ``_DRUG`` (dm+d, not
SNOMED CT): such rows are skipped and counted. Assured maps are ``equivalent``; unassured ones
``relatedto`` — not clinically checked, so a consumer should not treat them as exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gpbridge.fhir.outcome import bad_request
from gpbridge.terminology import systems as sx
from gpbridge.terminology.db import TerminologyStore
from gpbridge.terminology.files import Progress, ReleaseFile, find_files, read_tsv
from gpbridge.terminology.report import LoadReport


@dataclass(frozen=True)
class MapTable:
    """How one published table names its columns."""

    what: str
    pattern: str
    source_system: str
    url: str
    map_id: str
    source_code: str
    source_term: str
    target_code: str
    target_term: str
    assured: tuple[str, ...]  # accepted header spellings
    effective: str
    status: str
    term_type: str | None = None


READ_V2_TABLE = MapTable(
    "Read v2 -> SNOMED CT map", "rcsctmap2_uk_*.txt", sx.READ_V2, sx.READ_V2_MAP_URL,
    "MapId", "ReadCode", "TermCode", "ConceptId", "DescriptionId", ("IS_ASSURED", "ISASSURED"),
    "EffectiveDate", "MapStatus")
CTV3_TABLE = MapTable(
    "CTV3 -> SNOMED CT map", "ctv3sctmap2_uk_*.txt", sx.CTV3, sx.CTV3_MAP_URL,
    "MAPID", "CTV3_CONCEPTID", "CTV3_TERMID", "SCT_CONCEPTID", "SCT_DESCRIPTIONID", ("IS_ASSURED", "ISASSURED"),
    "EFFECTIVEDATE", "MAPSTATUS", term_type="CTV3_TERMTYPE")


def load_read_v2_map(store: Any, path: str | Path, progress: Progress | None = None) -> LoadReport:
    """Load (or replace) the Read v2 -> SNOMED CT map from ``rcsctmap2_uk_*.txt`` under ``path``."""
    return _load(store, Path(path), READ_V2_TABLE, progress)


def load_ctv3_map(store: Any, path: str | Path, progress: Progress | None = None) -> LoadReport:
    """Load (or replace) the CTV3 -> SNOMED CT map from ``ctv3sctmap2_uk_*.txt`` under ``path``."""
    return _load(store, Path(path), CTV3_TABLE, progress)


def _load(store: Any, path: Path, table: MapTable, progress: Progress | None) -> LoadReport:
    files = find_files(path, table.pattern) if path.is_dir() or path.suffix == ".zip" else find_files(path)
    if not files:
        raise bad_request(f"no {table.pattern} under {path}: give the map file or the NHS Data Migration release")
    report = LoadReport(table.what)
    latest = _latest_revisions(files, table, progress, report)
    ts = TerminologyStore(store)
    with ts.write() as cur:
        ts.ensure_system(cur, table.source_system, name=sx.NAMES[table.source_system], content="not-present")
        ts.ensure_system(cur, sx.SNOMED, name=sx.NAMES[sx.SNOMED], content="not-present")
        cur.execute(ts.sql("DELETE FROM tx_map WHERE map_url = ?"), (table.url,))
        report.add("maps", ts.insert(
            cur, "tx_map", ("map_url", "source_system", "source_code", "source_term", "target_system",
                            "target_code", "target_term", "equivalence", "assured", "effective", "comment"),
            _map_rows(latest.values(), table, report)))
        _register_concept_map(ts, cur, table)
        ts.bump_generation(cur)
    return report.finish()


def _latest_revisions(files: list[ReleaseFile], table: MapTable, progress: Progress | None,
                      report: LoadReport) -> dict[str, list[str]]:
    """Map id -> its latest row, with columns in the table's canonical order."""
    latest: dict[str, list[str]] = {}
    dates: dict[str, str] = {}
    for file in files:
        assured_col: str | None = None
        for col, f in read_tsv(file, "maps", progress, (table.map_id, table.source_code, table.target_code,
                                                        table.effective, table.status)):
            if assured_col is None:
                assured_col = next((a for a in table.assured if a in col), "")
            report.add("rows read")
            map_id = f[col[table.map_id]]
            effective = f[col[table.effective]]
            if effective < dates.get(map_id, ""):
                continue
            dates[map_id] = effective
            latest[map_id] = [
                f[col[table.source_code]], f[col[table.source_term]] if table.source_term in col else "",
                f[col[table.target_code]], f[col[table.target_term]] if table.target_term in col else "",
                f[col[assured_col]] if assured_col else "", effective, f[col[table.status]],
                f[col[table.term_type]] if table.term_type and table.term_type in col else "",
            ]
    return latest


def _map_rows(rows: Any, table: MapTable, report: LoadReport) -> Iterator[tuple]:
    for source, term, target, target_term, assured, effective, status, term_type in rows:
        if status != "1":
            report.add("inactive (skipped)")
            continue
        if not target.isdigit():  # "_DRUG" and other placeholders: no SNOMED CT concept
            report.add(f"mapped to {target or 'nothing'} (skipped)")
            continue
        is_assured = assured == "1"
        comment = "preferred term" if term_type == "P" else "synonym" if term_type == "S" else None
        yield (table.url, table.source_system, source, term or None, sx.SNOMED, target, target_term or None,
               "equivalent" if is_assured else "relatedto", int(is_assured), _iso_date(effective), comment)


def _iso_date(value: str) -> str | None:
    digits = value.replace("-", "").replace(".", "")[:8]
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}" if len(digits) == 8 and digits.isdigit() else None


def _register_concept_map(ts: TerminologyStore, cur: Any, table: MapTable) -> None:
    """A ConceptMap stub so ``$translate?url=...`` and the list of maps know this table."""
    resource = {
        "resourceType": "ConceptMap", "url": table.url, "status": "active",
        "name": table.what.replace(" -> ", "To").replace(" ", ""), "title": table.what,
        "description": "NHS Data Migration clinically assured map, loaded from the published table; "
                       "elements are served from the terminology tables, not listed here.",
        "sourceUri": f"{table.source_system}?fhir_vs", "targetUri": f"{sx.SNOMED}?fhir_vs",
    }
    cur.execute(ts.sql("DELETE FROM tx_resource WHERE type = 'ConceptMap' AND url = ?"), (table.url,))
    cur.execute(ts.sql("INSERT INTO tx_resource (type, url, version, name, content) VALUES ('ConceptMap', ?, '', ?, ?)"),
                (table.url, resource["title"], orjson.dumps(resource).decode()))
