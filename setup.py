"""Compiles the batch-linkage engine with mypyc (C extensions from the type-annotated Python).

Everything else is in pyproject.toml. The compiled modules are plain Python too: set
GPBRIDGE_PURE_PYTHON=1 at install time to skip compiling (same behaviour, about a third slower
batch linkage; see docs/identity.md).
"""

import os

from setuptools import setup

# The per-record loop of ``gpbridge link --rebuild`` (bench/linkage.py): profile extraction,
# blocking keys, comparison and the decision. Modules listed here must type-check with mypy.
COMPILED = [
    "src/gpbridge/identity/profile.py",
    "src/gpbridge/identity/blocking.py",
    "src/gpbridge/identity/compare.py",
    "src/gpbridge/identity/model.py",
    "src/gpbridge/identity/decide.py",
    "src/gpbridge/identity/batch.py",
    "src/gpbridge/identity/nicknames.py",
    "src/gpbridge/identity/nhs_number.py",
]

ext_modules = []
if os.environ.get("GPBRIDGE_PURE_PYTHON") != "1":
    from mypyc.build import mypycify

    # --ignore-missing-imports: the build runs before the dependencies are installed (jellyfish,
    # rapidfuzz: their calls are typed Any, which is all the compiled code needs of them)
    ext_modules = mypycify(["--ignore-missing-imports", *COMPILED], opt_level="3", group_name="gpbridge_linkage")

setup(ext_modules=ext_modules)
