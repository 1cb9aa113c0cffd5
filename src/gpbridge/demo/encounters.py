"""GP consultations (Encounter, class AMB) and the clinic days they fall on."""

from __future__ import annotations

from gpbridge.demo.build import JSON, codeable, ref, sct
from gpbridge.demo.codes import (
    SEEN_AT_HOME,
    TELEPHONE_CONSULTATION,
    V3_ACT_CODE,
    V3_PARTICIPATION,
    VIDEO_CONSULTATION,
    Concept,
)
from gpbridge.demo.context import Context
from gpbridge.demo.practices import Clinician
from gpbridge.demo.timeline import iso_datetime

REMOTE = (TELEPHONE_CONSULTATION, VIDEO_CONSULTATION)


def weekday_on_or_before(day: int, floor: int) -> int:
    """Move a weekend day back to Friday (surgeries are weekday services), never before ``floor``."""
    weekday = (day - 1) % 7  # ordinal 1 (1 Jan AD 1) was a Monday
    if weekday >= 5:
        day -= weekday - 4
    return max(day, floor)


def clinic_minute(ctx: Context, home_visit: bool = False) -> int:
    """A 10-minute appointment slot: 08:00-17:50 in surgery, 12:00-15:50 for home visits."""
    if home_visit:
        return ctx.rng.randrange(12 * 60, 16 * 60, 10)
    return ctx.rng.randrange(8 * 60, 18 * 60, 10)


def encounter(
    ctx: Context,
    day: int,
    minute: int,
    kind: Concept,
    clinician: Clinician,
    reason_urn: str | None = None,
) -> str:
    length = 10 if kind in REMOTE else ctx.rng.choice((10, 10, 15, 20))
    resource: JSON = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": V3_ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [sct(kind)],
        "subject": ref(ctx.patient_urn),
        "participant": [
            {
                "type": [codeable(V3_PARTICIPATION, "PPRF", "primary performer")],
                "individual": ref(f"Practitioner/{clinician.id}"),
            }
        ],
        "period": {
            "start": iso_datetime(day, minute),
            "end": iso_datetime(day, min(minute + length, 24 * 60 - 1)),
        },
    }
    if reason_urn:
        resource["reasonReference"] = [ref(reason_urn)]
    if kind not in REMOTE and kind != SEEN_AT_HOME:
        resource["location"] = [{"location": ref(ctx.location)}]
    resource["serviceProvider"] = ref(ctx.organization)
    return ctx.add(resource)
