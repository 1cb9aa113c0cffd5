"""Which patient's record a resource belongs to, as a number that leads every search index.

A transaction Bundle is usually one patient's record. With the index rows of a resource keyed
first by its compartment, a Bundle's rows are neighbours in each search index and a commit
dirties a few pages instead of pages all over every index (docs/search.md, "What a write costs").

The compartment of a resource is a 63-bit hash of the id of the Patient its own ``patient``
search parameter names (local references only): 0 when it names none (and for every resource of
a type without a ``patient`` parameter: Patient, Practitioner, Organization...), ``SEVERAL`` when
it names more than one. A hash, not the Patient's rid: a reference to a Patient not written yet
needs no lookup, and nothing moves when it arrives. The ``compartment`` table lists every value
written, so a search that cannot name the patient seeks each compartment's range in turn.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

NONE = 0  # no patient (or a type outside the Patient compartment)
SEVERAL = 1  # more than one patient on the home parameter
HOME_PARAMETER = "patient"
# Rows of these parameters are filed under NONE whatever their resource's compartment: they are
# looked up without the patient (conditional creates and references match on identifiers: every
# adapter's write does), and one global range answers that in one seek instead of one per patient.
GLOBAL_PARAMETERS = frozenset({"identifier"})


@lru_cache(maxsize=4096)  # a Bundle's ~40 resources name one patient: hash it once, not 40 times
def key(patient_id: str) -> int:
    """The compartment number of ``Patient/<patient_id>``: never NONE or SEVERAL."""
    value = int.from_bytes(hashlib.blake2b(patient_id.encode(), digest_size=8).digest(), "big") >> 1
    return value if value > SEVERAL else value + 2


def local_patient_id(ttype: str | None, target: str | None) -> str | None:
    """The Patient id of an index reference row's target, when it is a local Patient reference."""
    if ttype != "Patient" or not target or "/" in target or ":" in target:
        return None
    return target


def of_patients(patient_ids: set[str]) -> int:
    if not patient_ids:
        return NONE
    if len(patient_ids) > 1:
        return SEVERAL
    return key(next(iter(patient_ids)))
