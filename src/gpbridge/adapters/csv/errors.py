"""The CSV adapter's error type (see ``adapters.common.errors``)."""

from __future__ import annotations

from gpbridge.adapters.common.errors import AdapterError


class CsvError(AdapterError):
    adapter = "csv"


class ProfileError(ValueError):
    """A mapping profile that cannot be used: a configuration error, reported before any data."""
