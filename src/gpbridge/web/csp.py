"""The web view's Content-Security-Policy: the API's strict policy plus the one inline script the
NHS.UK page template carries (it marks the body ``js-enabled``), allowed by its SHA-256 hash.
``transport.SecurityHeaders`` sends it on every ``/web`` response.

The hash is computed from the installed template, so a new nhsuk-frontend-jinja release keeps
working; nothing else inline may run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

from jinja2 import PackageLoader

from gpbridge.security.transport import CONTENT_SECURITY_POLICY

_INLINE = re.compile(r"<script[^>]*>(.*?)</script>", re.S)


@lru_cache(maxsize=1)
def web_policy() -> bytes:
    source = PackageLoader("nhsuk_frontend_jinja", "templates").get_source(None, "nhsuk/template.jinja")[0]  # type: ignore[arg-type]
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE.findall(source)
        if body.strip() and "{{" not in body and "{%" not in body  # static scripts only
    ]
    scripts = f"default-src 'self'; script-src 'self' {' '.join(hashes)};"
    policy = CONTENT_SECURITY_POLICY.decode().replace("default-src 'self';", scripts, 1)
    return policy.encode()
