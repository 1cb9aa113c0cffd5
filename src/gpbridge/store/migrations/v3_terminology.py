"""Schema v3: the terminology tables, in the resource database so search SQL can join them.

- ``tx_system``: every code system the server knows (loaded, or only named by a map), with an
  integer ``sid`` so the big tables do not repeat a 20-byte URL in every row.
- ``tx_concept``: one row per code; ``kind`` carries the dm+d class (VTM, VMP, AMP).
- ``tx_description``: FSNs, synonyms and FHIR designations; ``preferred`` marks the display.
- ``tx_edge``: direct relationships (``is-a`` from RF2 or a CodeSystem hierarchy, ``vtm``/``vmp``
  from dm+d); ``tx_closure`` is their transitive closure *including self*, clustered by ancestor
  for ``:below``/``$expand`` and indexed by descendant for ``:above``/``$subsumes``.
- ``tx_property``: other concept properties (FHIR CodeSystem properties, dm+d flags).
- ``tx_map``: Read v2 / CTV3 -> SNOMED CT maps and ConceptMap elements. Systems are URLs here: the
  table is small and its source systems are often never loaded as code systems.
- ``tx_resource``: CodeSystem / ValueSet / ConceptMap resources as loaded, by canonical URL.
- ``tx_state``: a generation counter bumped by every load, so in-process caches notice changes.

Tables and indexes use IF NOT EXISTS: a test database reset by dropping only the v1 tables (and
``schema_version``) must still migrate instead of failing on tables that survived the reset.
"""

from __future__ import annotations

from gpbridge.store.dialect import Dialect
from gpbridge.store.migrations import Migration


def _v3(d: Dialect) -> list[str]:
    i, t, k, wr = d.integer, d.text, d.key_text, d.without_rowid
    return [
        f"""CREATE TABLE IF NOT EXISTS tx_system (
            sid {i} PRIMARY KEY,
            url {k} NOT NULL,
            name {t},
            version {t},
            content {t} NOT NULL,
            loaded {t})""",
        "CREATE UNIQUE INDEX IF NOT EXISTS tx_system_url ON tx_system (url)",
        f"""CREATE TABLE IF NOT EXISTS tx_concept (
            sid {i} NOT NULL, code {k} NOT NULL, display {t}, active {i} NOT NULL DEFAULT 1,
            module {k}, effective {t}, kind {k}, source {k} NOT NULL,
            PRIMARY KEY (sid, code))""" + wr,
        "CREATE INDEX IF NOT EXISTS tx_concept_kind ON tx_concept (sid, kind, code)",
        f"""CREATE TABLE IF NOT EXISTS tx_description (
            sid {i} NOT NULL, code {k} NOT NULL, did {k}, term {t} NOT NULL, type {k} NOT NULL,
            lang {k}, preferred {i} NOT NULL DEFAULT 0, active {i} NOT NULL DEFAULT 1, source {k} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS tx_description_code ON tx_description (sid, code)",
        "CREATE INDEX IF NOT EXISTS tx_description_did ON tx_description (did)",
        f"""CREATE TABLE IF NOT EXISTS tx_edge (
            sid {i} NOT NULL, child {k} NOT NULL, parent {k} NOT NULL, kind {k} NOT NULL, source {k} NOT NULL,
            PRIMARY KEY (sid, child, parent, kind))""" + wr,
        "CREATE INDEX IF NOT EXISTS tx_edge_parent ON tx_edge (sid, parent, child)",
        f"""CREATE TABLE IF NOT EXISTS tx_closure (
            sid {i} NOT NULL, ancestor {k} NOT NULL, descendant {k} NOT NULL,
            PRIMARY KEY (sid, ancestor, descendant))""" + wr,
        "CREATE INDEX IF NOT EXISTS tx_closure_up ON tx_closure (sid, descendant, ancestor)",
        f"""CREATE TABLE IF NOT EXISTS tx_property (
            sid {i} NOT NULL, code {k} NOT NULL, property {k} NOT NULL, value {k} NOT NULL,
            type {k} NOT NULL, source {k} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS tx_property_code ON tx_property (sid, code)",
        "CREATE INDEX IF NOT EXISTS tx_property_value ON tx_property (sid, property, value)",
        f"""CREATE TABLE IF NOT EXISTS tx_map (
            map_url {k} NOT NULL,
            source_system {k} NOT NULL, source_code {k} NOT NULL, source_term {k},
            target_system {k} NOT NULL, target_code {k}, target_term {k},
            equivalence {k} NOT NULL, assured {i}, effective {t}, comment {t})""",
        "CREATE INDEX IF NOT EXISTS tx_map_source ON tx_map (source_system, source_code)",
        "CREATE INDEX IF NOT EXISTS tx_map_target ON tx_map (target_system, target_code)",
        "CREATE INDEX IF NOT EXISTS tx_map_url ON tx_map (map_url)",
        f"""CREATE TABLE IF NOT EXISTS tx_resource (
            type {k} NOT NULL, url {k} NOT NULL, version {k} NOT NULL, name {t}, content {t} NOT NULL,
            PRIMARY KEY (type, url, version))""",
        f"CREATE TABLE IF NOT EXISTS tx_state (name {k} PRIMARY KEY, value {i} NOT NULL)",
    ]


MIGRATION = Migration(3, "terminology: concepts, descriptions, is-a closure, maps", _v3)
