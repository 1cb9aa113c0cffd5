"""ehrComposition → Encounter and its consultation List.

Compositions GP2GP senders use only as containers ("Non-consultation data", "GP to GP
communication transaction", ...) are not encounters: their statements stand alone.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from gpbridge.adapters.common.codes import SNOMED
from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.hl7v3 import T

NON_CONSULTATION = frozenset({"196401000000100", "196391000000103", "109341000000100", "394867008"})
CONSULTATION_LIST = {"coding": [{"system": SNOMED, "code": "325851000000107",
                                 "display": "Consultation encounter type"}]}
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def is_consultation(composition: etree._Element) -> bool:
    code = composition.find(T.code)
    return code is None or code.get("code") not in NON_CONSULTATION


def map_encounter(ctx: Context, composition: etree._Element) -> str:
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
                  "display": "ambulatory"},
    }
    kind = ctx.concept(composition.find(T.code), encounter)
    if kind:
        encounter["type"] = [kind]
    encounter["subject"] = {"reference": ctx.patient}
    participants = []
    author = ctx.author(composition)
    if author:
        participants.append({"type": [{"coding": [{"system": _PARTICIPATION, "code": "PART",
                                                   "display": "Participation"}], "text": "recorder"}],
                             "individual": {"reference": author}})
    for part in composition.iterfind(T.Participant2):
        agent = part.find(f"{T.agentRef}/{T.id}")
        url = ctx.agent(agent.get("root", "")) if agent is not None else None
        if url:
            participants.append({"type": [{"coding": [{"system": _PARTICIPATION, "code": "PPRF",
                                                       "display": "primary performer"}]}],
                                 "individual": {"reference": url}})
    if participants:
        encounter["participant"] = participants
    times = hl7v3.effective(composition)
    period = times.get("effectivePeriod") or (
        {"start": times["effectiveDateTime"]} if "effectiveDateTime" in times else {})
    if not period:
        when = hl7v3.availability(composition)
        period = {"start": when} if when else {}
    if period:
        encounter["period"] = period
    place = hl7v3.text(composition.find(f"{T.location}/{T.locatedEntity}/{T.locatedPlace}/{T.name}"))
    if place:
        encounter["location"] = [{"location": {"display": place}}]
    return ctx.add("Encounter", composition, encounter)


def map_consultation_list(ctx: Context, composition: etree._Element, encounter: str, entries: list[str]) -> None:
    listing: dict[str, Any] = {"resourceType": "List", "status": "current", "mode": "snapshot",
                               "code": CONSULTATION_LIST}
    code = composition.find(T.code)
    title = (code.get("displayName") or code.findtext(T.originalText)) if code is not None else None
    if title:
        listing["title"] = title.strip()
    listing["subject"] = {"reference": ctx.patient}
    listing["encounter"] = {"reference": encounter}
    when = hl7v3.availability(composition)
    if when:
        listing["date"] = when
    present = [e for e in dict.fromkeys(entries) if ctx.builder.resource_at(e) is not None]
    if present:
        listing["entry"] = [{"item": {"reference": e}} for e in present]
    else:
        listing["emptyReason"] = {"text": "No entries"}
    sid = f"{hl7v3.root_id(composition)}/list"
    ctx.add("List", composition, listing, sid)
