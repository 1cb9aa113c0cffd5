"""Problems (Condition, category problem-list-item) and allergies (AllergyIntolerance).

About half of patients have "No known allergy" (716186003) recorded, ~22% have one or more real
allergies (penicillin the commonest), and the rest have nothing recorded, as on real GP systems.
"""

from __future__ import annotations

from gpbridge.demo.build import JSON, codeable, ref, sct
from gpbridge.demo.codes import (
    ALLERGIES,
    ALLERGY_CLINICAL,
    ALLERGY_VERIFICATION,
    ANAPHYLAXIS,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    MANIFESTATIONS,
    NO_KNOWN_ALLERGY,
    PENICILLIN_ALLERGY,
    Allergy,
    Concept,
)
from gpbridge.demo.context import Context
from gpbridge.demo.encounters import clinic_minute, weekday_on_or_before
from gpbridge.demo.practices import Clinician
from gpbridge.demo.timeline import DAYS_PER_YEAR, iso_date, iso_datetime

_CLINICAL_DISPLAY = {
    "active": "Active",
    "resolved": "Resolved",
    "inactive": "Inactive",
    "remission": "Remission",
}
_VERIFICATION_DISPLAY = {"confirmed": "Confirmed", "provisional": "Provisional", "unconfirmed": "Unconfirmed"}
_ALLERGY_WEIGHTS = tuple(a.weight for a in ALLERGIES)


def condition(
    ctx: Context,
    concept: Concept,
    onset: int,
    recorded: int,
    status: str,
    abatement: int | None,
    encounter_urn: str | None,
    recorder: Clinician,
) -> str:
    verification = "confirmed" if ctx.rng.random() < 0.97 or status != "active" else "provisional"
    resource: JSON = {
        "resourceType": "Condition",
        "clinicalStatus": codeable(CONDITION_CLINICAL, status, _CLINICAL_DISPLAY[status]),
        "verificationStatus": codeable(
            CONDITION_VERIFICATION, verification, _VERIFICATION_DISPLAY[verification]
        ),
        "category": [codeable(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": sct(concept),
        "subject": ref(ctx.patient_urn),
    }
    if encounter_urn:
        resource["encounter"] = ref(encounter_urn)
    resource["onsetDateTime"] = iso_date(onset)
    if abatement is not None:
        resource["abatementDateTime"] = iso_date(abatement)
    resource["recordedDate"] = iso_date(recorded)
    resource["recorder"] = ref(f"Practitioner/{recorder.id}")
    return ctx.add(resource)


_RELATED_CLINICAL_CONTENT = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-RelatedClinicalContent"
_LINKED_TYPES = frozenset({"Observation", "DiagnosticReport", "MedicationRequest"})


def link_to_problem(ctx: Context, problem_urn: str, since: int) -> None:
    """Link the results and medicines written since entry ``since`` to the problem, as GP systems
    link the items of a problem review (``Extension-UKCore-RelatedClinicalContent``); a plan's
    issues and a report's results are reached through the plan and the report."""
    problem = next((e["resource"] for e in ctx.entries if e["fullUrl"] == problem_urn), None)
    if problem is None:
        return
    reported = {r["reference"] for e in ctx.entries[since:] for r in e["resource"].get("result") or ()}
    links = [
        {"url": _RELATED_CLINICAL_CONTENT, "valueReference": ref(e["fullUrl"])}
        for e in ctx.entries[since:]
        if e["resource"]["resourceType"] in _LINKED_TYPES and e["fullUrl"] not in reported
        and e["resource"].get("intent") in (None, "plan")
    ]
    if links:
        problem.setdefault("extension", []).extend(links)


def allergies(ctx: Context) -> None:
    """Write the patient's allergy records (or a "No known allergy" statement)."""
    rng, person = ctx.rng, ctx.person
    if person.index == 0:
        _allergy(ctx, ALLERGIES[0])  # patient-1's penicillin allergy is part of the demo script
        return
    infant = person.age < 1
    roll = rng.random()
    if roll < (0.2 if infant else 0.5):
        _no_known_allergy(ctx)
    elif roll < (0.22 if infant else 0.72):
        count = 1 if rng.random() < 0.8 else 2 if rng.random() < 0.85 else 3
        chosen: list[Allergy] = []
        for _ in range(count):
            allergy = rng.choices(ALLERGIES, weights=_ALLERGY_WEIGHTS)[0]
            if allergy not in chosen:
                chosen.append(allergy)
        for allergy in chosen:
            _allergy(ctx, allergy)


def _recorded_day(ctx: Context) -> int:
    profile = ctx.profile
    return weekday_on_or_before(ctx.rng.randint(profile.start, profile.end), ctx.person.birth)


def _no_known_allergy(ctx: Context) -> None:
    day = _recorded_day(ctx)
    ctx.add(
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": codeable(ALLERGY_CLINICAL, "active", "Active"),
            "verificationStatus": codeable(ALLERGY_VERIFICATION, "confirmed", "Confirmed"),
            "code": sct(NO_KNOWN_ALLERGY),
            "patient": ref(ctx.patient_urn),
            "recordedDate": iso_datetime(day, clinic_minute(ctx)),
            "recorder": ref(f"Practitioner/{ctx.gp().id}"),
        }
    )


def _allergy(ctx: Context, allergy: Allergy) -> None:
    rng, person = ctx.rng, ctx.person
    recorded = _recorded_day(ctx)
    onset = max(person.birth, recorded - rng.randrange(0, int(5 * DAYS_PER_YEAR)))
    if allergy.concept == PENICILLIN_ALLERGY:
        ctx.profile.penicillin_allergic = True
    resolved = allergy.category == "food" and rng.random() < 0.1  # some childhood food allergies are outgrown
    severe = allergy.criticality == "high" and rng.random() < 0.25
    manifestation = ANAPHYLAXIS if severe else rng.choice(MANIFESTATIONS)
    status = "resolved" if resolved else "active"
    ctx.add(
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": codeable(ALLERGY_CLINICAL, status, status.capitalize()),
            "verificationStatus": codeable(ALLERGY_VERIFICATION, "confirmed", "Confirmed"),
            "type": "allergy",
            "category": [allergy.category],
            "criticality": allergy.criticality,
            "code": sct(allergy.concept),
            "patient": ref(ctx.patient_urn),
            "onsetDateTime": iso_date(onset),
            "recordedDate": iso_datetime(recorded, clinic_minute(ctx)),
            "recorder": ref(f"Practitioner/{ctx.gp().id}"),
            "reaction": [
                {
                    "manifestation": [sct(manifestation)],
                    "severity": "severe" if severe else rng.choice(("mild", "moderate")),
                }
            ],
        }
    )
