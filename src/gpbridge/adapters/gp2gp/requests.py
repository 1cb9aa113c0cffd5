"""RequestStatement (referrals) and PlanStatement (recalls, diary entries) → ServiceRequest."""

from __future__ import annotations

from typing import Any

from lxml import etree

from gpbridge.adapters.common.codes import SNOMED
from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.hl7v3 import T

REFERRAL_CATEGORY = {"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]}
RECALL_CATEGORY = {"coding": [{"system": SNOMED, "code": "410536001", "display": "Contextual qualifier"}],
                   "text": "Recall / diary entry"}
# GP2GP priorityCode (SNOMED CT) -> ServiceRequest.priority
_PRIORITY = {"394848005": "routine", "394849002": "urgent", "88694003": "asap", "394850002": "urgent"}


def map_referral(ctx: Context, statement: etree._Element) -> str:
    request = _base(ctx, statement, "order", REFERRAL_CATEGORY)
    priority = statement.find(T.priorityCode)
    if priority is not None:
        mapped = _PRIORITY.get(priority.get("code") or "")
        original = (priority.findtext(T.originalText) or "").strip().lower()
        if mapped or original in ("routine", "urgent", "asap", "stat"):
            request["priority"] = mapped or original
    return ctx.add("ServiceRequest", statement, request)


def map_plan(ctx: Context, statement: etree._Element) -> str:
    return ctx.add("ServiceRequest", statement, _base(ctx, statement, "plan", RECALL_CATEGORY))


def _base(ctx: Context, statement: etree._Element, intent: str, category: dict[str, Any]) -> dict[str, Any]:
    status_element = statement.find(T.statusCode)
    status_code = status_element.get("code") if status_element is not None else None
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": {"COMPLETE": "completed", "ACTIVE": "active"}.get(status_code or "", "unknown"),
        "intent": intent,
        "category": [category],
    }
    text = hl7v3.text(statement.find(T.text))
    code = ctx.concept(statement.find(T.code), request, None if statement.find(T.code) is not None else text)
    request["code"] = code or {"text": text or "Unspecified request"}
    request["subject"] = {"reference": ctx.patient}
    if ctx.encounter:
        request["encounter"] = {"reference": ctx.encounter}
    times = hl7v3.effective(statement)
    when = times.get("effectiveDateTime")
    if when:
        request["occurrenceDateTime"] = when
    elif times.get("effectivePeriod"):
        request["occurrencePeriod"] = times["effectivePeriod"]
    authored = hl7v3.availability(statement)
    if authored:
        request["authoredOn"] = authored
    requesters = ctx.participants(statement, "AUT", "PRF")
    if requesters:
        request["requester"] = {"reference": requesters[0]}
    if text:
        request["note"] = [{"text": text}]
    return request
