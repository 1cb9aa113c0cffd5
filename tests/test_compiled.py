"""The mypyc-compiled linkage engine (setup.py) is what runs, and is built from the current source.

An editable install compiles those modules in place; a ``.so`` beside its ``.py`` wins the import,
so an edit to the ``.py`` does nothing until a reinstall. These tests say so instead of letting a
stale build pass or fail the suite for the wrong reason.
"""

from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REINSTALL = "reinstall to rebuild it: make .venv/.installed (or pip install -e .)"


def compiled_sources() -> list[Path]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "COMPILED" for t in node.targets):
            return [ROOT / path for path in ast.literal_eval(node.value)]
    raise AssertionError("setup.py lists no COMPILED modules")


def module_name(source: Path) -> str:
    return ".".join(source.relative_to(ROOT / "src").with_suffix("").parts)


@pytest.mark.parametrize("source", compiled_sources(), ids=lambda p: p.name)
def test_compiled_module_is_current(source: Path) -> None:
    module = importlib.import_module(module_name(source))
    loaded = Path(module.__file__ or "")
    if os.environ.get("GPBRIDGE_PURE_PYTHON") == "1":
        assert loaded.suffix == ".py", f"GPBRIDGE_PURE_PYTHON=1 but {loaded.name} is compiled"
        return
    assert loaded.suffix == ".so", (
        f"{module.__name__} runs from {loaded.name}, not its mypyc build: {REINSTALL} "
        "(or set GPBRIDGE_PURE_PYTHON=1 to test the plain Python)")
    assert loaded.stat().st_mtime >= source.stat().st_mtime, (
        f"{source.name} changed after {loaded.name} was built, so the tests would run old code: {REINSTALL}")
