"""One patient's transaction Bundle: the standing record first, then clinical events until the
patient's entry budget is spent.

The budget is ``entries_per_patient`` scaled by an age factor (the old and the very young see their
GP most) and gamma noise, normalised so the population average stays ``entries_per_patient``. The
standing record is the Patient, allergies, each chronic problem with its diagnosing consultation
and medicines, smoking status and childhood immunisations. Events (reviews, acute illnesses, repeat
issues, checks, blood tests, adult vaccines) then fill the budget; each is trimmed to the room left,
so a bundle holds exactly its budget unless the standing record alone exceeds it.
"""

from __future__ import annotations

import math
import random

from gpbridge.demo import immunisations, medications, observations
from gpbridge.demo.build import JSON
from gpbridge.demo.codes import (
    ACUTE_PROBLEMS,
    ASTHMA_CLINIC,
    BABY_CLINIC,
    COPD_CLINIC,
    DIABETIC_CLINIC,
    HYPERTENSION_CLINIC,
    OVER_THE_COUNTER,
    PANELS,
    SEEN_AT_HOME,
    SEEN_IN_SURGERY,
    TELEPHONE_CONSULTATION,
    WELL_CHILD_CLINIC,
    WELL_PERSON_CLINIC,
    Concept,
)
from gpbridge.demo.context import Context
from gpbridge.demo.encounters import clinic_minute, encounter, weekday_on_or_before
from gpbridge.demo.person import (
    AGE_BAND_CUM,
    AGE_BAND_STARTS,
    Person,
    age_band_width,
    patient_resource,
    proxy_resource,
)
from gpbridge.demo.practices import DEMO_USER_SYSTEM
from gpbridge.demo.problems import allergies, condition, link_to_problem
from gpbridge.demo.profile import Problem, sample_profile
from gpbridge.demo.timeline import DAYS_PER_YEAR, ordinal
from gpbridge.identity.nhs_number import NHS_NUMBER_SYSTEM

NURSE_CLINICS = (ASTHMA_CLINIC, COPD_CLINIC, DIABETIC_CLINIC, HYPERTENSION_CLINIC, WELL_PERSON_CLINIC)
REMOTE_ERA = ordinal("2020-03-23")  # the first lockdown: remote consultations became routine
LAB_TESTS = ("hba1c", "tsh")


# GP contact by age, relative: (below this age, factor). The under-5s and over-75s consult most.
_AGE_FACTORS = ((5, 1.0), (18, 0.45), (40, 0.6), (60, 0.9), (75, 1.5), (math.inf, 2.1))


def _age_factor(age: float) -> float:
    return next(factor for upper, factor in _AGE_FACTORS if age < upper)


def _mean_age_factor() -> float:
    shares = [AGE_BAND_CUM[0]] + [b - a for a, b in zip(AGE_BAND_CUM, AGE_BAND_CUM[1:], strict=False)]
    weighted = sum(
        s * _age_factor(start + age_band_width(start) / 2)
        for s, start in zip(shares, AGE_BAND_STARTS, strict=True)
    )
    return weighted / AGE_BAND_CUM[-1]


MEAN_AGE_FACTOR = _mean_age_factor()


def entry_budget(rng: random.Random, age: float, entries_per_patient: int) -> int:
    weight = _age_factor(age) / MEAN_AGE_FACTOR * rng.gammavariate(2.0, 0.5)
    return max(2, round(entries_per_patient * weight))


def patient_bundle(rng: random.Random, person: Person, entries_per_patient: int) -> JSON:
    profile = sample_profile(rng, person)
    ctx = Context(rng, person, profile)
    target = entry_budget(rng, person.age, entries_per_patient)
    if person.index == 0:
        target = max(target, 2 * entries_per_patient)  # patient-1 is the demo's showcase record
    patient = patient_resource(rng, person)
    ctx.patient_urn = ctx.add(patient, if_none_exist=f"identifier={NHS_NUMBER_SYSTEM}|{person.nhs_number}")
    if person.index == 0:
        ctx.add(proxy_resource(rng, ctx.patient_urn), if_none_exist=f"identifier={DEMO_USER_SYSTEM}|proxy-1")
    _standing_record(ctx, target)
    _fill(ctx, target)
    return {"resourceType": "Bundle", "type": "transaction", "entry": ctx.entries}


# ------------------------------------------------------------------------------- standing record


def _standing_record(ctx: Context, target: int) -> None:
    allergies(ctx)
    for problem in sorted(ctx.profile.problems, key=lambda p: p.onset):
        _diagnose(ctx, problem, target)
    profile = ctx.profile
    if profile.smoking is not None and ctx.count < target:
        day = weekday_on_or_before(ctx.rng.randint(profile.start, profile.end), ctx.person.birth)
        observations.smoking_status(ctx, day, clinic_minute(ctx), None, ctx.gp(), target - ctx.count)
    for dose in immunisations.childhood_doses(ctx):
        if ctx.count >= target:
            break
        immunisations.immunization(ctx, dose, declined=ctx.rng.random() < 0.015)


def _diagnose(ctx: Context, problem: Problem, target: int) -> None:
    """The consultation where the problem was diagnosed, the Condition, and its long-term medicines."""
    rng, end = ctx.rng, ctx.profile.end
    day = weekday_on_or_before(min(end, problem.onset + rng.randint(0, 21)), problem.onset)
    gp = ctx.gp()
    kind = SEEN_AT_HOME if problem.spec.clinic == SEEN_AT_HOME else SEEN_IN_SURGERY
    visit = encounter(ctx, day, clinic_minute(ctx, kind == SEEN_AT_HOME), kind, gp)
    problem.urn = condition(
        ctx, problem.spec.concept, problem.onset, day, problem.status, problem.abatement, visit, gp
    )
    if ctx.count < target:
        written = ctx.count
        medications.authorise_for(ctx, problem, visit, gp)
        link_to_problem(ctx, problem.urn, written)


# ---------------------------------------------------------------------------------------- events


def _fill(ctx: Context, target: int) -> None:
    rng, person, profile = ctx.rng, ctx.person, ctx.profile
    vaccines = immunisations.adult_candidates(ctx)
    child_checks = [d for d in (49, 365, 730) if profile.start <= person.birth + d <= profile.end]
    adult = person.age >= 16
    reviewable = [p for p in profile.problems if p.status == "active" or (p.abatement or 0) > p.onset + 30]
    while ctx.count < target:
        room = target - ctx.count
        kinds: list[str] = ["acute"]
        weights: list[float] = [2.0]
        if ctx.plans:
            kinds.append("issue")
            weights.append(4.0)  # repeat issues are the commonest entries in a real GP record
        if reviewable:
            kinds.append("review")
            weights.append(2.0)
        if vaccines:
            kinds.append("vaccine")
            weights.append(1.2)
        if child_checks:
            kinds.append("child_check")
            weights.append(1.5)
        if adult:
            kinds += ["check", "bloods", "otc"]
            weights += [0.8, 0.6, 0.15]
        kind = rng.choices(kinds, weights=weights)[0]
        if kind == "acute":
            _acute(ctx, room)
        elif kind == "issue":
            medications.issue(ctx, rng.random() ** 2)
        elif kind == "review":
            _review(ctx, rng.choice(reviewable), room)
        elif kind == "vaccine":
            dose = vaccines.pop(rng.randrange(len(vaccines)))
            immunisations.immunization(ctx, dose, declined=rng.random() < 0.06)
        elif kind == "child_check":
            _child_check(ctx, child_checks.pop(0), room)
        elif kind == "check":
            _health_check(ctx, room)
        elif kind == "bloods":
            _bloods(ctx, _recent_day(ctx, profile.start), None, room)
        else:
            medications.over_the_counter(ctx, rng.choice(OVER_THE_COUNTER), _recent_day(ctx, profile.start))


def _recent_day(ctx: Context, earliest: int, latest: int | None = None) -> int:
    """A weekday in [earliest, latest], weighted towards the recent end: records thicken with time."""
    latest = ctx.profile.end if latest is None else latest
    earliest = max(earliest, ctx.profile.start)
    if latest <= earliest:
        return max(ctx.person.birth, latest)
    day = latest - int((latest - earliest) * ctx.rng.random() ** 1.6)
    return weekday_on_or_before(day, earliest)


def _consultation_kind(ctx: Context, day: int, usual: Concept) -> Concept:
    remote_share = 0.4 if day >= REMOTE_ERA else 0.15
    if ctx.rng.random() < remote_share:
        return TELEPHONE_CONSULTATION
    if usual == SEEN_IN_SURGERY and (day - ctx.person.birth) > 80 * DAYS_PER_YEAR and ctx.rng.random() < 0.15:
        return SEEN_AT_HOME
    return usual


def _review(ctx: Context, problem: Problem, room: int) -> None:
    latest = problem.abatement if problem.status != "active" and problem.abatement else None
    day = _recent_day(ctx, problem.onset, latest)
    kind = _consultation_kind(ctx, day, problem.spec.clinic)
    clinician = ctx.nurse() if kind in NURSE_CLINICS and ctx.rng.random() < 0.7 else ctx.gp()
    minute = clinic_minute(ctx, kind == SEEN_AT_HOME)
    visit = encounter(ctx, day, minute, kind, clinician, reason_urn=problem.urn)
    written = ctx.count
    room -= 1
    face_to_face = kind != TELEPHONE_CONSULTATION
    for item in problem.spec.monitoring:
        if room <= 0:
            break
        if item in PANELS or item in LAB_TESTS:
            room -= _bloods(ctx, day, visit, room, item)
        elif not face_to_face:
            continue
        elif item == "bp":
            observations.blood_pressure(ctx, day, minute, visit, clinician)
            room -= 1
        elif item == "weight":
            room -= observations.body_measurements(ctx, day, minute, visit, clinician, room)
        elif item == "pulse":
            observations.pulse_rate(ctx, day, minute, visit, clinician)
            room -= 1
        elif item == "smoking":
            room -= observations.smoking_status(ctx, day, minute, visit, clinician, room)
    link_to_problem(ctx, problem.urn, written)


def _bloods(ctx: Context, day: int, visit: str | None, room: int, test: str | None = None) -> int:
    """A lab panel (DiagnosticReport + results) or a single test; returns resources written."""
    if test is None:
        test = ctx.rng.choice(("ue", "lipids", "fbc", "fbc", "hba1c"))
    if test in PANELS and room >= 2:
        return observations.lab_panel(ctx, test, day, visit, room)
    # no room for a report: the panel's first result stands alone
    observations.lab_test(ctx, PANELS[test][1][0] if test in PANELS else test, day, visit)
    return 1


def _acute(ctx: Context, room: int) -> None:
    rng, person = ctx.rng, ctx.person
    day = _recent_day(ctx, ctx.profile.start)
    age = (day - person.birth) / DAYS_PER_YEAR
    options = [
        a
        for a in ACUTE_PROBLEMS
        if a.min_age <= age <= a.max_age and (not a.female_only or person.sex == "female")
    ]
    problem = rng.choices(options, weights=[a.weight for a in options])[0]
    onset = max(person.birth, day - rng.randint(0, 7))
    abatement: int | None = day + rng.randint(3, 21)
    status = "resolved"
    if abatement is not None and abatement > ctx.profile.end:
        status, abatement = "active", None  # still unwell on the last day of the record
    gp = ctx.gp()
    if room == 1:
        condition(ctx, problem.concept, onset, day, status, abatement, None, gp)
        return
    kind = _consultation_kind(ctx, day, SEEN_IN_SURGERY)
    minute = clinic_minute(ctx, kind == SEEN_AT_HOME)
    visit = encounter(ctx, day, minute, kind, gp)
    problem_urn = condition(ctx, problem.concept, onset, day, status, abatement, visit, gp)
    room -= 2
    if room > 0 and problem.drugs and rng.random() < problem.prescribe:
        room -= medications.acute_prescription(ctx, problem.drugs, day, visit, gp, problem_urn)
    if room > 0 and kind != TELEPHONE_CONSULTATION and rng.random() < 0.3:
        observations.pulse_rate(ctx, day, minute, visit, gp)


def _health_check(ctx: Context, room: int) -> None:
    day = _recent_day(ctx, ctx.person.birth + int(16 * DAYS_PER_YEAR))
    nurse = ctx.nurse()
    minute = clinic_minute(ctx)
    visit = encounter(ctx, day, minute, WELL_PERSON_CLINIC, nurse)
    room -= 1
    if room > 0:
        observations.blood_pressure(ctx, day, minute, visit, nurse)
        room -= 1
    if room > 0:
        room -= observations.body_measurements(ctx, day, minute, visit, nurse, room)
    if room > 0:
        observations.pulse_rate(ctx, day, minute, visit, nurse)
        room -= 1
    if room > 0:
        room -= observations.smoking_status(ctx, day, minute, visit, nurse, room)
    if room > 0 and (day - ctx.person.birth) > 40 * DAYS_PER_YEAR:
        _bloods(ctx, day, visit, room, "lipids")


def _child_check(ctx: Context, age_days: int, room: int) -> None:
    day = weekday_on_or_before(ctx.person.birth + age_days + ctx.rng.randint(0, 14), ctx.person.birth)
    day = min(day, ctx.profile.end)
    baby = age_days < 100
    clinician = ctx.gp() if baby else ctx.nurse()
    minute = clinic_minute(ctx)
    visit = encounter(ctx, day, minute, BABY_CLINIC if baby else WELL_CHILD_CLINIC, clinician)
    if room > 1:
        observations.body_measurements(ctx, day, minute, visit, clinician, room - 1)
