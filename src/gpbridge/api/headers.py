"""FHIR's use of HTTP headers: ETag/If-Match versions, Prefer, Last-Modified dates."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from gpbridge.fhir.outcome import bad_request
from gpbridge.store.interactions import parse_etag

RETURN_PREFERENCES = ("minimal", "representation", "OperationOutcome")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(instant: str) -> str:
    """FHIR instant → RFC 9110 IMF-fixdate (``Last-Modified``).

    Formatted by hand: email.utils.format_datetime costs several times more on every response.
    """
    try:
        t = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return instant  # an unparseable stored instant should not fail the read
    return (
        f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT"
    )


def if_match(request: Request) -> int | None:
    value = request.headers.get("if-match")
    return None if value is None else parse_etag(value, "If-Match")


def if_none_match(request: Request) -> int | None:
    value = request.headers.get("if-none-match")
    if value is None or value.strip() == "*":
        return None
    return parse_etag(value, "If-None-Match")


def prefer(request: Request) -> dict[str, str]:
    """``Prefer: return=minimal, handling=strict`` → {"return": "minimal", "handling": "strict"}."""
    header = request.headers.get("prefer")
    if not header:
        return {}
    out: dict[str, str] = {}
    for part in header.replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def prefer_return(request: Request, default: str = "representation") -> str:
    value = prefer(request).get("return", default)
    if value not in RETURN_PREFERENCES:
        raise bad_request(f"Prefer: return={value} is not one of {', '.join(RETURN_PREFERENCES)}")
    return value


def strict_handling(request: Request) -> bool:
    return prefer(request).get("handling") == "strict"
