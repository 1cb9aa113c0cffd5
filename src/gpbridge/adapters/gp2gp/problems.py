"""Problems (LinkSet) → Condition, translated after every statement so links resolve.

The LinkSet's ``conditionNamed`` statement names the problem (its code becomes the Condition's)
and is referenced as the UK Core ActualProblem; each ``component/statementRef`` is related
clinical content. Active/inactive, onset/end and significance come from the LinkSet itself.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.hl7v3 import T

_UK = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-"
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ACTIVE = frozenset({"394774009"})
INACTIVE = frozenset({"394775005"})
MAJOR = frozenset({"386134007"})
ACTUAL_PROBLEM_TYPES = frozenset({"AllergyIntolerance", "Condition", "FamilyMemberHistory", "Observation"})
PROBLEM_PLACEHOLDER = "55607006"  # "Problem": the sender's stand-in when the problem was not an observation
_TRANSFORMED = re.compile(r"Transformed (\w+) problem header Originally coded: (.*)", re.S)


def map_problem(ctx: Context, linkset: etree._Element, encounter: str | None) -> str:
    condition: dict[str, Any] = {"resourceType": "Condition"}
    extensions: list[dict[str, Any]] = []
    status_code = linkset.find(T.code)
    status = status_code.get("code") if status_code is not None else None
    clinical = "inactive" if status in INACTIVE else "active"
    condition["clinicalStatus"] = {"coding": [{"system": _CLINICAL, "code": clinical}]}
    condition["category"] = [{"coding": [{"system": _CATEGORY, "code": "problem-list-item",
                                          "display": "Problem List Item"}]}]
    named = linkset.find(f"{T.conditionNamed}/{T.namedStatementRef}/{T.id}")
    named_id = named.get("root") if named is not None else None
    named_url = ctx.accounted.get(named_id or "")
    related_ids = [r.get("root") or "" for r in linkset.iterfind(f"{T.component}/{T.statementRef}/{T.id}")]
    condition_url = ctx.builder.ref(f"Condition|{hl7v3.root_id(linkset)}")
    named_url, kept_notes = _unwrap_placeholder(ctx, named_url, related_ids, condition_url)
    code = _problem_code(ctx, named_url)
    if code is None:
        original = status_code.findtext(T.originalText) if status_code is not None else None
        code = {"text": (original or "Problem").strip()}
    condition["code"] = code
    named_type = (ctx.builder.resource_at(named_url) or {}).get("resourceType") if named_url else None
    if named_url and named_type in ACTUAL_PROBLEM_TYPES:
        extensions.append({"url": _UK + "ActualProblem", "valueReference": {"reference": named_url}})
    elif named_url:  # UK Core's ActualProblem cannot point at e.g. an Immunization: keep it as related
        extensions.append({"url": _UK + "RelatedClinicalContent", "valueReference": {"reference": named_url}})
    qualifier = linkset.find(f"{T.code}/{T.qualifier}/{T.name}")
    if qualifier is not None and qualifier.get("code"):
        significance = "major" if qualifier.get("code") in MAJOR else "minor"
        extensions.append({"url": _UK + "ProblemSignificance", "valueCode": significance})
    related: list[str] = []
    for ref_id in related_ids:
        url = ctx.accounted.get(ref_id)
        if url and url != named_url and url not in related:
            related.append(url)
    extensions += [{"url": _UK + "RelatedClinicalContent", "valueReference": {"reference": u}} for u in related]
    if extensions:
        condition["extension"] = extensions
    condition["subject"] = {"reference": ctx.patient}
    if encounter:
        condition["encounter"] = {"reference": encounter}
    times = hl7v3.effective(linkset)
    period = times.get("effectivePeriod") or {}
    onset = period.get("start") or times.get("effectiveDateTime")
    if onset:
        condition["onsetDateTime"] = onset
    if period.get("end"):
        condition["abatementDateTime"] = period["end"]
        if clinical == "active":
            condition["clinicalStatus"]["coding"][0]["code"] = "resolved"
    recorded = hl7v3.availability(linkset)
    if recorded:
        condition["recordedDate"] = recorded
    asserters = ctx.participants(linkset, "PRF", "AUT")
    if asserters:
        condition["asserter"] = {"reference": asserters[0]}
    linked = [*related_ids, named_id or ""]
    missing = [sid for sid in linked if sid and sid not in ctx.accounted]
    notes = [{"text": n} for n in kept_notes]
    if missing:
        notes.append({"text": "Linked statements not present in the extract: " + ", ".join(missing)})
    if notes:
        condition["note"] = notes
    return ctx.add("Condition", linkset, condition)


def _unwrap_placeholder(ctx: Context, named_url: str | None, related_ids: list[str],
                        condition_url: str) -> tuple[str | None, list[str]]:
    """A sender that could only name observations as problems writes a "Problem" (55607006)
    stand-in whose note says what it replaced ("Transformed AllergyIntolerance problem header
    Originally coded: X"). The real problem is the related statement coded X: use it, and fold the
    stand-in into the Condition instead of keeping it as an Observation nobody recorded."""
    placeholder = ctx.builder.resource_at(named_url) if named_url else None
    if placeholder is None or PROBLEM_PLACEHOLDER not in _codes(placeholder.get("code")):
        return named_url, []
    texts = [n.get("text", "") for n in placeholder.get("note", ())]
    m = _TRANSFORMED.search(" ".join(texts))
    if not m:
        return named_url, []
    kind, original = m.group(1), m.group(2).strip().lower()
    candidates = [ctx.accounted[r] for r in related_ids if r in ctx.accounted]
    typed = [u for u in candidates if (ctx.builder.resource_at(u) or {}).get("resourceType") == kind] or candidates
    chosen = next((u for u in typed if original and original.startswith(_label(ctx, u))), typed[0] if typed else None)
    if chosen is None:
        return named_url, []
    assert named_url is not None
    ctx.builder.remove(named_url)
    for sid, url in list(ctx.accounted.items()):
        if url == named_url:
            ctx.accounted[sid] = condition_url
    return chosen, texts


def _codes(concept: Any) -> set[str]:
    return {c.get("code") for c in (concept or {}).get("coding", ())} if isinstance(concept, dict) else set()


def _label(ctx: Context, url: str) -> str:
    concept = _problem_code(ctx, url) or {}
    text = concept.get("text") or next((c.get("display") for c in concept.get("coding", ()) if c.get("display")), "")
    return str(text).strip().lower() or "\0"


def _problem_code(ctx: Context, url: str | None) -> dict[str, Any] | None:
    """The code of the statement that names the problem, whatever resource it became."""
    resource = ctx.builder.resource_at(url) if url else None
    if resource is None:
        return None
    if isinstance(resource.get("code"), dict):
        return dict(resource["code"])
    for ext in resource.get("extension", ()):
        if ext.get("url", "").endswith("VaccinationProcedure"):
            return dict(ext["valueCodeableConcept"])
    medication = resource.get("medicationReference", {}).get("reference")
    if medication:
        return _problem_code(ctx, medication)
    return None
