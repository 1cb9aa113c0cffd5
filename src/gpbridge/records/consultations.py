"""The consultations section: each Encounter with the Lists that carry its structure.

GP Connect 1.6 returns a consultation as its Encounter plus a ``Consultation`` List whose entries
are ``Topic (EHR)`` Lists (one per problem discussed, linked to it by
``Extension-UKCore-RelatedProblemHeader``; one untitled topic for the rest), each holding
``Category (EHR)`` Lists (the GP system's headings: History, Examination, Plan ...) or, when there
are no headings, the items themselves. Every item and problem those Lists reference is in the
Bundle, and is listed again per clinical area in the secondary Lists "... related to consultations".

Where a source sent the structure (a stored consultation List, as the GP2GP adapter writes, with
any topic and category Lists it references) it is kept. Otherwise it is derived: an entry belongs
to the consultation its ``encounter`` (``context``) names, to the problem that links it (or the
problem the consultation was about) and to the heading its kind of entry is recorded under.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from gpbridge.records.dates import clinical_date
from gpbridge.records.gpc_codes import CATEGORY, CONSULTATION, SNOMED, TOPIC
from gpbridge.records.gpc_params import EVERYTHING, Window
from gpbridge.records.links import (
    CONTENT_TYPES,
    MEDICATION_TYPES,
    RELATED_PROBLEM_HEADER,
    area_of,
    encounter_problems,
    first_code,
    index_of,
    is_problem,
    key_of,
    linking_problems,
    medication_story,
    statements_by_plan,
)
from gpbridge.records.lists import LIST_META, NO_CONTENT, ORDERED_BY, add_warning
from gpbridge.records.patient_record import PatientRecord
from gpbridge.records.section_model import UNFILED, Section, is_confidential, visible

# Headings, in the order a consultation is written up
HEADINGS = ("History", "Examination", "Social", "Test results", "Immunisations", "Plan")
_HEADING_OF_TYPE = {
    "Condition": "History", "AllergyIntolerance": "History", "DiagnosticReport": "Test results",
    "Immunization": "Immunisations", "MedicationStatement": "Plan", "MedicationRequest": "Plan",
    "ServiceRequest": "Plan",
}

# Observation category -> heading (others are history)
_HEADING_OF_CATEGORY = {"vital-signs": "Examination", "exam": "Examination", "social-history": "Social",
                        "laboratory": "Test results"}


@dataclass(slots=True)
class Topic:
    problem: dict[str, Any] | None
    title: str | None
    # heading (None: items straight in the topic) -> (``Type/id``, item, clinical area)
    headings: dict[str | None, list[tuple[str, dict[str, Any], str]]] = field(default_factory=dict)

    def add(self, heading: str | None, key: str, item: dict[str, Any], area: str | None = None) -> None:
        self.headings.setdefault(heading, []).append((key, item, area or area_of(item) or "uncategorised"))

    def in_order(self) -> list[tuple[str | None, list[tuple[str, dict[str, Any], str]]]]:
        """Headings in the order a consultation is written up (items without one first)."""
        if len(self.headings) == 1:
            return list(self.headings.items())
        return sorted(self.headings.items(), key=lambda h: -1 if h[0] is None else _heading_rank(h[0]))


def select_consultations(record: PatientRecord, options: dict[str, Any]) -> Section:
    section = Section("consultations")
    window: Window = options.get("period", EVERYTHING)
    encounters = [e for e in visible(section, record.of("Encounter")) if _in_window(window, e)]
    encounters.sort(key=lambda e: clinical_date(e) or "", reverse=True)
    if "most_recent" in options:
        encounters = encounters[: options["most_recent"]]
    section.entries = encounters
    if not encounters:
        return section
    index = index_of(record)
    plans = statements_by_plan(record)
    links = _problem_of_item(record)
    content = _content_by_encounter(record, {key_of(e) for e in encounters})
    stored = _stored_lists(record)
    subject = {"reference": record.reference}  # shared by every structure List of the request
    for encounter in encounters:
        reference = key_of(encounter)
        topics, withheld = _topics(encounter, stored.get(reference), content.get(reference, []), index, links)
        if withheld:
            section.warnings |= withheld
        section.structure.extend(_structure_lists(subject, encounter, topics, withheld))
        for topic in topics:
            if topic.problem is not None:
                section.link("problems", topic.problem)
            for items in topic.headings.values():
                for key, item, area in items:  # admitted by _topics: visible already
                    section.linked.setdefault(area, {}).setdefault(key, item)
                    if item["resourceType"] in MEDICATION_TYPES:
                        for resource in medication_story(item, index, plans):
                            section.link_entry(resource)
    return section


def consultation_topics(record: PatientRecord) -> dict[str, list[Topic]]:
    """``Encounter/id`` -> its topics, for views that show what each consultation was about."""
    index = index_of(record)
    links = _problem_of_item(record)
    content = _content_by_encounter(record, None)
    stored = _stored_lists(record)
    out = {}
    for encounter in record.of("Encounter"):
        if not is_confidential(encounter):
            reference = key_of(encounter)
            out[reference] = _topics(encounter, stored.get(reference), content.get(reference, []), index, links)[0]
    return out


def _in_window(window: Window, encounter: dict[str, Any]) -> bool:
    """GP Connect: starts on or after the period's start and ends on or before its end."""
    period = encounter.get("period") or {}
    start, end = period.get("start"), period.get("end") or period.get("start")
    return Window(window.start, None).holds(start) and Window(None, window.end).holds(end)


def _problem_of_item(record: PatientRecord) -> dict[str, dict[str, Any]]:
    """Item reference -> the (visible) problem that links it; the first problem wins."""
    out = {}
    for ref, problems in linking_problems(record).items():
        for problem in problems:
            if not is_confidential(problem):
                out[ref] = problem
                break
    return out


# what _topics needs of an entry, worked out in one visit to it: (key, entry, heading, clinical area,
# why it is withheld or None)
_Fact = tuple[str, dict[str, Any], str, str, str | None]


def _content_by_encounter(record: PatientRecord, wanted: set[str] | None) -> dict[str, list[_Fact]]:
    """Encounter reference (of the ``wanted`` ones; None: all) -> the facts of the entries recorded
    in it; problems are left out: they head topics, they are not items of them."""
    out: dict[str, list[_Fact]] = {}
    for type_ in CONTENT_TYPES:
        for resource in record.of(type_):
            encounter = (resource.get("encounter") or resource.get("context") or {}).get("reference")
            if encounter is None or (wanted is not None and encounter not in wanted):
                continue
            if type_ == "Condition" and is_problem(resource):
                continue
            out.setdefault(encounter, []).append(_fact(f"{type_}/{resource['id']}", resource))
    return out


def _fact(key: str, resource: dict[str, Any]) -> _Fact:
    withheld = None
    type_ = resource["resourceType"]
    if "meta" in resource and is_confidential(resource):
        withheld = "confidential-items"
    elif type_ == "DiagnosticReport" and resource.get("status") in UNFILED:
        withheld = "data-awaiting-filing"
    if type_ == "Observation":  # one pass over its categories gives both
        heading = heading_of(resource)
        area = "investigations" if heading == "Test results" else "uncategorised"
    else:
        heading, area = _HEADING_OF_TYPE.get(type_, "History"), area_of(resource) or "uncategorised"
    return key, resource, heading, area, withheld


def _stored_lists(record: PatientRecord) -> dict[str, dict[str, Any]]:
    """Encounter reference -> the consultation List a source sent for it."""
    out: dict[str, dict[str, Any]] = {}
    for listing in record.of("List"):
        encounter = (listing.get("encounter") or {}).get("reference")
        if isinstance(encounter, str) and first_code(listing.get("code")) == CONSULTATION[0]:
            out.setdefault(encounter, listing)
    return out


def _topics(
    encounter: dict[str, Any],
    stored: dict[str, Any] | None,
    content: list[_Fact],
    index: dict[str, dict[str, Any]],
    links: dict[str, dict[str, Any]],
) -> tuple[list[Topic], set[str]]:
    """The consultation's topics, and the warnings for what was withheld from them."""
    withheld: set[str] = set()
    topics: dict[str | None, Topic] = {}
    placed: set[str] = set()

    def admit(key: str, item: dict[str, Any]) -> bool:
        if key in placed:
            return False
        placed.add(key)
        if is_confidential(item):
            withheld.add("confidential-items")
            return False
        if item["resourceType"] == "DiagnosticReport" and item.get("status") in UNFILED:
            withheld.add("data-awaiting-filing")
            return False
        return True

    loose: list[_Fact] = []
    for entry in (stored or {}).get("entry") or ():
        found = index.get(ref := (entry.get("item") or {}).get("reference", ""))
        if found is None:
            continue
        if found.get("resourceType") == "List" and first_code(found.get("code")) == TOPIC[0]:
            _stored_topic(found, index, topics, admit)
        elif found.get("resourceType") != "List":
            loose.append(_fact(ref, found))
    reasons = [index[r] for r in encounter_problems(encounter) if r in index and not is_confidential(index[r])]
    reason = reasons[0] if reasons else None
    # the source's order, then the record's: entries of one consultation share its date
    for key, item, heading, area, why in [*loose, *content] if loose else content:
        if key in placed:
            continue
        placed.add(key)
        if why is not None:
            withheld.add(why)
            continue
        problem = links.get(key) or reason
        topic_key = key_of(problem) if problem is not None else None
        if (topic := topics.get(topic_key)) is None:
            topic = topics[topic_key] = Topic(problem, _display(problem) if problem is not None else None)
        topic.add(heading, key, item, area)
    for reason in reasons:  # a problem the consultation was about, with nothing recorded under it
        topics.setdefault(key_of(reason), Topic(reason, _display(reason)))
    ordered = sorted(topics.values(), key=lambda t: t.problem is None)  # problem topics first
    return ordered, withheld


def _stored_topic(topic_list: dict[str, Any], index: dict[str, dict[str, Any]],
                  topics: dict[str | None, Topic], admit: Any) -> None:
    problem_ref = _related_problem(topic_list)
    problem = index.get(problem_ref) if problem_ref else None
    if problem is not None and is_confidential(problem):
        problem = None
    topic = Topic(problem, topic_list.get("title") or (_display(problem) if problem else None))
    topics[f"List/{topic_list['id']}"] = topic
    for entry in topic_list.get("entry") or ():
        found = index.get(ref := (entry.get("item") or {}).get("reference", ""))
        if found is None:
            continue
        if found.get("resourceType") == "List" and first_code(found.get("code")) == CATEGORY[0]:
            for sub in found.get("entry") or ():
                item = index.get(ref := (sub.get("item") or {}).get("reference", ""))
                if item is not None and item.get("resourceType") != "List" and admit(ref, item):
                    topic.add(found.get("title") or heading_of(item), ref, item)
        elif found.get("resourceType") != "List" and admit(ref, found):
            topic.add(None, ref, found)


def _related_problem(listing: dict[str, Any]) -> str | None:
    for ext in listing.get("extension") or ():
        if ext.get("url") != RELATED_PROBLEM_HEADER:
            continue
        for sub in ext.get("extension") or ():
            if sub.get("url") == "target":
                return (sub.get("valueReference") or {}).get("reference")
    return None


def heading_of(item: dict[str, Any]) -> str:
    """The heading an entry is written under in a GP consultation."""
    if item.get("resourceType") == "Observation":
        for concept in item.get("category") or ():
            for coding in concept.get("coding") or ():
                if (heading := _HEADING_OF_CATEGORY.get(coding.get("code"))) is not None:
                    return heading
        return "History"
    return _HEADING_OF_TYPE.get(str(item.get("resourceType")), "History")


def _display(resource: dict[str, Any]) -> str | None:
    code = resource.get("code") or {}
    if code.get("text"):
        return str(code["text"])
    for coding in code.get("coding") or ():
        if coding.get("display"):
            return str(coding["display"])
    return None


def _structure_lists(
    subject: dict[str, str], encounter: dict[str, Any], topics: list[Topic], withheld: set[str]
) -> list[dict[str, Any]]:
    """The consultation List, then each topic List followed by its category Lists."""
    reference = key_of(encounter)
    at = {"reference": reference}
    when = (encounter.get("period") or {}).get("start")
    out: list[dict[str, Any]] = []
    topic_refs: list[str] = []
    for number, topic in enumerate(topics, start=1):
        topic_id = _list_id(subject, reference, str(number))
        topic_refs.append(f"List/{topic_id}")
        children: list[str] = []
        category_lists = []
        for heading, entries in topic.in_order():
            items = [entry[0] for entry in entries]
            if heading is None:
                children.extend(items)
                continue
            category_id = _list_id(subject, reference, f"{number}-{_heading_rank(heading)}")
            children.append(f"List/{category_id}")
            category_lists.append(_structure_list(category_id, _CATEGORY_CODE, heading, subject, at, when, items))
        listing = _structure_list(topic_id, _TOPIC_CODE, topic.title, subject, at, when, children)
        if topic.problem is not None:
            listing["extension"] = [{"url": RELATED_PROBLEM_HEADER, "extension": [
                {"url": "type", "valueCode": "parent"},
                {"url": "target", "valueReference": {"reference": key_of(topic.problem)}}]}]
        out.append(listing)
        out.extend(category_lists)
    consultation = _structure_list(_list_id(subject, reference, ""), _CONSULTATION_CODE,
                                   _consultation_title(encounter), subject, at, when, topic_refs)
    for warning in sorted(withheld):
        add_warning(consultation, warning)
    return [consultation, *out]


def _structure_list(
    list_id: str, code: dict[str, Any], title: str | None, subject: dict[str, str], encounter: dict[str, str],
    when: str | None, items: list[str],
) -> dict[str, Any]:
    """A structure List, built directly: several hundred per record, so the constant parts are
    shared objects (never changed after)."""
    out: dict[str, Any] = {"resourceType": "List", "id": list_id, "meta": LIST_META, "status": "current",
                           "mode": "snapshot"}
    if title:
        out["title"] = title
    out["code"] = code
    out["subject"] = subject
    out["encounter"] = encounter
    if when:
        out["date"] = when
    out["orderedBy"] = ORDERED_BY["system"]
    if items:
        out["entry"] = [{"item": {"reference": ref}} for ref in items]
    else:
        out["emptyReason"] = NO_CONTENT
        out["note"] = [{"text": "Information not available"}]
    return out


_CONSULTATION_CODE, _TOPIC_CODE, _CATEGORY_CODE = (
    {"coding": [{"system": SNOMED, "code": code, "display": display}]} for code, display in (CONSULTATION, TOPIC, CATEGORY)
)


def _heading_rank(heading: str | None) -> int:
    return HEADINGS.index(heading) if heading in HEADINGS else len(HEADINGS)


def _consultation_title(encounter: dict[str, Any]) -> str:
    for kind in encounter.get("type") or ():
        if kind.get("text"):
            return str(kind["text"])
        for coding in kind.get("coding") or ():
            if coding.get("display"):
                return str(coding["display"])
    return CONSULTATION[1]


def _list_id(subject: dict[str, str], encounter: str, path: str) -> str:
    """Stable per consultation and place in it, so a repeat request names the same Lists: the
    Encounter's id and the path, or (when that would not fit a FHIR id) a name-based UUID."""
    id_ = f"{encounter[10:]}-c{path}"  # after "Encounter/"
    if len(id_) <= 64:
        return id_
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{subject['reference']}/{encounter}/consultation/{path}"))
