"""FHIR date/dateTime/instant text -> the epoch-second range its precision covers.

``2020`` covers [2020-01-01, 2021-01-01); ``2020-03-04T10:00:00+01:00`` covers that one second;
fractional seconds narrow the range to their precision. A time without a zone is taken as UTC.
The end is exclusive. Used for indexing, and usable by the query parser so both sides agree.
"""

from __future__ import annotations

import re
from functools import lru_cache

OPEN_LOW = -1e18  # an open Period start / end, comparable with any real instant
OPEN_HIGH = 1e18

_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year: int, month: int) -> int:
    return 29 if month == 2 and _is_leap(year) else _MONTH_DAYS[month - 1]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm);
    plain integer arithmetic is several times faster than building datetime objects."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def date_range(text: str) -> tuple[float, float] | None:
    """``(lo, hi)`` epoch seconds, hi exclusive; None when ``text`` is not a valid FHIR date."""
    # The longest valid form (nanoseconds and a zone) is ~35 characters; longer text is not a
    # date and must not fill the cache.
    return _date_range(text) if len(text) <= 40 else None


@lru_cache(maxsize=65536)  # birth dates and visit days recur across a bulk load
def _date_range(text: str) -> tuple[float, float] | None:
    m = _DATE.fullmatch(text)
    if m is None:
        return None
    year_s, month_s, day_s, hour_s, minute_s, second_s, fraction, zone = m.groups()
    year = int(year_s)
    if year < 1:
        return None
    if month_s is None:
        return (_days_from_civil(year, 1, 1) * 86400.0, _days_from_civil(year + 1, 1, 1) * 86400.0)
    month = int(month_s)
    if not 1 <= month <= 12:
        return None
    if day_s is None:
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        return (
            _days_from_civil(year, month, 1) * 86400.0,
            _days_from_civil(next_year, next_month, 1) * 86400.0,
        )
    day = int(day_s)
    if not 1 <= day <= _days_in_month(year, month):
        return None
    start = _days_from_civil(year, month, day) * 86400
    if hour_s is None:
        return (float(start), start + 86400.0)
    hour, minute = int(hour_s), int(minute_s)
    second = int(second_s) if second_s is not None else 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    lo = float(start + hour * 3600 + minute * 60 + second)
    if zone is not None and zone != "Z":
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 14 or zone_minutes > 59:
            return None
        offset = zone_hours * 3600 + zone_minutes * 60
        lo -= offset if zone[0] == "+" else -offset
    if second_s is None:
        return (lo, lo + 60.0)
    if fraction is None:
        return (lo, lo + 1.0)
    step = 10.0 ** -(len(fraction) - 1)
    lo += float(fraction)
    return (lo, lo + step)
