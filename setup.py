"""Compiles the hot loops with mypyc (C extensions from the same type-annotated Python).

Everything else is in pyproject.toml. The compiled modules are plain Python too: set
GPBRIDGE_PURE_PYTHON=1 at install time to skip compiling (same behaviour, slower: batch linkage by
about a third, docs/identity.md; validation by about a quarter, docs/validation.md; a
store write by about a tenth, index extraction).
"""

import os

from setuptools import setup

# Hot loops: the per-record loop of ``gpbridge link --rebuild`` (bench/linkage.py: profile
# extraction, blocking keys, comparison, the decision) and the validator's walk. Modules listed here
# must type-check with mypy; mypyc turns their annotations into run-time checks.
COMPILED = [
    "src/gpbridge/identity/profile.py",
    "src/gpbridge/identity/blocking.py",
    "src/gpbridge/identity/compare.py",
    "src/gpbridge/identity/model.py",
    "src/gpbridge/identity/decide.py",
    "src/gpbridge/identity/batch.py",
    "src/gpbridge/identity/nicknames.py",
    "src/gpbridge/identity/nhs_number.py",
    # every write: validation's walk over the resource (bench/validate.py, bench/ingest.py)
    "src/gpbridge/fhir/element_path.py",
    "src/gpbridge/fhir/structure.py",
    "src/gpbridge/fhir/core_checks.py",
    # every write: search index extraction (the resource's values for every search parameter)
    "src/gpbridge/search/fhirpath_runtime.py",
    "src/gpbridge/search/index_values.py",
    "src/gpbridge/search/dates.py",
    "src/gpbridge/search/text.py",
    "src/gpbridge/search/references.py",
    "src/gpbridge/search/convert.py",
    "src/gpbridge/search/composite.py",
    "src/gpbridge/search/extract.py",
    "src/gpbridge/store/index_rows.py",
    # every write in a transaction Bundle: its references rewritten, its nesting checked
    "src/gpbridge/store/reference_walk.py",
    "src/gpbridge/store/transaction.py",
    "src/gpbridge/store/prepared.py",
    "src/gpbridge/store/ids.py",
    "src/gpbridge/store/session.py",
    # every search, and inside the write lock every Patient's candidate search and linkage
    "src/gpbridge/search/sql.py",
    "src/gpbridge/identity/linkage.py",
    "src/gpbridge/identity/golden.py",
]

ext_modules = []
if os.environ.get("GPBRIDGE_PURE_PYTHON") != "1":
    from mypyc.build import mypycify

    # --ignore-missing-imports: the build runs before the dependencies are installed (jellyfish,
    # rapidfuzz: their calls are typed Any, which is all the compiled code needs of them).
    # --follow-imports=silent: modules the compiled ones import stay interpreted; only their
    # signatures matter here, not type errors inside them.
    ext_modules = mypycify(["--ignore-missing-imports", "--follow-imports=silent", *COMPILED],
                           opt_level="3", group_name="gpbridge_native")

setup(ext_modules=ext_modules)
