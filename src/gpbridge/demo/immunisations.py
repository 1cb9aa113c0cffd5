"""Immunisations: the UK childhood schedule for the cohorts it covered, and the adult programmes
(seasonal flu for 65s and the at-risk, pneumococcal at 65, shingles at 70-79, COVID-19 from 2020).

Vaccine codes are SNOMED CT international "vaccine product" concepts. The occasional declined dose
is recorded as ``not-done`` with a UK Core "vaccination declined" reason.
"""

from __future__ import annotations

import string
from typing import NamedTuple

from gpbridge.demo.build import JSON, codeable, ref, sct
from gpbridge.demo.codes import (
    CHILD_SCHEDULE,
    FLU_AT_RISK,
    IMMUNIZATION_FUNCTION,
    LEFT_UPPER_ARM,
    RIGHT_UPPER_ARM,
    ROUTE_INTRAMUSCULAR,
    ROUTE_ORAL,
    VACCINES,
)
from gpbridge.demo.context import Context
from gpbridge.demo.encounters import clinic_minute, weekday_on_or_before
from gpbridge.demo.timeline import DAYS_PER_YEAR, add_years, iso_date, iso_datetime, ordinal

COVID_START = ordinal("2020-12-08")
SHINGRIX_START = ordinal("2023-09-01")
PNEUMO_START = ordinal("2003-04-01")


class Dose(NamedTuple):
    vaccine: str
    day: int
    number: int


def childhood_doses(ctx: Context) -> list[Dose]:
    """The scheduled doses this child was due inside the record window (about 92% were given)."""
    person, profile, rng = ctx.person, ctx.profile, ctx.rng
    born = iso_date(person.birth)
    out = []
    for scheduled in CHILD_SCHEDULE:
        if not scheduled.born_from <= born < scheduled.born_before:
            continue
        if scheduled.sex and scheduled.sex != person.sex:
            continue
        day = weekday_on_or_before(person.birth + scheduled.age_days + rng.randint(0, 21), person.birth)
        if profile.start <= day <= profile.end and rng.random() < 0.935:
            out.append(Dose(scheduled.vaccine, day, scheduled.dose))
    return out


def adult_candidates(ctx: Context) -> list[Dose]:
    """Every adult-programme dose the patient was eligible for in the record window."""
    person, profile, rng = ctx.person, ctx.profile, ctx.rng
    out: list[Dose] = []
    at_risk = [p.onset for p in profile.problems if p.spec.key in FLU_AT_RISK]
    first_year = int(iso_date(profile.start)[:4])
    for year in range(first_year, int(iso_date(profile.end)[:4]) + 1):
        day = ordinal(f"{year}-10-01") + rng.randint(0, 70)
        age = (day - person.birth) / DAYS_PER_YEAR
        if age >= 65 or (age >= 18 and any(onset <= day for onset in at_risk)):
            out.append(Dose("flu", day, 1))
    pneumo = add_years(person.birth, 65) + rng.randint(0, 300)
    if pneumo >= PNEUMO_START:
        out.append(Dose("pneumo_adult", pneumo, 1))
    shingles = max(add_years(person.birth, 70), SHINGRIX_START) + rng.randint(0, 200)
    if (shingles - person.birth) / DAYS_PER_YEAR < 80:
        out.append(Dose("shingles", shingles, 1))
        out.append(Dose("shingles", shingles + rng.randint(60, 180), 2))
    out.extend(_covid(ctx))
    return [d for d in out if profile.start <= d.day <= profile.end]


def _covid(ctx: Context) -> list[Dose]:
    person, rng = ctx.person, ctx.rng
    age_2021 = (ordinal("2021-06-01") - person.birth) / DAYS_PER_YEAR
    if age_2021 < 18 or rng.random() > 0.88:
        return []
    # The oldest were vaccinated first (December 2020); the youngest adults by summer 2021.
    first = COVID_START + int(max(0.0, 90 - age_2021) * 3.2) + rng.randint(0, 20)
    out = [Dose("covid", first, 1), Dose("covid", first + rng.randint(56, 84), 2)]
    if age_2021 >= 50 or ctx.profile.problems:
        out.append(Dose("covid", ordinal("2021-09-20") + rng.randint(0, 90), 3))
    for number, year in enumerate(range(2022, 2026), start=4):
        if age_2021 + (year - 2021) >= 70 and rng.random() < 0.75:
            out.append(Dose("covid", ordinal(f"{year}-09-15") + rng.randint(0, 70), number))
    return out


def immunization(ctx: Context, dose: Dose, declined: bool = False) -> int:
    rng = ctx.rng
    vaccine = VACCINES[dose.vaccine]
    day = weekday_on_or_before(dose.day, ctx.person.birth)
    when = iso_datetime(day, clinic_minute(ctx))
    resource: JSON = {"resourceType": "Immunization", "status": "not-done" if declined else "completed"}
    if declined:
        resource["statusReason"] = sct(vaccine.declined)
    resource["vaccineCode"] = sct(vaccine.concept)
    resource["patient"] = ref(ctx.patient_urn)
    resource["occurrenceDateTime"] = when
    resource["recorded"] = when
    resource["primarySource"] = True
    if not declined:
        resource["location"] = ref(ctx.location)
        letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(2))
        resource["lotNumber"] = f"{letters}{rng.randrange(1000, 9999)}"
        age = (day - ctx.person.birth) / DAYS_PER_YEAR
        if vaccine.oral:
            resource["route"] = sct(ROUTE_ORAL)
        else:
            if age >= 2:  # infants are vaccinated in the thigh; only upper-arm sites are coded here
                resource["site"] = sct(LEFT_UPPER_ARM if rng.random() < 0.7 else RIGHT_UPPER_ARM)
            resource["route"] = sct(ROUTE_INTRAMUSCULAR)
        resource["performer"] = [
            {
                "function": codeable(IMMUNIZATION_FUNCTION, "AP", "Administering Provider"),
                "actor": ref(f"Practitioner/{ctx.nurse().id}"),
            }
        ]
    resource["protocolApplied"] = [{"doseNumberPositiveInt": dose.number}]
    ctx.add(resource)
    return 1
