"""The GP2GP adapter's error type (see ``adapters.common.errors``)."""

from __future__ import annotations

from gpbridge.adapters.common.errors import AdapterError


class Gp2gpError(AdapterError):
    adapter = "gp2gp"
