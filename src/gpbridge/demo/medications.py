"""Medicines as GP systems hold them: repeat authorisations, their issues, acute scripts and statements.

A long-term medicine is a MedicationRequest with intent ``plan`` (the authorisation, active, stopped
or completed); each prescription issued against it is a MedicationRequest with intent ``order`` and
``basedOn`` the plan. Half the authorisations also carry a MedicationStatement summary, as GP Connect
returns them. Acute (one-off) prescriptions are orders without a plan.
"""

from __future__ import annotations

from gpbridge.demo.build import JSON, codeable, ref, sct, ucum
from gpbridge.demo.codes import (
    COURSE_OF_THERAPY,
    DRUGS,
    MEDICATION_REQUEST_CATEGORY,
    PENICILLINS,
    TREATED_AFTER_RESOLUTION,
)
from gpbridge.demo.context import Context, Plan
from gpbridge.demo.practices import Clinician
from gpbridge.demo.profile import Problem
from gpbridge.demo.timeline import iso_date

_CONTINUOUS = ("continuous", "Continuous long term therapy")
_ACUTE = ("acute", "Short course (acute) therapy")
# Drugs that replace one another: a patient has at most one authorisation per group at a time.
_ALTERNATIVES = (("atorvastatin", "simvastatin"), ("citalopram", "fluoxetine"))


def _request(
    ctx: Context,
    drug_key: str,
    intent: str,
    status: str,
    day: int,
    prescriber: Clinician,
    course: tuple[str, str],
) -> JSON:
    drug = DRUGS[drug_key]
    return {
        "resourceType": "MedicationRequest",
        "status": status,
        "intent": intent,
        "category": [codeable(MEDICATION_REQUEST_CATEGORY, "community", "Community")],
        "medicationCodeableConcept": sct(drug.concept),
        "subject": ref(ctx.patient_urn),
        "authoredOn": iso_date(day),
        "requester": ref(f"Practitioner/{prescriber.id}"),
        "courseOfTherapyType": codeable(COURSE_OF_THERAPY, *course),
        "dosageInstruction": [{"text": drug.dosage}],
        # UK Core makes substitution 1..1; GP prescriptions leave the dispenser no substitution.
        "substitution": {"allowedBoolean": False},
    }


def _dispense(drug_key: str) -> JSON:
    drug = DRUGS[drug_key]
    return {
        "quantity": {"value": drug.quantity, "unit": drug.unit},
        "expectedSupplyDuration": ucum(drug.supply_days, "d", "days"),
    }


def authorise_for(ctx: Context, problem: Problem, encounter_urn: str, prescriber: Clinician) -> int:
    """Authorise the problem's long-term medicines. Returns the number of resources written."""
    rng = ctx.rng
    written = 0
    taken = {plan.drug for plan in ctx.plans}
    for drug_key, probability in problem.spec.medications:
        if rng.random() < probability and _can_add(drug_key, taken):
            written += _authorise(ctx, problem, drug_key, encounter_urn, prescriber)
            taken.add(drug_key)
    # Most treatable problems are treated: fall back to the first-line drug when the draws chose none.
    first_line = problem.spec.medications[0][0] if problem.spec.medications else None
    if not written and first_line and _can_add(first_line, taken) and rng.random() < 0.85:
        written += _authorise(ctx, problem, first_line, encounter_urn, prescriber)
    return written


def _can_add(drug_key: str, taken: set[str]) -> bool:
    """Not already authorised, and no alternative to it (another statin, another SSRI) is either."""
    if drug_key in taken:
        return False
    return not any(drug_key in group and taken.intersection(group) for group in _ALTERNATIVES)


def _authorise(
    ctx: Context, problem: Problem, drug_key: str, encounter_urn: str, prescriber: Clinician
) -> int:
    rng, end = ctx.rng, ctx.profile.end
    start = min(end, problem.onset + rng.randint(0, 60))
    stops = problem.abatement is not None and problem.spec.key not in TREATED_AFTER_RESOLUTION
    if stops:
        status, last = "completed", max(start, problem.abatement or start)
    elif rng.random() < 0.08 and end - start > 180:
        status, last = "stopped", rng.randint(start + 90, end - 1)  # stopped: side effects, switched, ...
    else:
        status, last = "active", end
    plan = _request(ctx, drug_key, "plan", status, start, prescriber, _CONTINUOUS)
    if status == "stopped":
        plan["statusReason"] = {
            "text": rng.choice(("Side effects", "No longer required", "Changed by hospital"))
        }
    plan["encounter"] = ref(encounter_urn)
    plan["reasonReference"] = [ref(problem.urn)]
    validity: JSON = {"start": iso_date(start)}
    if status != "active":
        validity["end"] = iso_date(last)
    plan["dispenseRequest"] = {
        "validityPeriod": validity,
        "numberOfRepeatsAllowed": 11,
        **_dispense(drug_key),
    }
    urn = ctx.add(plan)
    ctx.plans.append(Plan(urn, drug_key, start, last, prescriber))
    if rng.random() >= 0.5:
        return 1
    statement: JSON = {
        "resourceType": "MedicationStatement",
        "basedOn": [ref(urn)],
        "status": status,
        "medicationCodeableConcept": sct(DRUGS[drug_key].concept),
        "subject": ref(ctx.patient_urn),
        "context": ref(encounter_urn),
        "effectivePeriod": validity.copy(),
        "dateAsserted": iso_date(start),
        "informationSource": ref(f"Practitioner/{prescriber.id}"),
        "reasonReference": [ref(problem.urn)],
        "dosage": [{"text": DRUGS[drug_key].dosage}],
    }
    ctx.add(statement)
    return 2


def issue(ctx: Context, day_fraction: float) -> int:
    """One issue of a repeat medicine, on a day within some authorisation's period."""
    rng = ctx.rng
    plan = rng.choice(ctx.plans)
    span = plan.end - plan.start
    # Recent issues are likelier: GP2GP extracts carry every issue, but older ones are thinned here.
    day = plan.end - int(span * day_fraction)
    recent = plan.end == ctx.profile.end and day > ctx.profile.end - DRUGS[plan.drug].supply_days
    order = _request(
        ctx, plan.drug, "order", "active" if recent else "completed", day, plan.prescriber, _CONTINUOUS
    )
    order["basedOn"] = [ref(plan.urn)]
    order["dispenseRequest"] = _dispense(plan.drug)
    ctx.add(order)
    return 1


def acute_prescription(
    ctx: Context,
    drugs: tuple[str, ...],
    day: int,
    encounter_urn: str | None,
    prescriber: Clinician,
    reason_urn: str,
) -> int:
    """A one-off prescription of the first of ``drugs`` that is safe for the patient (0 when none is)."""
    safe = [d for d in drugs if not (ctx.profile.penicillin_allergic and d in PENICILLINS)]
    if not safe:
        return 0
    drug_key = ctx.rng.choice(safe)
    recent = day > ctx.profile.end - DRUGS[drug_key].supply_days
    order = _request(ctx, drug_key, "order", "active" if recent else "completed", day, prescriber, _ACUTE)
    if encounter_urn:
        order["encounter"] = ref(encounter_urn)
    order["reasonReference"] = [ref(reason_urn)]
    order["dispenseRequest"] = _dispense(drug_key)
    ctx.add(order)
    return 1


def over_the_counter(ctx: Context, drug_key: str, day: int) -> int:
    """A medicine the patient reports buying themselves (MedicationStatement, patient as source)."""
    ctx.add(
        {
            "resourceType": "MedicationStatement",
            "status": "active" if day > ctx.profile.end - 365 else "completed",
            "medicationCodeableConcept": sct(DRUGS[drug_key].concept),
            "subject": ref(ctx.patient_urn),
            "effectiveDateTime": iso_date(day),
            "dateAsserted": iso_date(day),
            "informationSource": ref(ctx.patient_urn),
            "dosage": [{"text": "As needed, bought over the counter"}],
        }
    )
    return 1
