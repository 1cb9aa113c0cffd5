"""dm+d (Dictionary of Medicines and Devices) loader: VTMs, VMPs and AMPs from the XML release.

The weekly TRUD release has one XML file per class: ``f_vtm2_*.xml``
(VIRTUAL_THERAPEUTIC_MOIETIES/VTM: VTMID, INVALID, NM, ABBREVNM, VTMIDPREV...), ``f_vmp2_*.xml``
(VIRTUAL_MED_PRODUCTS/VMPS/VMP: VPID, VTMID, INVALID, NM, ABBREVNM, VPIDPREV...) and
``f_amp2_*.xml`` (ACTUAL_MEDICINAL_PRODUCTS/AMPS/AMP: APID, VPID, INVALID, NM, DESC, SUPPCD...).

dm+d identifiers are SNOMED CT identifiers (UK Drug Extension), so each product is written under
``http://snomed.info/sct`` — beside the RF2 content when that is loaded, never replacing its
terms — and under ``https://dmd.nhs.uk``, the system UK Core binds medication codes to. The links
VMP -> VTM and AMP -> VMP become edges of kind ``vtm`` / ``vmp``, which count as subsumption
(an AMP is a kind of its VMP), so ``:below`` a VTM finds its VMPs and AMPs.

Files are parsed with ``iterparse`` and each product element is cleared once read, so memory does
not grow with the release.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpbridge.fhir.outcome import bad_request
from gpbridge.terminology import systems as sx
from gpbridge.terminology.closure import rebuild_closure
from gpbridge.terminology.db import TerminologyStore
from gpbridge.terminology.files import Progress, ReleaseFile, find_files
from gpbridge.terminology.report import LoadReport

SOURCE = "dmd"


@dataclass(frozen=True, slots=True)
class Product:
    kind: str  # VTM | VMP | AMP
    code: str
    name: str
    display: str
    active: bool
    parent: str | None  # VMP: its VTM; AMP: its VMP
    abbreviation: str | None
    previous: str | None  # the identifier this one replaced


# element tag, id field, parent field, previous-id field, edge kind
_CLASSES = {
    "VTM": ("VTMID", None, "VTMIDPREV", None),
    "VMP": ("VPID", "VTMID", "VPIDPREV", "vtm"),
    "AMP": ("APID", "VPID", None, "vmp"),
}


def load_dmd(store: Any, path: str | Path, progress: Progress | None = None) -> LoadReport:
    """Load (or replace) dm+d VTMs, VMPs and AMPs from the XML files under ``path``."""
    files = find_files(Path(path), "f_vtm*.xml", "f_vmp*.xml", "f_amp*.xml")
    by_kind = {kind: [f for f in files if f.name.lower().startswith(f"f_{kind.lower()}")] for kind in _CLASSES}
    if not any(by_kind.values()):
        raise bad_request(f"no dm+d f_vtm/f_vmp/f_amp XML files under {path}")
    report = LoadReport("dm+d")
    products: list[Product] = []
    for kind, kind_files in by_kind.items():
        for file in kind_files:
            before = len(products)
            products.extend(read_products(file, kind, progress))
            report.add(f"{kind}s", len(products) - before)
    ts = TerminologyStore(store)
    with ts.write() as cur:
        for system in (sx.SNOMED, sx.DMD):
            sid = ts.ensure_system(cur, system, name=sx.NAMES[system],
                                   content="complete" if system == sx.DMD else "fragment")
            _write(ts, cur, sid, products, owns_concepts=system == sx.DMD)
            report.add(f"closure rows ({sx.NAMES[system].split(' (')[0]})", rebuild_closure(ts, cur, sid, progress))
        ts.bump_generation(cur)
    return report.finish()


def read_products(file: ReleaseFile, kind: str, progress: Progress | None = None) -> Iterator[Product]:
    id_field, parent_field, previous_field, _ = _CLASSES[kind]
    with file.open() as fh:
        n = 0
        for _event, element in ET.iterparse(fh, events=("end",)):
            if element.tag != kind:
                continue
            fields = {child.tag: (child.text or "").strip() for child in element}
            element.clear()
            code = fields.get(id_field, "")
            if not code:
                continue
            name = fields.get("NM", "")
            # An AMP's NM omits the supplier; DESC carries it, as in the SNOMED CT preferred term.
            display = (fields.get("DESC") or name) if kind == "AMP" else name
            n += 1
            if progress is not None and n % 10_000 == 0:
                progress(f"dm+d {kind}", fh.tell() if fh.seekable() else n, file.size)
            yield Product(kind, code, name, display, fields.get("INVALID", "0") != "1",
                          (fields.get(parent_field) or None) if parent_field else None,
                          fields.get("ABBREVNM") or None,
                          (fields.get(previous_field) or None) if previous_field else None)
    if progress is not None:
        progress(f"dm+d {kind}", file.size, file.size)


def _write(ts: TerminologyStore, cur: Any, sid: int, products: list[Product], *, owns_concepts: bool) -> None:
    ts.delete_source(cur, sid, SOURCE, ("tx_description", "tx_edge", "tx_property"))
    columns = ("sid", "code", "display", "active", "module", "effective", "kind", "source")
    rows = ((sid, p.code, p.display, int(p.active), None, None, p.kind, SOURCE) for p in products)
    if owns_concepts:
        ts.delete_source(cur, sid, SOURCE, ("tx_concept",))
        ts.insert(cur, "tx_concept", columns, rows)
    else:
        # Under SNOMED CT the RF2 release owns display and status; dm+d adds only the class.
        ts.upsert(cur, "tx_concept", columns, ("sid", "code"), ("kind",), rows)
    ts.insert(cur, "tx_description", ("sid", "code", "did", "term", "type", "lang", "preferred", "active", "source"),
              _descriptions(sid, products))
    ts.upsert(cur, "tx_edge", ("sid", "child", "parent", "kind", "source"), ("sid", "child", "parent", "kind"), (),
              ((sid, p.code, p.parent, _CLASSES[p.kind][3], SOURCE) for p in products if p.parent))
    ts.insert(cur, "tx_property", ("sid", "code", "property", "value", "type", "source"),
              ((sid, p.code, "previous", p.previous, "code", SOURCE) for p in products if p.previous))


def _descriptions(sid: int, products: list[Product]) -> Iterator[tuple]:
    for p in products:
        yield sid, p.code, None, p.display, "synonym", "en", 1, int(p.active), SOURCE
        if p.name != p.display:
            yield sid, p.code, None, p.name, "synonym", "en", 0, int(p.active), SOURCE
        if p.abbreviation:
            yield sid, p.code, None, p.abbreviation, "abbreviation", "en", 0, int(p.active), SOURCE
