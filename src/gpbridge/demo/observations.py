"""Observations (vital signs, lab results, smoking) and the DiagnosticReports that group lab results.

Values come from the patient's profile so a record is internally consistent: BMI is computed from
the weight and height written beside it, diabetics have high HbA1c, CKD lowers eGFR, statins lower
cholesterol. Labs carry reference ranges and H/L flags; eGFR above 90 is reported as ">90", as UK
laboratories do.
"""

from __future__ import annotations

from gpbridge.demo.build import JSON, codeable, ref, sct, ucum
from gpbridge.demo.codes import (
    BLOOD_PRESSURE,
    DIAGNOSTIC_SECTION,
    DIASTOLIC,
    MEASURES,
    MM_HG,
    OBSERVATION_CATEGORY,
    PANELS,
    SEX_SPECIFIC_RANGES,
    SMOKER,
    SYSTOLIC,
    V3_INTERPRETATION,
    VITAL_SIGNS,
    Measure,
)
from gpbridge.demo.context import Context
from gpbridge.demo.practices import Clinician
from gpbridge.demo.timeline import DAYS_PER_YEAR, iso_datetime

_CATEGORY_DISPLAY = {
    "vital-signs": "Vital Signs",
    "laboratory": "Laboratory",
    "social-history": "Social History",
}
_INTERPRETATION = {"H": "High", "L": "Low", "N": "Normal"}

# Median height (cm) and BMI by age for children; scaled per child by their adult height and build.
_CHILD_AGES = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 11.0, 14.0, 17.0, 19.0)
_CHILD_HEIGHT = (50.0, 61.0, 67.5, 75.5, 87.0, 95.5, 109.5, 127.5, 144.0, 161.0, 171.0, 172.0)
_CHILD_BMI = (13.4, 16.3, 17.1, 17.0, 16.4, 16.0, 15.4, 15.9, 17.6, 19.6, 21.2, 22.0)
_ADULT_HEIGHT_AT_19 = 172.0


def _interpolate(xs: tuple[float, ...], ys: tuple[float, ...], x: float) -> float:
    if x <= xs[0]:
        return ys[0]
    for i in range(1, len(xs)):
        if x <= xs[i]:
            t = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
            return ys[i - 1] + t * (ys[i] - ys[i - 1])
    return ys[-1]


def age_at(ctx: Context, day: int) -> float:
    return (day - ctx.person.birth) / DAYS_PER_YEAR


def height_at(ctx: Context, day: int) -> float:
    age = age_at(ctx, day)
    if age >= 19:
        return ctx.profile.adult_height_cm
    return _interpolate(_CHILD_AGES, _CHILD_HEIGHT, age) * ctx.profile.adult_height_cm / _ADULT_HEIGHT_AT_19


def bmi_at(ctx: Context, day: int) -> float:
    age = age_at(ctx, day)
    build = ctx.profile.baseline_bmi / 25.0
    if age < 19:
        return _interpolate(_CHILD_AGES, _CHILD_BMI, age) * (0.85 + 0.15 * build) + ctx.rng.gauss(0, 0.3)
    drift = 0.05 * (min(age, 70) - 45)  # people put on a little weight through middle age
    return max(15.0, ctx.profile.baseline_bmi + drift + ctx.rng.gauss(0, 0.6))


def _base(ctx: Context, measure: Measure, day: int, minute: int, encounter_urn: str | None) -> JSON:
    resource: JSON = {
        "resourceType": "Observation",
        "status": "final",
        "category": [codeable(OBSERVATION_CATEGORY, measure.category, _CATEGORY_DISPLAY[measure.category])],
        "code": sct(measure.concept),
        "subject": ref(ctx.patient_urn),
    }
    if encounter_urn:
        resource["encounter"] = ref(encounter_urn)
    resource["effectiveDateTime"] = iso_datetime(day, minute)
    return resource


def _flag(ctx: Context, value: float, low: float | None, high: float | None) -> str | None:
    if high is not None and value > high:
        return "H"
    if low is not None and value < low:
        return "L"
    return "N" if ctx.rng.random() < 0.3 else None  # some systems send N, many send nothing


def quantity_observation(
    ctx: Context,
    key: str,
    value: float,
    day: int,
    minute: int,
    encounter_urn: str | None,
    performer: Clinician | None,
    comparator: str | None = None,
) -> str:
    measure = MEASURES[key]
    resource = _base(ctx, measure, day, minute, encounter_urn)
    if measure.category == "laboratory":
        resource["issued"] = iso_datetime(min(day + ctx.rng.randint(0, 2), ctx.profile.end), 17 * 60)
    if performer is not None:
        resource["performer"] = [ref(f"Practitioner/{performer.id}")]
    value = round(value, measure.decimals) if measure.decimals else int(round(value))
    quantity = ucum(value, measure.unit, measure.unit_display)
    if comparator:
        quantity = {
            "value": value,
            "comparator": comparator,
            **{k: quantity[k] for k in ("unit", "system", "code")},
        }
    resource["valueQuantity"] = quantity
    low, high = SEX_SPECIFIC_RANGES.get(key, {}).get(ctx.person.sex, (measure.low, measure.high))
    if measure.category == "laboratory":
        flag = None if comparator else _flag(ctx, value, low, high)
        if flag:
            resource["interpretation"] = [codeable(V3_INTERPRETATION, flag, _INTERPRETATION[flag])]
        reference: JSON = {}
        if low is not None:
            reference["low"] = ucum(low, measure.unit, measure.unit_display)
        if high is not None:
            reference["high"] = ucum(high, measure.unit, measure.unit_display)
        resource["referenceRange"] = [reference]
    return ctx.add(resource)


# ---------------------------------------------------------------------------------------- vitals


def blood_pressure(ctx: Context, day: int, minute: int, encounter_urn: str, performer: Clinician) -> str:
    age = age_at(ctx, day)
    onset = ctx.profile.onset_of("hypertension")
    systolic = 112 + 0.45 * max(0.0, age - 25) + ctx.rng.gauss(0, 9)
    diastolic = 70 + 0.2 * max(0.0, min(age, 60) - 25) + ctx.rng.gauss(0, 6)
    if onset is not None:
        treated = day > onset + 90
        systolic += 8 if treated else 22
        diastolic += 3 if treated else 10
    systolic, diastolic = int(round(systolic)), int(round(min(diastolic, systolic - 25)))
    resource = _base(
        ctx, Measure(BLOOD_PRESSURE, "", "", VITAL_SIGNS, None, None, 0), day, minute, encounter_urn
    )
    resource["performer"] = [ref(f"Practitioner/{performer.id}")]
    if systolic >= 140 or diastolic >= 90:
        resource["interpretation"] = [codeable(V3_INTERPRETATION, "H", "High")]
    resource["component"] = [
        {"code": sct(SYSTOLIC), "valueQuantity": ucum(systolic, *MM_HG)},
        {"code": sct(DIASTOLIC), "valueQuantity": ucum(diastolic, *MM_HG)},
    ]
    return ctx.add(resource)


def pulse_rate(
    ctx: Context, day: int, minute: int, encounter_urn: str | None, performer: Clinician | None
) -> str:
    age = age_at(ctx, day)
    mean = 125 if age < 1 else 100 if age < 5 else 85 if age < 12 else 74
    if ctx.profile.has("af"):
        mean += 12
    return quantity_observation(ctx, "pulse", ctx.rng.gauss(mean, 9), day, minute, encounter_urn, performer)


def body_measurements(
    ctx: Context, day: int, minute: int, encounter_urn: str, performer: Clinician, room: int
) -> int:
    """Weight, and with room for them height and BMI (computed from the two). Returns resources written."""
    height = height_at(ctx, day) + ctx.rng.gauss(0, 0.4)
    weight = bmi_at(ctx, day) * (height / 100) ** 2
    quantity_observation(ctx, "weight", weight, day, minute, encounter_urn, performer)
    if room < 3:
        return 1
    quantity_observation(ctx, "height", height, day, minute, encounter_urn, performer)
    bmi = round(weight, 1) / (round(height, 1) / 100) ** 2
    quantity_observation(ctx, "bmi", bmi, day, minute, encounter_urn, performer)
    return 3


def smoking_status(
    ctx: Context, day: int, minute: int, encounter_urn: str | None, performer: Clinician | None, room: int = 1
) -> int:
    """The smoking finding as the Observation code (as GP systems record it); cigarettes/day for smokers."""
    status = ctx.profile.smoking
    if status is None:
        return 0
    resource: JSON = {
        "resourceType": "Observation",
        "status": "final",
        "category": [codeable(OBSERVATION_CATEGORY, "social-history", "Social History")],
        "code": sct(status),
        "subject": ref(ctx.patient_urn),
    }
    if encounter_urn:
        resource["encounter"] = ref(encounter_urn)
    resource["effectiveDateTime"] = iso_datetime(day, minute)
    if performer is not None:
        resource["performer"] = [ref(f"Practitioner/{performer.id}")]
    ctx.add(resource)
    if status == SMOKER and room >= 2:
        quantity_observation(
            ctx, "cigarettes", ctx.profile.cigarettes_per_day, day, minute, encounter_urn, performer
        )
        return 2
    return 1


# ------------------------------------------------------------------------------------------ labs


def lab_value(ctx: Context, key: str, day: int) -> tuple[float, str | None]:
    """A plausible result for this patient on this day, and a comparator when it is reported as a bound."""
    gauss, profile = ctx.rng.gauss, ctx.profile
    age = age_at(ctx, day)
    female = ctx.person.sex == "female"
    statin = any(profile.has(k) for k in ("t2dm", "chd", "mi", "stroke", "hyperlipidaemia"))
    if key == "hba1c":
        diabetic = any(p.spec.key in ("t2dm", "t1dm") and p.onset <= day for p in profile.problems)
        return (max(48.0, gauss(62, 11)) if diabetic else min(47.0, max(28.0, gauss(37, 3.5)))), None
    if key == "cholesterol":
        return min(9.5, max(2.5, gauss(4.3, 0.7) if statin else gauss(5.3, 0.9))), None
    if key == "hdl":
        return min(3.0, max(0.6, gauss(1.55 if female else 1.3, 0.3))), None
    if key == "triglycerides":
        return min(8.0, max(0.4, 2.718 ** gauss(0.3, 0.45))), None
    if key == "sodium":
        return gauss(140, 2.2), None
    if key == "potassium":
        return gauss(4.4, 0.35), None
    if key == "urea":
        return max(1.5, gauss(8.5 if profile.has("ckd") else 5.4, 1.4)), None
    if key in ("egfr", "creatinine"):
        egfr = _egfr(ctx, age, day)
        if key == "creatinine":
            return (66 if female else 84) * (95 / egfr) ** (1 / 1.15), None
        return (90.0, ">") if egfr > 90 else (egfr, None)
    if key == "haemoglobin":
        return gauss(133 if female else 148, 11) - (8 if profile.has("ra") else 0), None
    if key == "wcc":
        return max(1.5, gauss(7.0, 1.7)), None
    if key == "platelets":
        return max(40.0, gauss(265, 60)), None
    if key == "tsh":
        if profile.has("hypothyroidism"):
            return min(15.0, max(0.05, gauss(2.4, 1.7))), None
        return min(6.0, max(0.3, gauss(1.9, 0.8))), None
    raise KeyError(key)


def _egfr(ctx: Context, age: float, day: int) -> float:
    onset = ctx.profile.onset_of("ckd")
    if onset is not None and day >= onset:
        return ctx.rng.uniform(28, 59)
    return min(130.0, max(61.0, 112 - 0.85 * max(0.0, age - 25) + ctx.rng.gauss(0, 7)))


def lab_test(ctx: Context, key: str, day: int, encounter_urn: str | None) -> str:
    value, comparator = lab_value(ctx, key, day)
    minute = ctx.rng.randrange(8 * 60 + 30, 12 * 60, 5)  # phlebotomy runs in the morning
    return quantity_observation(ctx, key, value, day, minute, encounter_urn, None, comparator)


def lab_panel(ctx: Context, panel: str, day: int, encounter_urn: str | None, room: int) -> int:
    """A DiagnosticReport and (up to ``room`` - 1 of) its results. Returns resources written."""
    concept, keys = PANELS[panel]
    keys = keys[: max(1, room - 1)]
    minute = ctx.rng.randrange(8 * 60 + 30, 12 * 60, 5)
    results = []
    for key in keys:
        value, comparator = lab_value(ctx, key, day)
        results.append(quantity_observation(ctx, key, value, day, minute, encounter_urn, None, comparator))
    issued = iso_datetime(min(day + ctx.rng.randint(0, 2), ctx.profile.end), 17 * 60)
    section = ("HM", "Hematology") if panel == "fbc" else ("CH", "Chemistry")
    report: JSON = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [codeable(DIAGNOSTIC_SECTION, *section)],
        "code": sct(concept),
        "subject": ref(ctx.patient_urn),
    }
    if encounter_urn:
        report["encounter"] = ref(encounter_urn)
    report["effectiveDateTime"] = iso_datetime(day, minute)
    report["issued"] = issued
    report["resultsInterpreter"] = [ref(f"Practitioner/{ctx.person.gp.id}")]
    report["result"] = [ref(urn) for urn in results]
    ctx.add(report)
    return len(results) + 1
