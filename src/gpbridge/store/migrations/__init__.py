"""Versioned schema migrations, applied in order on start; an old database upgrades in place.

Each migration is DDL for a dialect plus an optional data step run in the same transaction, so a
failed upgrade leaves the database at its previous version with nothing lost. ``schema_version``
records what has been applied.

Layout (HAPI-style, measured in bench/ingest.py; see docs/search.md):
- ``resource``: one row per logical resource (surrogate ``rid``, type, id, current version).
- ``history``: every version with its JSON; the current one is joined through (rid, version).
- ``ix_*``: one table per search-parameter kind, clustered by (rid, pid, ...) so a resource's rows
  are appended and deleted together cheaply, plus one covering index per table for search.
- ``search_param``: the integer ``pid`` of each (resource type, parameter code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpbridge.store.dialect import Dialect


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    ddl: Callable[[Dialect], list[str]]
    # optional data step: called with (cursor, dialect, store) inside the migration's transaction
    data: Callable[[Any, Dialect, Any], None] | None = None


def _v1(d: Dialect) -> list[str]:
    i, r, t, k = d.integer, d.real, d.text, d.key_text
    ident = "INTEGER PRIMARY KEY" if d.name == "sqlite" else "BIGINT PRIMARY KEY"
    wr = d.without_rowid
    sequence = ["CREATE SEQUENCE resource_rid_seq"] if d.name == "postgresql" else []
    return sequence + [
        f"""CREATE TABLE resource (
            rid {ident},
            type {k} NOT NULL,
            id {k} NOT NULL,
            version {i} NOT NULL,
            lu {r} NOT NULL,
            deleted {i} NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX resource_type_id ON resource (type, id)",
        "CREATE INDEX resource_type_lu ON resource (type, deleted, lu)",
        f"""CREATE TABLE history (
            rid {i} NOT NULL,
            version {i} NOT NULL,
            lu {r} NOT NULL,
            last_updated {t} NOT NULL,
            method {t} NOT NULL,
            content {d.blob_json},
            PRIMARY KEY (rid, version)
        )""",
        "CREATE INDEX history_lu ON history (lu)",
        f"""CREATE TABLE search_param (
            pid {ident},
            type {k} NOT NULL,
            code {k} NOT NULL
        )""",
        "CREATE UNIQUE INDEX search_param_type_code ON search_param (type, code)",
        f"""CREATE TABLE ix_token (
            rid {i} NOT NULL, pid {i} NOT NULL, system {k} NOT NULL, code {k} NOT NULL, text {t},
            PRIMARY KEY (rid, pid, system, code))""" + wr,
        "CREATE INDEX ix_token_search ON ix_token (pid, code, system, rid)",
        f"""CREATE TABLE ix_string (
            rid {i} NOT NULL, pid {i} NOT NULL, norm {k} NOT NULL, exact {t} NOT NULL,
            PRIMARY KEY (rid, pid, norm, exact))""" + wr,
        "CREATE INDEX ix_string_search ON ix_string (pid, norm, rid)",
        f"""CREATE TABLE ix_date (
            rid {i} NOT NULL, pid {i} NOT NULL, lo {r} NOT NULL, hi {r} NOT NULL,
            PRIMARY KEY (rid, pid, lo, hi))""" + wr,
        "CREATE INDEX ix_date_search ON ix_date (pid, lo, hi, rid)",
        f"""CREATE TABLE ix_number (
            rid {i} NOT NULL, pid {i} NOT NULL, value {r} NOT NULL,
            PRIMARY KEY (rid, pid, value))""" + wr,
        "CREATE INDEX ix_number_search ON ix_number (pid, value, rid)",
        f"""CREATE TABLE ix_quantity (
            rid {i} NOT NULL, pid {i} NOT NULL, system {k} NOT NULL, code {k} NOT NULL, value {r} NOT NULL,
            PRIMARY KEY (rid, pid, system, code, value))""" + wr,
        "CREATE INDEX ix_quantity_search ON ix_quantity (pid, code, value, rid)",
        f"""CREATE TABLE ix_reference (
            rid {i} NOT NULL, pid {i} NOT NULL, ttype {k} NOT NULL, tid {k} NOT NULL,
            PRIMARY KEY (rid, pid, ttype, tid))""" + wr,
        "CREATE INDEX ix_reference_search ON ix_reference (pid, tid, ttype, rid)",
        f"""CREATE TABLE ix_uri (
            rid {i} NOT NULL, pid {i} NOT NULL, uri {k} NOT NULL,
            PRIMARY KEY (rid, pid, uri))""" + wr,
        "CREATE INDEX ix_uri_search ON ix_uri (pid, uri, rid)",
    ]


def _all() -> list[Migration]:
    # Later versions live in their own modules (one idea each); imported here to keep the order in one place.
    from gpbridge.store.migrations import (
        v2_composites,
        v3_terminology,
        v6_audit,
        v7_derived_params,
        v8_text_content,
        v9_auth_state,
        v10_compartments,
        v11_reference_views,
        v12_resource_id_index,
        v13_quantity_units,
        v14_history_requests,
    )

    # v4 and v5 were reserved for identity and adapters, which needed no tables of their own.
    return [
        Migration(1, "resources, history and search index tables", _v1),
        v2_composites.MIGRATION,
        v3_terminology.MIGRATION,
        v6_audit.MIGRATION,
        v7_derived_params.MIGRATION,
        v8_text_content.MIGRATION,
        v9_auth_state.MIGRATION,
        v10_compartments.MIGRATION,
        v11_reference_views.MIGRATION,
        v12_resource_id_index.MIGRATION,
        v13_quantity_units.MIGRATION,
        v14_history_requests.MIGRATION,
    ]


MIGRATIONS: list[Migration] = []


def migrations() -> list[Migration]:
    if not MIGRATIONS:
        MIGRATIONS.extend(_all())
    return MIGRATIONS


def latest_version() -> int:
    return migrations()[-1].version


def schema_version_ddl(d: Dialect) -> str:
    return f"CREATE TABLE IF NOT EXISTS schema_version (version {d.integer} NOT NULL, applied {d.text} NOT NULL)"
