"""ObservationStatement, NarrativeStatement and clinical batteries → Observation / Immunization.

- An ObservationStatement is an Observation (code, value, range, interpretation, annotations as
  notes) unless it records a vaccination, which becomes an Immunization.
- A free-text NarrativeStatement is a "Comment note" Observation (SNOMED 37331000000100) holding
  the text, as GP Connect represents uncoded entries.
- A blood-pressure battery is one Observation with systolic/diastolic components; any other
  battery or cluster is a grouping Observation whose members are the statements inside it.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from gpbridge.adapters.common.codes import SNOMED
from gpbridge.adapters.common.flags import DEGRADED
from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.hl7v3 import T, local_name
from gpbridge.adapters.gp2gp.values import annotation_texts, interpretations, reference_ranges, value_fields

COMMENT_NOTE = {"system": SNOMED, "code": "37331000000100", "display": "Comment note"}
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
BLOOD_PRESSURE_CODES = frozenset({"163020007", "386534000", "75367002", "163034007", "163035008", "163033001",
                                  "254063019", "254066010", "2469300019"})
_VACCINATION = re.compile(r"vaccination|immuni[sz]ation|booster", re.I)
_NOT_GIVEN = re.compile(r"allerg|contraindicat|declin|refus|not given|invit|consent|\bdue\b|referral|advice|"
                        r"adverse|reaction|status|exempt", re.I)
_IMMUNISATION_LABELS = re.compile(
    r"(Primary Source|Parent Present|Location|Manufacturer|Batch|Expiration|Site|Route|Quantity|"
    r"Reason not given|Reason|Vaccination Protocol \d+|Sequence|Target Disease):\s*"
)


def observation_base(ctx: Context, statement: etree._Element, category: str | None = None) -> dict[str, Any]:
    """The Observation for an ObservationStatement, not yet added to the Bundle."""
    obs: dict[str, Any] = {"resourceType": "Observation", "status": _status(statement)}
    if category:
        obs["category"] = [{"coding": [{"system": OBS_CATEGORY, "code": category}]}]
    code = ctx.concept(statement.find(T.code), obs)
    obs["code"] = code or {"text": "Untitled observation"}
    obs["subject"] = {"reference": ctx.patient}
    if ctx.encounter:
        obs["encounter"] = {"reference": ctx.encounter}
    obs.update(hl7v3.effective(statement))
    issued = hl7v3.availability(statement)
    _set_issued(ctx, obs, issued)
    if "effectiveDateTime" not in obs and "effectivePeriod" not in obs and issued:
        obs["effectiveDateTime"] = issued
    performers = ctx.participants(statement, "PRF", "AUT")
    if performers:
        obs["performer"] = [{"reference": p} for p in performers]
    obs.update(value_fields(ctx, statement, obs))
    interpretation = interpretations(statement)
    if interpretation:
        obs["interpretation"] = interpretation
    ranges = reference_ranges(statement)
    if ranges:
        obs["referenceRange"] = ranges
    notes = annotation_texts(statement)
    if notes:
        obs["note"] = [{"text": n} for n in notes]
    return obs


def _set_issued(ctx: Context, obs: dict[str, Any], available: str | None) -> None:
    """``issued`` is when the entry reached the record: the statement's availabilityTime, else
    (when the sender wrote it as unknown) the enclosing composition's author/time. Never the
    clinical date: an undated statement stays undated."""
    issued = available or ctx.recorded
    if issued and "T" in issued:  # an instant needs a time of day
        obs["issued"] = issued


def map_observation_statement(ctx: Context, statement: etree._Element) -> str:
    if is_immunisation(statement):
        return map_immunisation(ctx, statement)
    return ctx.add("Observation", statement, observation_base(ctx, statement))


def comment_observation(ctx: Context, statement: etree._Element, text: str | None,
                        category: str | None = None) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "status": _status(statement)}
    if category:
        obs["category"] = [{"coding": [{"system": OBS_CATEGORY, "code": category}]}]
    obs["code"] = {"coding": [dict(COMMENT_NOTE)], "text": "Comment note"}
    obs["subject"] = {"reference": ctx.patient}
    if ctx.encounter:
        obs["encounter"] = {"reference": ctx.encounter}
    when = hl7v3.availability(statement)
    effective = hl7v3.effective(statement) or ({"effectiveDateTime": when} if when else {})
    obs.update(effective)
    _set_issued(ctx, obs, when)
    performers = ctx.participants(statement, "PRF", "AUT")
    if performers:
        obs["performer"] = [{"reference": p} for p in performers]
    if text:
        obs["valueString"] = text
    return obs


def map_narrative(ctx: Context, statement: etree._Element) -> str:
    return ctx.add("Observation", statement, comment_observation(ctx, statement, hl7v3.text(statement.find(T.text))))


# -- immunisations --------------------------------------------------------------------------------


def is_immunisation(statement: etree._Element) -> bool:
    notes = annotation_texts(statement)
    if any(n.startswith("Primary Source:") for n in notes):
        return True
    code = statement.find(T.code)
    label = ""
    if code is not None:
        label = code.get("displayName") or code.findtext(T.originalText) or ""
    return bool(_VACCINATION.search(label)) and not _NOT_GIVEN.search(label)


def map_immunisation(ctx: Context, statement: etree._Element) -> str:
    imm: dict[str, Any] = {"resourceType": "Immunization", "status": "completed"}
    procedure = ctx.concept(statement.find(T.code), imm)
    if procedure:
        imm["extension"] = [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure",
                             "valueCodeableConcept": procedure}]
    # GP2GP carries the vaccination procedure, not the product given
    imm["vaccineCode"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                                      "code": "UNK", "display": "Unknown"}]}
    imm["patient"] = {"reference": ctx.patient}
    if ctx.encounter:
        imm["encounter"] = {"reference": ctx.encounter}
    effective = hl7v3.effective(statement)
    recorded = hl7v3.availability(statement)
    occurred = hl7v3.first_time(effective) or recorded
    if occurred:
        imm["occurrenceDateTime"] = occurred
    else:
        imm["occurrenceString"] = "unknown"
    if recorded:
        imm["recorded"] = recorded
    notes = annotation_texts(statement)
    details = _immunisation_details(" ".join(notes))
    if "Primary Source" in details:
        imm["primarySource"] = details["Primary Source"].lower().startswith("true")
    if details.get("Batch"):
        imm["lotNumber"] = details["Batch"]
    expiry = details.get("Expiration", "")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", expiry):
        imm["expirationDate"] = expiry
    if details.get("Site"):
        imm["site"] = {"text": details["Site"]}
    if details.get("Route"):
        imm["route"] = {"text": details["Route"]}
    performers = ctx.participants(statement, "PRF", "AUT")
    if performers:
        imm["performer"] = [{"actor": {"reference": p}} for p in performers]
    if notes:
        imm["note"] = [{"text": n} for n in notes]
    return ctx.add("Immunization", statement, imm)


def _immunisation_details(text: str) -> dict[str, str]:
    """``Batch: X Site: Y`` → {"Batch": "X", "Site": "Y"} (labels as the GP2GP sender writes them)."""
    matches = list(_IMMUNISATION_LABELS.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out.setdefault(m.group(1), text[m.end():end].strip())
    return out


# -- batteries and clusters -----------------------------------------------------------------------


def is_blood_pressure(compound: etree._Element) -> bool:
    code = compound.find(T.code)
    return code is not None and code.get("code") in BLOOD_PRESSURE_CODES


def map_blood_pressure(ctx: Context, compound: etree._Element) -> str:
    obs = observation_base(ctx, compound, "vital-signs")
    components: list[dict[str, Any]] = []
    notes = [n["text"] for n in obs.get("note", ())]
    for child in _statements(compound):
        name = local_name(child)
        if name == "ObservationStatement":
            component: dict[str, Any] = {"code": ctx.concept(child.find(T.code), obs) or {"text": "component"}}
            values = value_fields(ctx, child, obs)
            component.update(values or {"dataAbsentReason": {"text": "not recorded"}})
            interpretation = interpretations(child)
            if interpretation:
                component["interpretation"] = interpretation
            ranges = reference_ranges(child)
            if ranges:
                component["referenceRange"] = ranges
            components.append(component)
            notes += annotation_texts(child)
        elif name == "NarrativeStatement":
            text = hl7v3.text(child.find(T.text))
            if text:
                notes.append(text)
        else:
            notes.append(_degraded_text(ctx, child, obs))
        ctx.account(child, ctx.builder.ref(f"Observation|{hl7v3.root_id(compound)}"))
    if components:
        obs["component"] = components
    if notes:
        obs["note"] = [{"text": n} for n in notes]
    return ctx.add("Observation", compound, obs)


def map_group(ctx: Context, compound: etree._Element, member_urls: list[str]) -> str:
    obs = observation_base(ctx, compound)
    if member_urls:
        obs["hasMember"] = [{"reference": u} for u in member_urls]
    return ctx.add("Observation", compound, obs)


def degraded_observation(ctx: Context, element: etree._Element) -> str:
    """An element we do not translate: kept as a flagged Observation holding its text."""
    obs = comment_observation(ctx, element, None)
    obs["code"] = {"text": f"Untranslated GP2GP {local_name(element)}"}
    obs["valueString"] = _degraded_text(ctx, element, obs)
    return ctx.add("Observation", element, obs)


def _degraded_text(ctx: Context, element: etree._Element, resource: dict[str, Any]) -> str:
    ctx.quality.flag(resource, DEGRADED)
    text = " ".join(str(t).strip() for t in element.itertext() if str(t).strip())
    return text or f"(empty {local_name(element)})"


def _statements(compound: etree._Element) -> list[etree._Element]:
    return [child for component in compound.iterfind(T.component) for child in component
            if isinstance(child.tag, str)]


def _status(statement: etree._Element) -> str:
    status = statement.find(T.statusCode)
    code = status.get("code") if status is not None else None
    return {"ACTIVE": "preliminary", "NULLIFIED": "entered-in-error", "CANCELLED": "cancelled"}.get(code or "", "final")
