"""``GET [base]/metadata``: the CapabilityStatement, generated once per base URL and cached."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gpbridge.api.capability import capability_statement
from gpbridge.api.context import base_url, gate
from gpbridge.api.errors import fhir_endpoint
from gpbridge.api.responses import json_response


@fhir_endpoint
async def metadata(request: Request) -> Response:
    api, _ = gate(request, "read", "CapabilityStatement")
    base = base_url(request, api.settings)
    key = f"capability:{base}"
    content = api.cache.get(key)
    if content is None:
        content = orjson.dumps(capability_statement(base))
        api.cache[key] = content
    return json_response(request, content)
