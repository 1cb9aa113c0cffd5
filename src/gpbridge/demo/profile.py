"""A patient's clinical make-up, decided before any resource is written.

Chronic disease prevalence follows the patient's age band (QOF-like registers: hypertension in ~40%
of 60-74s, diabetes ~16%, ...), adjusted for sex, smoking and obesity. Body measurements are fixed
per patient (adult height, a baseline BMI) so every weight, height and BMI in one record agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from gpbridge.demo.codes import (
    CHRONIC_CONDITIONS,
    CONDITIONS_BY_KEY,
    EX_SMOKER,
    NEVER_SMOKED,
    SMOKER,
    TREATED_AFTER_RESOLUTION,
    ChronicCondition,
    Concept,
    band_index,
)
from gpbridge.demo.person import Person
from gpbridge.demo.timeline import DAYS_PER_YEAR, add_years

RECORD_YEARS = 20  # how far back the electronic record reaches (older history was never digitised)


@dataclass
class Problem:
    spec: ChronicCondition
    onset: int  # ordinal day
    status: str  # condition-clinical code: active | resolved | inactive
    abatement: int | None
    urn: str = ""  # the Condition's fullUrl once written


@dataclass
class Profile:
    start: int  # first day of the record window
    end: int  # last day (death or the reference date)
    smoking: Concept | None  # None for children
    cigarettes_per_day: int
    adult_height_cm: float
    baseline_bmi: float
    problems: list[Problem] = field(default_factory=list)
    penicillin_allergic: bool = False

    def has(self, key: str) -> bool:
        return any(p.spec.key == key for p in self.problems)

    def onset_of(self, key: str) -> int | None:
        return next((p.onset for p in self.problems if p.spec.key == key), None)


def sample_profile(rng: random.Random, person: Person) -> Profile:
    age = person.age
    end = person.end
    smoking, cigarettes = _smoking(rng, age)
    height = _adult_height(rng, person.sex)
    obese = age >= 8 and rng.random() < CONDITIONS_BY_KEY["obesity"].prevalence[band_index(age)]
    bmi = rng.uniform(30.5, 42.0) if obese else min(29.8, max(18.0, rng.gauss(25.0, 3.2)))
    profile = Profile(
        start=max(person.birth, end - int(RECORD_YEARS * DAYS_PER_YEAR)),
        end=end,
        smoking=smoking,
        cigarettes_per_day=cigarettes,
        adult_height_cm=height,
        baseline_bmi=bmi,
    )
    forced = ("hypertension", "t2dm") if person.index == 0 else ()
    for spec in CHRONIC_CONDITIONS:
        if age < spec.min_onset_age:
            continue
        if spec.key == "obesity":
            chosen = obese
        elif spec.key in forced:
            chosen = True
        else:
            chosen = rng.random() < _risk(spec, person.sex, age, smoking, obese)
        if chosen:
            profile.problems.append(_problem(rng, spec, person))
    return profile


def _risk(spec: ChronicCondition, sex: str, age: float, smoking: Concept | None, obese: bool) -> float:
    rate = spec.prevalence[band_index(age)]
    # Split the population rate between the sexes so the overall prevalence stays as tabled.
    if sex == "female":
        rate *= 2 * spec.female_factor / (1 + spec.female_factor)
    elif sex == "male":
        rate *= 2 / (1 + spec.female_factor)
    if spec.key in ("copd", "chd", "mi", "stroke"):
        rate *= 0.4 if smoking in (None, NEVER_SMOKED) else 1.8
    if spec.key in ("t2dm", "hypertension", "osteoarthritis") and obese:
        rate *= 2.0
    return min(rate, 0.95)


def _problem(rng: random.Random, spec: ChronicCondition, person: Person) -> Problem:
    end = person.end
    earliest = max(person.birth, person.birth + int(spec.min_onset_age * DAYS_PER_YEAR))
    # Most chronic disease is diagnosed late and lasts: durations skew short, capped at 30 years.
    longest = min(max(0, end - earliest), int(30 * DAYS_PER_YEAR))
    onset = min(end, max(earliest, end - int(longest * rng.random() ** 1.5)))
    status, abatement = "active", None
    if rng.random() < spec.resolves and onset < end:
        if spec.key in TREATED_AFTER_RESOLUTION:
            status, abatement = "inactive", min(end, onset + rng.randint(14, 90))
        else:
            status = "resolved"
            abatement = min(end, add_years(onset, rng.uniform(0.3, 6.0)))
    return Problem(spec, onset, status, abatement)


def _smoking(rng: random.Random, age: float) -> tuple[Concept | None, int]:
    if age < 16:
        return None, 0
    roll = rng.random()
    current = 0.16 if age < 60 else 0.1
    ex = 0.18 if age < 40 else 0.3 if age < 60 else 0.42
    if roll < current:
        return SMOKER, rng.choice((3, 5, 8, 10, 10, 15, 20, 20, 25, 30))
    if roll < current + ex:
        return EX_SMOKER, 0
    return NEVER_SMOKED, 0


def _adult_height(rng: random.Random, sex: str) -> float:
    if sex == "male":
        return rng.gauss(175.5, 7.0)
    if sex == "female":
        return rng.gauss(162.0, 6.5)
    return rng.gauss(169.0, 8.0)
