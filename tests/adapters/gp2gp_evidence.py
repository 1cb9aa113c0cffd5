"""Accounting for every source item of a UAT pair, with evidence for what the extract lacks.

The oracle (gp2gp_oracle) pairs source and translated items by code and date. A source item left
unpaired is a translation defect unless the extract provably does not carry it. Two such cases
exist, and each is proven item by item from the extract itself, never assumed:

- **absent**: a MedicationRequest order with status ``stopped``. The sending adaptor
  (NHSDigital/integration-adaptor-gp2gp, ``MedicationRequestUtils.isStoppedMedicationOrder``,
  applied in ``EncounterComponentsMapper.mapMedicationRequest``) writes no ``ehrSupplyPrescribe``
  for it. Proof: the authorisation the source plan became holds exactly as many
  ``ehrSupplyPrescribe`` as the plan has orders that are not stopped, so none is left for these.
- **undated**: the code is recovered, but the extract wrote every time of the statement — its
  own, those of the statements enclosing it and the composition's (author/time included) — as
  nullFlavor. Proof: the statement behind the translated resource and all its ancestors carry no
  time value.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gp2gp_oracle import SOURCE, TARGET, Item, _matches, _resources, _with_ids, items, match, same_code
from lxml import etree

V3 = "{urn:hl7-org:v3}"
STATEMENT_SYSTEM = "https://gpbridge.dev/Id/gp2gp-statement"
_TIMES = (f"{V3}effectiveTime", f"{V3}availabilityTime", f"{V3}author/{V3}time")
_TIME_TAGS = (f"{V3}effectiveTime", f"{V3}availabilityTime", f"{V3}time")
_STATEMENTS = frozenset(f"{V3}{name}" for name in (
    "ObservationStatement", "NarrativeStatement", "CompoundStatement", "LinkSet", "MedicationStatement",
    "PlanStatement", "RequestStatement", "ehrSupplyAuthorise", "ehrSupplyPrescribe", "ehrSupplyDiscontinue",
    "ehrComposition"))

JSON = dict[str, Any]


@dataclass
class Outcome:
    kind: str
    source: int = 0
    produced: int = 0
    matched: int = 0  # code and date
    undated: list[tuple[Item, str]] = field(default_factory=list)  # (item, evidence)
    absent: list[tuple[Item, str]] = field(default_factory=list)  # (item, evidence)
    missing: list[Item] = field(default_factory=list)  # unexplained: a translation defect


def account(source_bundle: JSON, translated_bundle: JSON, extract: etree._Element) -> dict[str, Outcome]:
    source, translated = _resources(source_bundle), _resources(_with_ids(translated_bundle))
    src, out = items(SOURCE, source_bundle), items(TARGET, _with_ids(translated_bundle))
    by_ref = {f"{r['resourceType']}/{r.get('id')}": r for r in source + translated}
    statements = {e.find(f"{V3}id").get("root"): e for e in extract.iter(*_STATEMENTS) if e.find(f"{V3}id") is not None}
    outcomes = {}
    for kind in SOURCE:
        outcome = Outcome(kind, len(src[kind]), len(out[kind]))
        candidates = src[kind]
        if kind == "medication orders":
            outcome.absent = _stopped_orders(candidates, src["medication plans"], out["medication plans"], by_ref,
                                             statements)
            proven = {id(item) for item, _ in outcome.absent}
            candidates = [item for item in candidates if id(item) not in proven]
        recall = match(kind, candidates, out[kind])
        outcome.matched = recall.matched
        paired = set(recall.pairs.values())
        undated_out = [p for j, p in enumerate(out[kind]) if j not in paired and not p.dates]
        second = match(kind, recall.missing, undated_out, same_code)
        for i, j in second.pairs.items():
            evidence = _undated_evidence(by_ref[undated_out[j].ref], statements)
            if evidence:
                outcome.undated.append((recall.missing[i], evidence))
        explained = {id(item) for item, _ in outcome.undated}
        outcome.missing = [item for item in recall.missing if id(item) not in explained]
        outcomes[kind] = outcome
    return outcomes


def _statement_ids(resource: JSON) -> list[str]:
    return [i["value"].split("/", 1)[1] for i in resource.get("identifier") or () if i.get("system") == STATEMENT_SYSTEM]


def _undated_evidence(resource: JSON, statements: dict[str, etree._Element]) -> str | None:
    """Why the translated resource has no date: the extract gives none in the statement behind it
    (nested statements included), nor on the statements and composition enclosing it."""
    for sid in _statement_ids(resource):
        element = statements.get(sid)
        if element is None:
            continue
        enclosing = []
        for ancestor in element.iterancestors():
            enclosing.append(ancestor)
            if ancestor.tag == f"{V3}ehrComposition":
                break
        inside = [t for t in element.iter(*_TIME_TAGS) if _has_time(t)]
        above = [t for e in enclosing for path in _TIMES for t in e.iterfind(path) if _has_time(t)]
        if not inside and not above:
            names = "/".join(etree.QName(e).localname for e in reversed([element, *enclosing]))
            return f"statement {sid} ({names}): every effectiveTime, availabilityTime and author time is nullFlavor"
    return None


def _has_time(element: etree._Element) -> bool:
    return any(e.get("value") for e in element.iter())


def _stopped_orders(orders: list[Item], source_plans: list[Item], produced_plans: list[Item],
                    by_ref: dict[str, JSON], statements: dict[str, etree._Element]) -> list[tuple[Item, str]]:
    """Stopped source orders proven to have no ehrSupplyPrescribe in the extract.

    Plans are paired with the extract's authorisations by code and date *and* by the number of
    issues: an authorisation fulfilled by as many ehrSupplyPrescribe as its plan has orders that
    are not stopped. A plan paired so has no prescribe left for its stopped orders."""
    live: Counter[str] = Counter()
    stopped: dict[str, list[Item]] = {}
    for item in orders:
        order = by_ref[item.ref]
        plan = next((b["reference"] for b in order.get("basedOn") or ()), "")
        if order.get("status") == "stopped":
            stopped.setdefault(plan, []).append(item)
        else:
            live[plan] += 1
    authorisations = {p.ref: _statement_ids(by_ref[p.ref]) for p in produced_plans}
    issues = {ref: sum(_prescribes_fulfilling(a, statements) for a in ids) for ref, ids in authorisations.items()}
    pairing = match("medication plans", source_plans, produced_plans,
                    lambda s, p: _matches(s, p) and issues[p.ref] == live[s.ref])
    proven = []
    for i, j in pairing.pairs.items():
        plan_ref = source_plans[i].ref
        for item in stopped.get(plan_ref, ()):
            proven.append((item, f"{item.ref} is stopped; {plan_ref} has {live[plan_ref]} orders not stopped and "
                                 f"{len(stopped[plan_ref])} stopped; its authorisation "
                                 f"{', '.join(authorisations[produced_plans[j].ref])} in the extract is "
                                 f"fulfilled by {issues[produced_plans[j].ref]} ehrSupplyPrescribe"))
    return proven


def _prescribes_fulfilling(authorise: str, statements: dict[str, etree._Element]) -> int:
    element = statements.get(authorise)
    if element is None:
        return 0
    root = element.getroottree().getroot()
    return sum(1 for ref in root.iter(f"{V3}ehrSupplyPrescribe")
               for prior in ref.iterfind(f"{V3}inFulfillmentOf/{V3}priorMedicationRef/{V3}id")
               if prior.get("root") == authorise)
