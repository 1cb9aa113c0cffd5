"""MedicationStatement (authorise / prescribe / discontinue) → MedicationRequest, MedicationStatement, Medication.

- ``ehrSupplyAuthorise`` is the authorisation: a MedicationRequest with intent ``plan`` and the
  MedicationStatement that summarises it (``basedOn`` the plan), as GP Connect models a medication.
- ``ehrSupplyPrescribe`` is one issue: a MedicationRequest with intent ``order``, ``basedOn`` the
  authorisation it fulfils (``inFulfillmentOf/priorMedicationRef``).
- ``ehrSupplyDiscontinue`` stops the authorisation it reverses (status ``stopped`` + reason).
- The drug (``manufacturedMaterial/code``, dm+d in SNOMED CT) is one Medication per code per extract.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from gpbridge.adapters.common.ids import stable_uuid
from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import STATEMENT_SYSTEM, Context
from gpbridge.adapters.gp2gp.hl7v3 import T

MEDICATION_SYSTEM = "https://gpbridge.dev/Id/medication-code"
_PRESCRIPTION_TYPE = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-PrescriptionType"
_PRESCRIPTION_TYPE_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-MedicationRequestCourseTherapyType"
_REPEAT_INFO = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicationRepeatInformation"
_DURATION = re.compile(r"Expected Supply Duration:\s*(\d+(?:\.\d+)?)\s*(\w+)")
_UNITS = {"day": "d", "days": "d", "week": "wk", "weeks": "wk", "month": "mo", "months": "mo"}


def map_medication(ctx: Context, statement: etree._Element) -> list[str]:
    medication = _medication(ctx, statement)
    dosage = hl7v3.text(statement.find(f"{T.pertinentInformation}/{T.pertinentMedicationDosage}/{T.text}"))
    period = hl7v3.effective(statement).get("effectivePeriod") or {}
    authors = ctx.participants(statement, "AUT") or ctx.participants(statement)
    discontinued = {_prior(d, T.reversalOf): d for d in statement.iterfind(f"{T.component}/{T.ehrSupplyDiscontinue}")}
    urls: list[str] = []
    for supply in statement.iterfind(f"{T.component}/{T.ehrSupplyAuthorise}"):
        urls += _authorisation(ctx, statement, supply, medication, dosage, period, authors, discontinued)
    for supply in statement.iterfind(f"{T.component}/{T.ehrSupplyPrescribe}"):
        urls.append(_issue(ctx, statement, supply, medication, dosage, period, authors))
    if not urls:  # neither authorised nor issued: still a statement about the patient's medicine
        urls.append(_statement_only(ctx, statement, medication, dosage, period))
    ctx.account(statement, urls[0])
    for stop in discontinued.values():
        ctx.account(stop, urls[0])
    return urls


def _medication(ctx: Context, statement: etree._Element) -> str:
    material = statement.find(f"{T.consumable}/{T.manufacturedProduct}/{T.manufacturedMaterial}/{T.code}")
    source, original = hl7v3.codings(material)
    ident = "|".join(f"{s}#{c}" for s, c, _ in source) or f"text#{original or 'unknown'}"
    key = f"Medication|{ident}"
    if ctx.builder.has(key):
        return ctx.builder.ref(key)
    medication: dict[str, Any] = {"resourceType": "Medication"}
    code = ctx.concept(material, medication)
    medication["code"] = code or {"text": "Unknown medication"}
    return ctx.builder.create_identified(key, medication, MEDICATION_SYSTEM, stable_uuid(ident))


def _authorisation(ctx: Context, statement: etree._Element, supply: etree._Element, medication: str,
                   dosage: str | None, period: dict[str, str], authors: list[str],
                   discontinued: dict[str | None, etree._Element]) -> list[str]:
    sid = hl7v3.root_id(supply) or hl7v3.root_id(statement) or ""
    stop = discontinued.get(sid)
    status = "stopped" if stop is not None else ("active" if _status_code(supply) == "ACTIVE" else "completed")
    plan = _request(ctx, statement, supply, medication, dosage, authors, "plan", status)
    repeats = supply.find(T.repeatNumber)
    repeat_count = _int(repeats.get("value")) if repeats is not None else None
    plan["extension"] = [_prescription_type(repeat_count)]
    supply_period = hl7v3.effective(supply).get("effectivePeriod") or period
    dispense = _dispense(supply, supply_period)
    if repeat_count:
        dispense["numberOfRepeatsAllowed"] = repeat_count
    if dispense:
        plan["dispenseRequest"] = dispense
    if stop is not None:
        reason = hl7v3.text(stop.find(f"{T.pertinentInformation}/{T.pertinentSupplyAnnotation}/{T.text}"))
        code = ctx.concept(stop.find(T.code), plan, reason)
        if code:
            plan["statusReason"] = code
    plan_url = ctx.add("MedicationRequest", supply, plan, sid)
    ms: dict[str, Any] = {"resourceType": "MedicationStatement", "basedOn": [{"reference": plan_url}],
                          "status": {"stopped": "stopped", "active": "active"}.get(status, "completed")}
    ms["medicationReference"] = {"reference": medication}
    ms["subject"] = {"reference": ctx.patient}
    if ctx.encounter:
        ms["context"] = {"reference": ctx.encounter}
    if supply_period:
        ms["effectivePeriod"] = supply_period
    asserted = hl7v3.availability(supply) or hl7v3.availability(statement)
    if asserted:
        ms["dateAsserted"] = asserted
    if authors:
        ms["informationSource"] = {"reference": authors[0]}
    if dosage:
        ms["dosage"] = [{"text": dosage}]
    notes = _supply_notes(supply)
    if notes:
        ms["note"] = [{"text": n} for n in notes]
    ctx.apply_security(ms, statement)
    ms_url = ctx.builder.create_identified(f"MedicationStatement|{sid}", ms, STATEMENT_SYSTEM, f"{ctx.nhs_number}/{sid}")
    return [plan_url, ms_url]


def _issue(ctx: Context, statement: etree._Element, supply: etree._Element, medication: str,
           dosage: str | None, period: dict[str, str], authors: list[str]) -> str:
    status = "active" if _status_code(supply) == "ACTIVE" else "completed"
    order = _request(ctx, statement, supply, medication, dosage, authors, "order", status)
    prior = _prior(supply, T.inFulfillmentOf)
    if prior:
        ctx.link_later(order, "basedOn", f"MedicationRequest|{prior}", f"authorisation {prior}")
    dispense = _dispense(supply, period)
    if dispense:
        order["dispenseRequest"] = dispense
    return ctx.add("MedicationRequest", supply, order)


def _statement_only(ctx: Context, statement: etree._Element, medication: str, dosage: str | None,
                    period: dict[str, str]) -> str:
    ms: dict[str, Any] = {"resourceType": "MedicationStatement", "status": "unknown",
                          "medicationReference": {"reference": medication}, "subject": {"reference": ctx.patient}}
    if period:
        ms["effectivePeriod"] = period
    if dosage:
        ms["dosage"] = [{"text": dosage}]
    return ctx.add("MedicationStatement", statement, ms)


def _request(ctx: Context, statement: etree._Element, supply: etree._Element, medication: str,
             dosage: str | None, authors: list[str], intent: str, status: str) -> dict[str, Any]:
    request: dict[str, Any] = {"resourceType": "MedicationRequest", "status": status, "intent": intent}
    request["medicationReference"] = {"reference": medication}
    request["subject"] = {"reference": ctx.patient}
    if ctx.encounter:
        request["encounter"] = {"reference": ctx.encounter}
    authored = hl7v3.availability(supply) or hl7v3.availability(statement)
    if authored:
        request["authoredOn"] = authored
    if authors:
        request["requester"] = {"reference": authors[0]}
    if dosage:
        request["dosageInstruction"] = [{"text": dosage}]
    notes = _supply_notes(supply)
    if notes:
        request["note"] = [{"text": n} for n in notes]
    # UK Core makes substitution 1..1 and an extract says nothing of it: a GP prescription leaves
    # the dispenser no substitution (as the demo population and GP Connect senders record it).
    request["substitution"] = {"allowedBoolean": False}
    return request


def _dispense(supply: etree._Element, period: dict[str, str]) -> dict[str, Any]:
    dispense: dict[str, Any] = {}
    if period:
        dispense["validityPeriod"] = period
    q = supply.find(T.quantity)
    if q is not None:
        quantity = hl7v3.quantity(q)
        if quantity:
            dispense["quantity"] = quantity
    for note in _supply_notes(supply):
        m = _DURATION.search(note)
        if m and m.group(2).lower() in _UNITS:
            value = float(m.group(1))
            dispense["expectedSupplyDuration"] = {
                "value": int(value) if value.is_integer() else value, "unit": m.group(2),
                "system": "http://unitsofmeasure.org", "code": _UNITS[m.group(2).lower()],
            }
    return dispense


def _prescription_type(repeats: int | None) -> dict[str, Any]:
    acute = not repeats
    code, display = ("acute", "Short course (acute) therapy") if acute else ("continuous", "Continuous long term therapy")
    return {"url": _PRESCRIPTION_TYPE,
            "valueCodeableConcept": {"coding": [{"system": _PRESCRIPTION_TYPE_SYSTEM, "code": code, "display": display}]}}


def _supply_notes(supply: etree._Element) -> list[str]:
    texts = []
    for t in supply.iterfind(f"{T.pertinentInformation}/{T.pertinentSupplyAnnotation}/{T.text}"):
        value = hl7v3.text(t)
        if value:
            texts.append(value)
    return texts


def _prior(supply: etree._Element, relation: str) -> str | None:
    ref = supply.find(f"{relation}/{T.priorMedicationRef}/{T.id}")
    return ref.get("root") if ref is not None else None


def _status_code(element: etree._Element) -> str:
    status = element.find(T.statusCode)
    return (status.get("code") or "") if status is not None else ""


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.strip().isdigit() else None
