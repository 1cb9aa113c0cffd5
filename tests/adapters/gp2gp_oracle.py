"""The fidelity oracle: does a translated GP2GP extract recover its source GP Connect bundle?

The shared UAT pairs were produced by NHS England's GP2GP adaptor from GP Connect (STU3)
bundles. For each clinical type we pair every source resource with a translated one sharing a
code (concept id, description id or legacy code) and a date (day precision, ±1 day for the UK
local-time vs UTC shift), one-to-one, and report recall = paired / source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

DESC_ID = "descriptionId"
REFERRAL = "3457005"

JSON = dict[str, Any]


@dataclass
class Item:
    codes: frozenset[str]
    dates: frozenset[str]  # YYYY, YYYY-MM or YYYY-MM-DD
    label: str = ""
    ref: str = ""  # Type/id of the source resource, or the translated entry's fullUrl
    # dates that must agree field by field where both sides have them (e.g. authoredOn)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Recall:
    kind: str
    source: int = 0
    produced: int = 0
    matched: int = 0
    missing: list[Item] = field(default_factory=list)
    pairs: dict[int, int] = field(default_factory=dict)  # source index -> produced index

    @property
    def ratio(self) -> float:
        return self.matched / self.source if self.source else 1.0


def codes_of(concept: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(concept, dict):
        return out
    for coding in concept.get("coding") or ():
        if coding.get("code"):
            out.add(str(coding["code"]))
        for ext in coding.get("extension") or ():
            for inner in ext.get("extension") or ():
                if inner.get("url") == DESC_ID:
                    value = inner.get("valueId") or (inner.get("valueIdentifier") or {}).get("value")
                    if value:
                        out.add(str(value))
    return out


def _dates(*values: Any) -> frozenset[str]:
    out = set()
    for v in values:
        if isinstance(v, dict):
            v = v.get("start") or v.get("end")
        if isinstance(v, str) and v[:4].isdigit():
            out.add(v[:10])
    return frozenset(out)


def _same_day(a: str, b: str) -> bool:
    if len(a) < 10 or len(b) < 10:
        n = min(len(a), len(b))
        return a[:n] == b[:n]
    if a == b:
        return True
    try:
        da, db = date.fromisoformat(a), date.fromisoformat(b)
    except ValueError:
        return False
    return abs(da - db) <= timedelta(days=1)


def same_code(src: Item, out: Item) -> bool:
    if src.codes and not (src.codes & out.codes):
        # the extract may carry only the text of a term coded in a local scheme (e.g. EMIS drug
        # codes): then the text must match exactly and the translation must be uncoded too
        if out.codes or not src.label or src.label.strip().lower() != out.label.strip().lower():
            return False
    return True


def _matches(src: Item, out: Item) -> bool:
    """Same code and, when the source is dated, a translated date on the same day."""
    if not same_code(src, out):
        return False
    if any(not _same_day(v, out.fields[k]) for k, v in src.fields.items() if k in out.fields):
        return False
    if not src.dates:
        return True
    return any(_same_day(a, b) for a in src.dates for b in out.dates)


def match(kind: str, source: list[Item], produced: list[Item],
          matches: Callable[[Item, Item], bool] = _matches) -> Recall:
    """Maximum one-to-one pairing (augmenting paths), so the order of items cannot lose a pair."""
    recall = Recall(kind, len(source), len(produced))
    candidates = [[j for j, p in enumerate(produced) if matches(s, p)] for s in source]
    partner: dict[int, int] = {}  # produced index -> source index

    def augment(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in partner or augment(partner[j], seen):
                partner[j] = i
                return True
        return False

    for i in range(len(source)):
        if augment(i, set()):
            recall.matched += 1
        else:
            recall.missing.append(source[i])
    recall.pairs = {i: j for j, i in partner.items()}
    return recall


# -- source (GP Connect STU3) -----------------------------------------------------------------------


def _resources(bundle: JSON) -> list[JSON]:
    return [e["resource"] for e in bundle.get("entry") or () if isinstance(e.get("resource"), dict)]


def _index(resources: Iterable[JSON]) -> dict[str, JSON]:
    return {f"{r['resourceType']}/{r.get('id')}": r for r in resources}


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    return str(concept.get("text") or next((c.get("display") for c in concept.get("coding") or () if c.get("display")), ""))


def _med_text(index: dict[str, JSON], r: JSON) -> str:
    med = index.get((r.get("medicationReference") or {}).get("reference", ""))
    return _text(med.get("code")) if med else _text(r.get("medicationCodeableConcept"))


def _med_codes(index: dict[str, JSON], r: JSON) -> set[str]:
    med = index.get((r.get("medicationReference") or {}).get("reference", ""))
    return codes_of(med.get("code")) if med else codes_of(r.get("medicationCodeableConcept"))


def _request(ix: dict[str, JSON], r: JSON) -> Item:
    """A MedicationRequest: one of its dates must agree, and its validity start must (the sender
    writes authoredOn of an issue as the validity start, so authoredOn cannot be held to itself)."""
    validity = (r.get("dispenseRequest") or {}).get("validityPeriod")
    start = ((validity or {}).get("start") or "")[:10]
    return Item(frozenset(_med_codes(ix, r)), _dates(r.get("authoredOn"), validity), _med_text(ix, r),
                fields={"start": start} if start else {})


def _lab_report_ids(r: JSON) -> frozenset[str]:
    """A report's "code" for pairing: the laboratory's report number, when it has one."""
    return frozenset(i["value"] for i in r.get("identifier") or ()
                     if i.get("system", "").removeprefix("urn:oid:") == "2.16.840.1.113883.2.1.4.5.5" and i.get("value"))


def _accession(r: JSON) -> frozenset[str]:
    value = (r.get("accessionIdentifier") or {}).get("value")
    return frozenset({value}) if value else frozenset()


def _ext_concept(r: JSON, suffix: str) -> Any:
    return next((e.get("valueCodeableConcept") for e in r.get("extension") or () if e.get("url", "").endswith(suffix)),
                None)


Extractor = Callable[[dict[str, JSON], JSON], Item]

SOURCE: dict[str, tuple[str, Callable[[JSON], bool], Extractor]] = {
    "allergies": ("AllergyIntolerance", lambda r: True,
                  lambda ix, r: Item(frozenset(codes_of(r.get("code"))), _dates(r.get("onsetDateTime"), r.get("assertedDate")))),
    "problems": ("Condition", lambda r: True,
                 lambda ix, r: Item(frozenset(codes_of(r.get("code"))), _dates(r.get("onsetDateTime"), r.get("assertedDate")))),
    "medication plans": ("MedicationRequest", lambda r: r.get("intent") == "plan",
                         _request),
    "medication orders": ("MedicationRequest", lambda r: r.get("intent") == "order",
                          _request),
    "medication statements": ("MedicationStatement", lambda r: True,
                              lambda ix, r: Item(frozenset(_med_codes(ix, r)), _dates(r.get("effectivePeriod"), r.get("dateAsserted")), _med_text(ix, r))),
    "observations": ("Observation", lambda r: True,
                     lambda ix, r: Item(frozenset(codes_of(r.get("code"))), _dates(r.get("effectiveDateTime"), r.get("effectivePeriod"), r.get("issued")), (r.get("code") or {}).get("coding", [{}])[0].get("display", ""))),
    "immunisations": ("Immunization", lambda r: True,
                      lambda ix, r: Item(frozenset(codes_of(_ext_concept(r, "VaccinationProcedure-1")) | codes_of(r.get("vaccineCode")) - {"UNK"}), _dates(r.get("date")))),
    "referrals": ("ReferralRequest", lambda r: True,
                  lambda ix, r: Item(frozenset(set().union(*[codes_of(c) for c in r.get("reasonCode") or ()], *[codes_of(c) for c in r.get("serviceRequested") or ()])), _dates(r.get("authoredOn")))),
    "documents": ("DocumentReference", lambda r: True,
                  lambda ix, r: Item(frozenset(codes_of(r.get("type"))), _dates(r.get("created"), r.get("indexed")), _text(r.get("type")))),
    "diagnostic reports": ("DiagnosticReport", lambda r: True,
                           lambda ix, r: Item(_lab_report_ids(r), _dates(r.get("issued")))),
    "specimens": ("Specimen", lambda r: True,
                  lambda ix, r: Item(_accession(r), _dates((r.get("collection") or {}).get("collectedDateTime")))),
}

TARGET: dict[str, tuple[str, Callable[[JSON], bool], Extractor]] = {
    "allergies": ("AllergyIntolerance", lambda r: True,
                  lambda ix, r: Item(frozenset(codes_of(r.get("code"))), _dates(r.get("onsetDateTime"), r.get("recordedDate")))),
    "problems": ("Condition", lambda r: True,
                 lambda ix, r: Item(frozenset(codes_of(r.get("code"))), _dates(r.get("onsetDateTime"), r.get("recordedDate")))),
    "medication plans": ("MedicationRequest", lambda r: r.get("intent") == "plan",
                         _request),
    "medication orders": ("MedicationRequest", lambda r: r.get("intent") == "order",
                          _request),
    "medication statements": ("MedicationStatement", lambda r: True,
                              lambda ix, r: Item(frozenset(_med_codes(ix, r)), _dates(r.get("effectivePeriod"), r.get("dateAsserted")), _med_text(ix, r))),
    "observations": ("Observation", lambda r: True,
                     lambda ix, r: Item(frozenset(codes_of(r.get("code"))), _dates(r.get("effectiveDateTime"), r.get("effectivePeriod"), r.get("issued")))),
    "immunisations": ("Immunization", lambda r: True,
                      lambda ix, r: Item(frozenset(codes_of(_ext_concept(r, "VaccinationProcedure")) | codes_of(r.get("vaccineCode")) - {"UNK"}), _dates(r.get("occurrenceDateTime"), r.get("recorded")))),
    "referrals": ("ServiceRequest", lambda r: any(REFERRAL in codes_of(c) for c in r.get("category") or ()),
                  lambda ix, r: Item(frozenset(codes_of(r.get("code"))), _dates(r.get("authoredOn")))),
    "documents": ("DocumentReference", lambda r: True,
                  lambda ix, r: Item(frozenset(codes_of(r.get("type"))), _dates(r.get("date"), (r.get("context") or {}).get("period"), ((r.get("content") or [{}])[0].get("attachment") or {}).get("creation")), _text(r.get("type")))),
    "diagnostic reports": ("DiagnosticReport", lambda r: True,
                           lambda ix, r: Item(_lab_report_ids(r), _dates(r.get("issued"), r.get("effectiveDateTime")))),
    "specimens": ("Specimen", lambda r: True,
                  lambda ix, r: Item(_accession(r), _dates((r.get("collection") or {}).get("collectedDateTime")))),
}


def items(table: dict[str, tuple[str, Callable[[JSON], bool], Extractor]], bundle: JSON) -> dict[str, list[Item]]:
    resources = _resources(bundle)
    ix = _index(resources)
    out: dict[str, list[Item]] = {}
    for kind, (type_, keep, extract) in table.items():
        out[kind] = [_referenced(extract(ix, r), r) for r in resources if r.get("resourceType") == type_ and keep(r)]
    return out


def _referenced(item: Item, resource: JSON) -> Item:
    item.ref = f"{resource['resourceType']}/{resource.get('id')}"
    return item


def fidelity(source_bundle: JSON, translated_bundle: JSON) -> dict[str, Recall]:
    src = items(SOURCE, source_bundle)
    out = items(TARGET, _with_ids(translated_bundle))
    return {kind: match(kind, src[kind], out[kind]) for kind in SOURCE}


def _with_ids(bundle: JSON) -> JSON:
    """Translated entries are keyed by fullUrl: give each resource an id so references resolve."""
    entries = []
    for e in bundle.get("entry") or ():
        r = dict(e["resource"])
        r["id"] = e["fullUrl"]
        entries.append({"resource": r})
    out = {"entry": entries}
    # references in the translation are fullUrls; index them under Type/fullUrl too
    for e in entries:
        r = e["resource"]
        ref = (r.get("medicationReference") or {}).get("reference")
        if ref and not ref.startswith("Medication/"):
            r["medicationReference"] = {"reference": f"Medication/{ref}"}
    return out
