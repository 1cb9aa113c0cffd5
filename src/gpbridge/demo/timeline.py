"""Dates for the synthetic record, all relative to one fixed reference date.

Dates are handled as proleptic ordinals (``date.toordinal()``) because generation does millions of
them; they become ISO strings only when written. UK offsets are computed from the BST rule rather
than zoneinfo so the output never depends on the host's time-zone database.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

# Fixed, not date.today(): the same seed must give the same bytes on any day.
REFERENCE_DATE = date(2026, 11, 1)
REF = REFERENCE_DATE.toordinal()
DAYS_PER_YEAR = 365.25


def ordinal(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


def iso_date(day: int) -> str:
    return date.fromordinal(day).isoformat()


@lru_cache(maxsize=256)
def _bst_range(year: int) -> tuple[int, int]:
    """British Summer Time runs from the last Sunday of March to the last Sunday of October."""

    def last_sunday(month: int) -> int:
        last = date(year, month, 31)
        return (last - timedelta(days=(last.weekday() + 1) % 7)).toordinal()

    return last_sunday(3), last_sunday(10)


def uk_offset(day: int) -> str:
    start, end = _bst_range(date.fromordinal(day).year)
    return "+01:00" if start <= day < end else "+00:00"


def iso_datetime(day: int, minute: int) -> str:
    """``day`` at ``minute`` past local midnight, with the UK offset in force that day."""
    return f"{date.fromordinal(day).isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00{uk_offset(day)}"


def years_between(start: int, end: int) -> float:
    return (end - start) / DAYS_PER_YEAR


def add_years(day: int, years: float) -> int:
    return day + int(years * DAYS_PER_YEAR)
