"""Fixtures for the FHIR model tests: the raw R4 core package and the spec compiler module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def r4_package(shared_data: Path) -> Path:
    package = shared_data / "fhir-r4-core" / "package"
    if not (package / "package.json").is_file():
        pytest.skip(f"FHIR R4 core package not found at {package}")
    return package


@pytest.fixture(scope="session")
def compile_spec() -> ModuleType:
    """tools/compile_spec.py imported by path: tools/ is not an installed package."""
    path = REPO / "tools" / "compile_spec.py"
    module_spec = importlib.util.spec_from_file_location("compile_spec", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["compile_spec"] = module
    module_spec.loader.exec_module(module)
    return module
