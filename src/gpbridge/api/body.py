"""Request bodies: size limit, content type, JSON parsing and nesting guard, all as FHIR errors.

Checks that depend on the URL as well as the body (resourceType and id against the URL) live in
``store.interactions`` so transactions apply the same rules.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError, bad_request

JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_content_type(request: Request, *accepted: str) -> str:
    kind = content_type(request)
    if kind not in accepted:
        shown = kind or "no Content-Type"
        raise FhirError.of(
            415, "not-supported", f"{shown} is not accepted here; send {' or '.join(accepted)}"
        )
    return kind


async def read_bytes(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a lying or absent Content-Length: stop reading as soon as we know
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> FhirError:
    return FhirError.of(413, "too-long", f"Request body is larger than {limit} bytes")


def parse_json(raw: bytes, settings: Settings, *, check_nesting: bool = True) -> dict[str, Any]:
    if not raw.strip():
        raise bad_request("Request body is empty", code="required")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            f"Malformed JSON at line {exc.lineno} column {exc.colno} (byte {exc.pos}): {exc.msg}",
            code="structure",
        ) from None
    if not isinstance(parsed, dict):
        raise bad_request("Request body must be a JSON object", code="structure")
    if check_nesting:
        check_depth(parsed, settings.max_json_depth)
    return parsed


def check_depth(document: dict[str, Any] | list[Any], max_depth: int) -> None:
    """Reject JSON nested deeper than ``max_depth`` containers (the top object is depth 1)."""
    if _depth_exceeds(document, 1, max_depth):
        raise bad_request(f"JSON is nested deeper than {max_depth} levels", code="structure")


def _depth_exceeds(node: Any, depth: int, max_depth: int) -> bool:
    if depth > max_depth:
        return True
    values = node.values() if type(node) is dict else node
    for value in values:
        kind = type(value)
        if (kind is dict or kind is list) and _depth_exceeds(value, depth + 1, max_depth):
            return True
    return False


async def read_resource(
    request: Request, settings: Settings, *, check_nesting: bool = True
) -> dict[str, Any]:
    require_content_type(request, *JSON_TYPES)
    raw = await read_bytes(request, settings.max_body_bytes)
    return parse_json(raw, settings, check_nesting=check_nesting)


async def read_json_patch(request: Request, settings: Settings) -> Any:
    require_content_type(request, JSON_PATCH)
    raw = await read_bytes(request, settings.max_body_bytes)
    try:
        operations = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            f"Malformed JSON Patch at line {exc.lineno} column {exc.colno}: {exc.msg}", code="structure"
        ) from None
    if isinstance(operations, list):
        # patch values become part of the resource: the same nesting limit applies
        check_depth(operations, settings.max_json_depth)
    return operations


async def read_form(request: Request, settings: Settings) -> list[tuple[str, str]]:
    """``POST Type/_search`` parameters: the form body joined with any URL parameters."""
    params = parse_qsl(request.url.query, keep_blank_values=True)
    if content_type(request):
        require_content_type(request, FORM)
    raw = await read_bytes(request, settings.max_body_bytes)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise bad_request("Form body is not UTF-8") from None
    params.extend(parse_qsl(text, keep_blank_values=True))
    return params
