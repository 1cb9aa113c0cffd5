"""What every adapter shares: the import pipeline, code mapping, provenance, archive and quarantine."""

from gpbridge.adapters.common.codes import CodeMapper, DictCodeMapper, NullCodeMapper, default_code_mapper
from gpbridge.adapters.common.errors import AdapterError
from gpbridge.adapters.common.pipeline import ImportResult, Translation, run_import
from gpbridge.adapters.common.quarantine import (
    QuarantineItem,
    quarantine_list,
    quarantine_retry,
    quarantine_show,
)

__all__ = [
    "AdapterError",
    "CodeMapper",
    "DictCodeMapper",
    "ImportResult",
    "NullCodeMapper",
    "QuarantineItem",
    "Translation",
    "default_code_mapper",
    "quarantine_list",
    "quarantine_retry",
    "quarantine_show",
    "run_import",
]
