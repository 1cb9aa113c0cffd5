"""Turn a resource's search index values into the rows of the ``ix_*`` tables.

``search.extract`` says *what* a resource is findable by (per parameter code); this module says
*where it goes*: integer ``pid``s, one tuple per row, duplicates removed by each table's key.
"""

from __future__ import annotations

from typing import Any

from gpbridge.fhir import spec
from gpbridge.search.derived import derived_codes
from gpbridge.search.extract import extractor_for
from gpbridge.search.text import normalise
from gpbridge.store import compartment

# (table, columns) in the order IndexRowBuilder.rows returns them; each row as stored is the rid,
# the row, then the resource's compartment (``store.compartment``, schema v10)
INDEX_TABLES: list[tuple[str, tuple[str, ...]]] = [
    ("ix_token", ("rid", "pid", "system", "code", "text", "comp")),
    ("ix_string", ("rid", "pid", "norm", "exact", "comp")),
    ("ix_date", ("rid", "pid", "lo", "hi", "comp")),
    ("ix_number", ("rid", "pid", "value", "comp")),
    ("ix_quantity", ("rid", "pid", "system", "code", "value", "comp")),
    ("ix_reference", ("rid", "pid", "ttype", "tid", "comp")),
    ("ix_uri", ("rid", "pid", "uri", "comp")),
    ("ix_composite", ("rid", "pid", "system1", "code1", "system2", "code2", "lo2", "hi2", "text2", "comp")),
]
TABLE_FOR_KIND = {
    "token": "ix_token",
    "string": "ix_string",
    "date": "ix_date",
    "number": "ix_number",
    "quantity": "ix_quantity",
    "reference": "ix_reference",
    "uri": "ix_uri",
    "composite": "ix_composite",
}

# The pseudo-parameter holding a reference's ``identifier`` (for ``subject:identifier=...``).
IDENTIFIER_SUFFIX = ":identifier"


class IndexRowBuilder:
    def __init__(self, pids: dict[tuple[str, str], int]) -> None:
        self.pids = pids  # shared with the store; filled when the schema is loaded
        self._by_type: dict[str, dict[str, int]] = {}
        self._loaded = -1
        self._global: frozenset[int] = frozenset()
        self._global_loaded = -1

    @staticmethod
    def all_param_keys() -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        registry = spec.search_parameters()
        for type_, params in sorted(registry.items()):
            for code, definition in sorted(params.items()):
                keys.append((type_, code))
                if definition.get("type") == "reference":
                    keys.append((type_, code + IDENTIFIER_SUFFIX))
        return keys

    def global_pids(self) -> frozenset[int]:
        """The pids whose rows are filed under no compartment (``compartment.GLOBAL_PARAMETERS``)."""
        if self._global_loaded != len(self.pids):
            self._global = frozenset(pid for (_, code), pid in self.pids.items()
                                     if code in compartment.GLOBAL_PARAMETERS)
            self._global_loaded = len(self.pids)
        return self._global

    def type_pids(self, type_: str) -> dict[str, int]:
        """``{param code: pid}`` for one type (cached: this is on the hot path of every write).

        Parameters derived from others (``search.derived``) are left out: they get no rows.
        """
        found = self._by_type.get(type_)
        if found is None or self._loaded != len(self.pids):
            if self._loaded != len(self.pids):
                self._by_type.clear()
                self._loaded = len(self.pids)
            derived = derived_codes(type_)
            found = {code: pid for (t, code), pid in self.pids.items() if t == type_ and code not in derived}
            self._by_type[type_] = found
        return found

    def rows(self, type_: str, resource: dict[str, Any]) -> list[list[tuple]]:
        """Rows per index table, in ``INDEX_TABLES`` order, each *without* its ``rid`` and ``comp``.

        The rid is known only inside the write transaction, so the session adds it, and the
        compartment, when it flushes (``stored_rows``); everything else is computed before the
        write lock. Each table's key (after rid) de-duplicates: one row per distinct value of a
        parameter.
        """
        return self.rows_and_compartment(type_, resource)[0]

    def rows_and_compartment(self, type_: str, resource: dict[str, Any]) -> tuple[list[list[tuple]], int]:
        """``rows`` and the resource's compartment number (``store.compartment``)."""
        # Not de-duplicated by the extractor: every table below is keyed, which removes repeats anyway.
        values = extractor_for(type_).extract(resource, deduplicate=False)
        pids = self.type_pids(type_)
        get = pids.get
        tokens: dict[tuple, tuple] = {}
        for param, system, code, text in values.tokens:
            pid = get(param)
            if pid is not None:
                key = (pid, system or "", code or "")
                if key not in tokens or (text and not tokens[key][3]):
                    tokens[key] = (pid, system or "", code or "", normalise(text) if text else None)
        strings = {(pid, norm, exact) for param, norm, exact in values.strings
                   if (pid := get(param)) is not None}
        dates = {(pid, lo, hi) for param, lo, hi in values.dates if (pid := get(param)) is not None}
        numbers = {(pid, v) for param, v in values.numbers if (pid := get(param)) is not None}
        quantities = {(pid, system or "", code or "", v) for param, system, code, v in values.quantities
                      if (pid := get(param)) is not None}
        refs = set()
        patients: set[str] = set()
        for param, ttype, tid, url in values.references:
            if param == compartment.HOME_PARAMETER and url is None:
                patient = compartment.local_patient_id(ttype, tid)
                if patient is not None:
                    patients.add(patient)
            pid = get(param)
            if pid is None:
                continue
            if url is not None:
                refs.add((pid, ttype or "", url))
            elif tid:
                refs.add((pid, ttype or "", tid))
        uris = {(pid, u) for param, u in values.uris if (pid := get(param)) is not None}
        return [
            list(tokens.values()),
            list(strings),
            list(dates),
            list(numbers),
            list(quantities),
            list(refs),
            list(uris),
            _composites(pids, values.composites) if values.composites else [],
        ], compartment.of_patients(patients)


def with_rid(rid: int, rows: list[tuple]) -> list[tuple]:
    """Index rows as stored where rows carry no compartment (``Dialect.compartment_indexes``)."""
    head = (rid,)
    return [head + row for row in rows]


def stored_rows(rid: int, comp: int, rows: list[tuple], global_pids: frozenset[int] = frozenset()) -> list[tuple]:
    """Index rows as stored: the resource's rid, the row, the resource's compartment (NONE for the
    rows of ``global_pids``: ``compartment.GLOBAL_PARAMETERS``)."""
    head, tail = (rid,), (comp,)
    if not global_pids or comp == compartment.NONE:
        return [head + row + tail for row in rows]
    none = (compartment.NONE,)
    return [head + row + (none if row[0] in global_pids else tail) for row in rows]


def composite_rows(pids: dict[tuple[str, str], int], type_: str, resource: dict[str, Any], rid: int) -> list[tuple]:
    """Only the composite rows of a resource (used when upgrading a database to schema v2, before
    index rows had a compartment)."""
    derived = derived_codes(type_)
    by_code = {code: pid for (t, code), pid in pids.items() if t == type_ and code not in derived}
    return with_rid(rid, _composites(by_code, extractor_for(type_).extract(resource).composites))


def _composites(pids: dict[str, int], composites: list[tuple]) -> list[tuple]:
    """(param, (system, code), (kind, ...)) -> ix_composite rows; the second value by its kind."""
    rows: dict[tuple, None] = {}
    for param, first, second in composites:
        pid = pids.get(param)
        if pid is None or not first or first[1] is None:
            continue
        kind = second[0]
        system2 = code2 = text2 = ""
        lo2 = hi2 = 0.0
        if kind == "token":
            system2, code2 = second[1] or "", second[2] or ""
        elif kind == "quantity":
            system2, code2, lo2 = second[1] or "", second[2] or "", float(second[3])
            hi2 = lo2
        elif kind == "number":
            lo2 = hi2 = float(second[1])
        elif kind == "date":
            lo2, hi2 = second[1], second[2]
        elif kind == "string":
            text2 = second[1]
        elif kind == "reference":
            system2, code2 = second[1] or "", second[3] or second[2] or ""
        elif kind == "uri":
            text2 = second[1]
        else:
            continue  # three-part composites: not indexed
        rows[(pid, first[0] or "", first[1], system2, code2, lo2, hi2, text2)] = None
    return list(rows)
