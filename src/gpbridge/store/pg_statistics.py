"""Keeps PostgreSQL's planner statistics current while a database fills up.

PostgreSQL plans a prepared statement once and reuses that plan; psycopg prepares any statement
run five times on a connection. Statements first run while the tables were small get plans for
small tables (a sequential scan of ``resource`` probing each row), and keep them until the tables'
statistics change. Autovacuum refreshes statistics only after a minute and 10% growth, so during
a bulk load into a new database every search (an NHS number lookup, identity linkage's candidate
search) cost milliseconds instead of a tenth of one, growing with the table (measured with
``auto_explain``, bench/ingest.py, 300 patients).

So the store counts the versions it writes and, each time a table has doubled since its last
statistics, runs ANALYZE in the background (a sample of 30,000 rows per table: tens of
milliseconds, not blocking writers). ANALYZE invalidates cached plans, so the next execution
plans against the new statistics. Doubling keeps it to a handful of runs over any load.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

FIRST_ANALYZE_ROWS = 1_000  # versions written before the first refresh of a new database
TABLES = ("resource", "history", "ix_token", "ix_string", "ix_date", "ix_number", "ix_quantity",
          "ix_reference", "ix_uri", "ix_composite")


class StatisticsRefresher:
    def __init__(self, pool: Any, first_rows: int = FIRST_ANALYZE_ROWS) -> None:
        self.pool = pool
        self.first_rows = first_rows
        self._lock = threading.Lock()
        self._written = 0  # versions written since the last refresh
        self._known = self._analysed_rows()  # history rows the current statistics describe
        self._thread: threading.Thread | None = None

    def _analysed_rows(self) -> int:
        try:
            with self.pool.connection() as conn:
                row = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'history'").fetchone()
        except Exception:  # noqa: BLE001 - a store that cannot read pg_class still works, only slower
            return 0
        return max(0, int(row[0])) if row else 0  # -1: never analysed

    def wrote(self, versions: int) -> None:
        """Count versions just committed; start a refresh when the tables have doubled."""
        with self._lock:
            self._written += versions
            if self._written < max(self.first_rows, self._known):
                return
            if self._thread is not None and self._thread.is_alive():
                return
            self._known += self._written
            self._written = 0
            self._thread = threading.Thread(target=self._analyse, name="pg-statistics", daemon=True)
            self._thread.start()

    def _analyse(self) -> None:
        try:
            with self.pool.connection() as conn:
                conn.execute(f"ANALYZE {', '.join(TABLES)}")
        except Exception as exc:  # noqa: BLE001 - statistics are an optimisation: never fail a write
            log.warning("could not refresh PostgreSQL statistics: %s", exc)

    def wait(self) -> None:
        """Until a refresh under way has finished (tests; closing the store)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    close = wait
