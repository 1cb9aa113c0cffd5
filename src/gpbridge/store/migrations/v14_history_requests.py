"""Version 14: ``history.method`` records the request as answered — method and status, "PUT 201".

History entries used to guess their request from the row: every create showed as ``POST`` / 201
(a create by PUT too), a PATCH as a PUT, every update as 200 (a PUT that recreated a deleted
resource had answered 201). New rows hold what really happened (``store.base.history_method``);
older rows keep the method alone and are read with the status it usually had
(``store.base.history_request``), so no column is added and nothing is rewritten wholesale.

The one old case the data can still tell apart is corrected here: a PUT straight after a DELETE
recreated the resource, and was answered 201. Driven by the DELETE rows (few), each a primary-key
lookup of the version after it; one scan of ``history`` on either database.
"""

from __future__ import annotations

from typing import Any

from gpbridge.store.dialect import Dialect
from gpbridge.store.migrations import Migration


def ddl(d: Dialect) -> list[str]:
    return []


def recreations(cur: Any, d: Dialect, store: Any) -> None:
    cur.execute(
        "UPDATE history SET method = 'PUT 201' WHERE method = 'PUT' AND (rid, version) IN "
        "(SELECT rid, version + 1 FROM history WHERE method = 'DELETE')"
    )


MIGRATION = Migration(14, "history records each write's method and answered status", ddl, recreations)
