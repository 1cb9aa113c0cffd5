"""Version 11: no index rows for reference views (``search.derived.reference_views``).

``Observation.patient`` is ``Observation.subject.where(resolve() is Patient)``: its rows are
``subject``'s rows whose target is a Patient, and searches now read them there. The data step
deletes the views' own rows (no DDL). It runs after version 10, which read ``patient`` rows to
file every index row under its compartment.

Rows written before this version kept an untyped reference's ``Reference.type`` out of ``ttype``
(``search.convert.reference_reference`` now puts it in), so those few source rows are given it
from the view's rows before they go: the views search alike before and after.
"""

from __future__ import annotations

from typing import Any

from gpbridge.store.dialect import Dialect
from gpbridge.store.migrations import Migration


def ddl(d: Dialect) -> list[str]:
    return []


def drop_view_rows(cur: Any, d: Dialect, store: Any) -> None:
    from gpbridge.search.derived import reference_views

    store._load_search_params_with(cur)
    for (type_, code), view in reference_views().items():
        pid, source = store.pids.get((type_, code)), store.pids.get((type_, view.source))
        if pid is None or source is None:
            continue
        # an untyped source row (ttype '') that the view indexed under its Reference.type
        cur.execute(d.sql(
            "UPDATE ix_reference SET ttype = (SELECT MIN(v.ttype) FROM ix_reference v WHERE v.rid = ix_reference.rid "
            "AND v.pid = ? AND v.tid = ix_reference.tid) WHERE pid = ? AND ttype = '' AND EXISTS (SELECT 1 FROM "
            "ix_reference v WHERE v.rid = ix_reference.rid AND v.pid = ? AND v.tid = ix_reference.tid AND v.ttype <> '') "
            "AND NOT EXISTS (SELECT 1 FROM ix_reference w WHERE w.rid = ix_reference.rid AND w.pid = ix_reference.pid "
            "AND w.tid = ix_reference.tid AND w.ttype <> '')"
        ), [pid, source, pid])
        cur.execute(d.sql("DELETE FROM ix_reference WHERE pid = ?"), [pid])


MIGRATION = Migration(11, "no index rows for reference views (patient beside subject)", ddl, drop_view_rows)
