"""``gpbridge terminology load|systems`` through the Typer sub-app (mounted by the main CLI)."""

from __future__ import annotations

from pathlib import Path

from tx_fixtures import DMD, MAPS, RF2, ensure_terminology_schema
from typer.testing import CliRunner

from gpbridge.store.sqlite import SQLiteStore
from gpbridge.terminology.cli import app


def test_load_and_list(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    store = SQLiteStore(str(db))
    ensure_terminology_schema(store)  # until migration v3 is registered
    store.close()
    url = f"sqlite:///{db}"
    runner = CliRunner()
    for kind, path in (("snomed", RF2), ("read", MAPS), ("ctv3", MAPS), ("dmd", DMD)):
        result = runner.invoke(app, ["load", kind, str(path), "--database", url])
        assert result.exit_code == 0, result.output
    assert "21 concepts" in runner.invoke(app, ["load", "snomed", str(RF2), "--database", url]).output
    listed = runner.invoke(app, ["systems", "--database", url])
    assert "http://snomed.info/sct  complete" in listed.output
    assert "http://read.info/readv2  not-present" in listed.output


def test_a_bad_path_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    store = SQLiteStore(str(db))
    ensure_terminology_schema(store)
    store.close()
    result = CliRunner().invoke(app, ["load", "snomed", str(tmp_path / "nowhere"), "--database", f"sqlite:///{db}"])
    assert result.exit_code == 2
    assert "no such file or directory" in result.output
