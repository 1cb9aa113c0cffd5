"""A write is all or nothing even when the process dies in the middle of it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpbridge.config import Settings
from gpbridge.store.base import Store
from identity_helpers import source_patients

POSTGRES_DSN = Settings.from_env().test_postgres

CHILD = textwrap.dedent(
    """
    import os, sys
    from gpbridge.store import open_store
    store = open_store(sys.argv[1])
    with store.session() as s:
        for n in range(200):
            s.create({"resourceType": "Patient", "name": [{"family": f"Crash{n}"}]})
        s.flush()  # rows are in the database's transaction, not yet committed
        sys.stdout.write("flushed\\n")
        sys.stdout.flush()
        os._exit(9)  # the process dies before commit
    """
)


def _kill_mid_write(url: str) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, url], capture_output=True, text=True, timeout=120)
    assert "flushed" in proc.stdout, proc.stderr
    assert proc.returncode == 9


def test_process_death_mid_transaction_leaves_nothing(store: Store, tmp_path: Path) -> None:
    if store.dialect == "sqlite":
        url = f"sqlite:///{store.path}"  # type: ignore[attr-defined]
    else:
        if not POSTGRES_DSN:
            pytest.skip("needs GPBRIDGE_TEST_POSTGRES")
        url = POSTGRES_DSN
    with store.session() as s:
        s.create({"resourceType": "Patient", "name": [{"family": "Kept"}]})
    _kill_mid_write(url)
    assert source_patients(store) == 1
    versions, total = store.history("Patient")
    assert total == 1
