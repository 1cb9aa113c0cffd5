"""Allergy structures (CATEGORY CompoundStatement around one ObservationStatement) → AllergyIntolerance.

GP2GP marks the kind of allergy by the compound's code: "H/O: drug allergy" (Read 14L..00) or
"H/O: non-drug allergy" (SN53.00), and their SNOMED CT equivalents.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.hl7v3 import T, local_name
from gpbridge.adapters.gp2gp.observations import degraded_observation
from gpbridge.adapters.gp2gp.values import annotation_texts

ALLERGY_CATEGORIES = frozenset({"14L..00", "14L..", "SN53.00", "SN53.", "416098002", "419199007"})
NON_DRUG = frozenset({"SN53.", "SN53.00", "419199007"})
_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def is_allergy(compound: etree._Element) -> bool:
    code = compound.find(T.code)
    if compound.get("classCode") != "CATEGORY" or code is None:
        return False
    if code.get("code") in ALLERGY_CATEGORIES:
        return True
    label = (code.get("displayName") or "").lower()
    return "allergy" in label and label.startswith("h/o")


def map_allergy(ctx: Context, compound: etree._Element) -> list[str]:
    statements = [c for comp in compound.iterfind(T.component) for c in comp if isinstance(c.tag, str)]
    inner = next((s for s in statements if local_name(s) == "ObservationStatement"), None)
    if inner is None:
        return [degraded_observation(ctx, compound)]
    category_code = compound.find(T.code)
    non_drug = category_code is not None and category_code.get("code") in NON_DRUG
    allergy: dict[str, Any] = {"resourceType": "AllergyIntolerance"}
    notes = annotation_texts(inner)
    status_text = next((n for n in notes if n.lower().startswith("status:")), "")
    resolved = bool(re.search(r"resolved|inactive|ended", status_text, re.I))
    allergy["clinicalStatus"] = {"coding": [{"system": _CLINICAL, "code": "resolved" if resolved else "active"}]}
    allergy["verificationStatus"] = {"coding": [{"system": _VERIFICATION, "code": "confirmed"}]}
    allergy["type"] = "allergy"
    allergy["category"] = ["environment" if non_drug else "medication"]
    code = ctx.concept(inner.find(T.code), allergy)
    if code:
        allergy["code"] = code
    allergy["patient"] = {"reference": ctx.patient}
    if ctx.encounter:
        allergy["encounter"] = {"reference": ctx.encounter}
    onset = hl7v3.first_time(hl7v3.effective(inner)) or hl7v3.first_time(hl7v3.effective(compound))
    if onset:
        allergy["onsetDateTime"] = onset
    recorded = hl7v3.availability(inner) or hl7v3.availability(compound)
    if recorded:
        allergy["recordedDate"] = recorded
    authors = ctx.participants(inner, "AUT") or ctx.participants(compound, "AUT")
    performers = ctx.participants(inner, "PRF") or ctx.participants(compound, "PRF")
    if authors:
        allergy["recorder"] = {"reference": authors[0]}
    if performers:
        allergy["asserter"] = {"reference": performers[0]}
    extra = [hl7v3.text(s.find(T.text)) for s in statements if local_name(s) == "NarrativeStatement"]
    texts = notes + [t for t in extra if t]
    if texts:
        allergy["note"] = [{"text": t} for t in texts]
    url = ctx.add("AllergyIntolerance", compound, allergy)
    for statement in statements:
        ctx.account(statement, url)
    return [url]
