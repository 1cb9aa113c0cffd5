"""FHIR date/dateTime/instant values as [lo, hi) ranges of epoch seconds, by their precision.

``2020`` is all of 2020; ``2020-03-04T10:00+01:00`` is that minute. A value without a time zone
is taken as UTC (FHIR leaves it to the server; UTC is predictable). Used for index rows and for
search values alike, so both sides agree on ranges.
"""

from __future__ import annotations

import calendar
import re

_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(\.\d+)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)

OPEN_LO = -1e18
OPEN_HI = 1e18


def date_range(text: str) -> tuple[float, float] | None:
    """The [lo, hi) range a FHIR date/dateTime/instant covers, or None if it is not one."""
    m = _DATE.match(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, tz = m.groups()
    y = int(year)
    try:
        if month is None:
            return _utc(y, 1, 1), _utc(y + 1, 1, 1)
        mo = int(month)
        if not 1 <= mo <= 12:
            return None
        if day is None:
            ny, nm = (y + 1, 1) if mo == 12 else (y, mo + 1)
            return _utc(y, mo, 1), _utc(ny, nm, 1)
        d = int(day)
        if not 1 <= d <= calendar.monthrange(y, mo)[1]:
            return None
        start_of_day = _utc(y, mo, d)
        if hour is None:
            return start_of_day, start_of_day + 86400.0
        h = int(hour)
        mi = int(minute) if minute is not None else 0
        s = int(second) if second is not None else 0
        if h > 24 or mi > 59 or s > 60:
            return None
        offset = _offset_seconds(tz)
        lo = start_of_day + h * 3600 + mi * 60 + s - offset
        if fraction:
            digits = fraction[1:]
            lo += int(digits) / 10 ** len(digits)
            return lo, lo + 10.0 ** -len(digits)
        if second is not None:
            return lo, lo + 1.0
        if minute is not None:
            return lo, lo + 60.0
        return lo, lo + 3600.0
    except ValueError:
        return None


def _utc(y: int, m: int, d: int) -> float:
    return float(calendar.timegm((y, m, d, 0, 0, 0, 0, 0, 0)))


def _offset_seconds(tz: str | None) -> int:
    if not tz or tz == "Z":
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
