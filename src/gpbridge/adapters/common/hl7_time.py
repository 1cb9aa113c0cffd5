"""HL7 timestamps (v2 DTM/TS, v3 TS: ``YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]``) as FHIR dateTimes.

One conversion for both HL7 families: the precision is kept (``2024`` stays a year), a missing
zone is England's local time on that date (GMT or BST, as GP systems record it), and impossible
dates or zones give None so the adapter can report the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")
_TIMESTAMP = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?\Z")


@lru_cache(maxsize=65536)
def hl7_timestamp(value: str, max_fraction: int = 6) -> str | None:
    """The FHIR date/dateTime for an HL7 timestamp, or None when it is not a valid one."""
    m = _TIMESTAMP.match(value)
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    if fraction and len(fraction) > max_fraction:
        return None
    try:
        if month is None:
            return year
        if day is None:
            datetime(int(year), int(month), 1)
            return f"{year}-{month}"
        if hour is None:
            datetime(int(year), int(month), int(day))
            return f"{year}-{month}-{day}"
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "")
    if offset:
        if int(offset[1:3]) > 14 or int(offset[3:]) > 59:
            return None
        return f"{text}{offset[:3]}:{offset[3:]}"
    utc = moment.replace(tzinfo=UK).utcoffset()
    minutes = int(utc.total_seconds() // 60) if utc is not None else 0
    return f"{text}{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
