"""``$summary``: an IPS-style patient summary document, reconciled across every linked source.

The sections are the Summary Care Record's core (and IPS's required ones plus immunisations and
results): current medication, allergies and adverse reactions, active problems, immunisations and
recent results. Each entry is one reconciled item (shown once, with a Provenance naming every
source); conflicts go in an Alerts section as DetectedIssues, and are also cited from the section
of the items they implicate, so a reader of any section sees them.

A section whose type the caller's access level leaves out (a proxy with access level
``summary`` sees no problems or results) is present, with no entries, ``emptyReason`` ``withheld``
and a text saying so: never empty as if nothing were recorded.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from gpbridge.records.access import WITHHELD_REASON, RecordAccess, demographics_withheld, withheld_text
from gpbridge.records.concepts import ConceptMatcher
from gpbridge.records.dates import clinical_date
from gpbridge.records.joined import reconciled_record
from gpbridge.records.patient_record import PatientRecord, read_resource
from gpbridge.records.reconcile import Item, Reconciled, detected_issue, provenance_of
from gpbridge.store.base import Store

LOINC = "http://loinc.org"
RECENT = timedelta(days=365)  # "recent results": the last year of the most recent result
SUMMARY_TYPES = ("AllergyIntolerance", "Condition", "MedicationStatement", "Immunization", "Observation")

# key -> (LOINC code, display, title)
SECTIONS: dict[str, tuple[str, str, str]] = {
    "medications": ("10160-0", "History of Medication use Narrative", "Medication"),
    "allergies": ("48765-2", "Allergies and adverse reactions Document", "Allergies and adverse reactions"),
    "problems": ("11450-4", "Problem list - Reported", "Problems"),
    "immunisations": ("11369-6", "History of Immunization Narrative", "Immunisations"),
    "results": ("30954-2", "Relevant diagnostic tests/laboratory data Narrative", "Recent results"),
    "alerts": ("104605-1", "Alert", "Conflicts between sources"),
}
# section -> the type its entries are
SECTION_TYPES: dict[str, str] = {
    "medications": "MedicationStatement", "allergies": "AllergyIntolerance", "problems": "Condition",
    "immunisations": "Immunization", "results": "Observation",
}  # fmt: skip


def withheld_sections(withheld_types: frozenset[str]) -> frozenset[str]:
    """The summary sections the caller's access level leaves out."""
    return frozenset(key for key, type_ in SECTION_TYPES.items() if type_ in withheld_types)


def summary_items(reconciled: Reconciled) -> dict[str, list[Item]]:
    """Which reconciled items each section shows."""

    def current(item: Item, ended: set[str], field: str) -> bool:
        resource = item.resource
        status = resource.get(field)
        code = status if isinstance(status, str) else ((status or {}).get("coding") or [{}])[0].get("code")
        return code not in ended

    results = [i for i in reconciled.of("Observation") if _is_result(i.resource)]
    newest = max((clinical_date(i.resource) or "" for i in results), default="")
    cutoff = _minus(newest, RECENT)
    return {
        "medications": [i for i in reconciled.of("MedicationStatement")
                        if current(i, {"stopped", "completed", "entered-in-error", "not-taken"}, "status")],
        "allergies": [i for i in reconciled.of("AllergyIntolerance")
                      if current(i, {"resolved", "inactive"}, "clinicalStatus")],
        "problems": [i for i in reconciled.of("Condition")
                     if current(i, {"resolved", "inactive", "remission"}, "clinicalStatus")],
        "immunisations": [i for i in reconciled.of("Immunization") if i.resource.get("status") == "completed"],
        "results": sorted((i for i in results if (clinical_date(i.resource) or "") >= cutoff),
                          key=lambda i: clinical_date(i.resource) or "", reverse=True),
    }


def _is_result(observation: dict[str, Any]) -> bool:
    categories = {c.get("code") for cat in observation.get("category") or () for c in cat.get("coding") or ()}
    return bool(categories & {"laboratory", "vital-signs"})


def _minus(instant: str, delta: timedelta) -> str:
    if not instant:
        return ""
    try:
        return (datetime.fromisoformat(instant[:10]) - delta).date().isoformat()
    except ValueError:
        return ""


def summary_bundle(
    store: Store, patient: dict[str, Any], *, access: RecordAccess, base_url: str, now: datetime | None = None,
    matcher: ConceptMatcher | None = None,
) -> dict[str, Any]:
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    record, reconciled = reconciled_record(store, patient, SUMMARY_TYPES, matcher, access=access, withhold=True)
    withheld = withheld_sections(record.withheld_types)
    patient = record.patient  # as the caller may see it (a sensitive patient's demographics withheld)
    reference = record.reference
    chosen = summary_items(reconciled)
    issues = [detected_issue(c, reference, stamp) for c in reconciled.conflicts]
    resources: dict[str, dict[str, Any]] = {}
    sections = []
    for key, items in chosen.items():
        for item in items:
            shown = item.resource
            resources[f"{shown['resourceType']}/{shown['id']}"] = shown
            if len(item.statements) > 1:
                provenance = provenance_of(item, stamp)
                resources[f"Provenance/{provenance['id']}"] = provenance
        if key in withheld:
            sections.append(_withheld_section(key))
            continue
        sections.append(_section(key, [f"{i.resource['resourceType']}/{i.resource['id']}" for i in items]))
    sections.append(_section("alerts", [f"DetectedIssue/{i['id']}" for i in issues]))
    for issue in issues:  # a conflict's statements are all in the document, so both versions are seen
        resources[f"DetectedIssue/{issue['id']}"] = issue
        for implicated in issue["implicated"]:
            found = _find(reconciled, implicated["reference"])
            if found is not None:
                resources.setdefault(implicated["reference"], found)
    author = _author(store, record)
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"reference": reference},
        "date": stamp,
        "author": [{"reference": f"Organization/{author['id']}"} if author else {"display": "gpbridge"}],
        "title": "Patient summary",
        "confidentiality": "N",
        "section": sections,
    }
    entries = [composition, patient, *([author] if author else []), *resources.values()]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": stamp,
        "entry": [{"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r} for r in entries],
    }


def _section(key: str, references: list[str]) -> dict[str, Any]:
    code, display, title = SECTIONS[key]
    section: dict[str, Any] = {
        "title": title,
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "text": {"status": "generated",
                 "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{title}: {len(references)} entries</div>'},
    }
    if references:
        section["entry"] = [{"reference": r} for r in references]
    else:
        section["emptyReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                              "code": "unavailable", "display": "Unavailable"}]}
    return section


def _withheld_section(key: str) -> dict[str, Any]:
    code, display, title = SECTIONS[key]
    return {
        "title": title,
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{withheld_text(title)}</div>'},
        "emptyReason": {"coding": [dict(WITHHELD_REASON)], "text": withheld_text(title)},
    }


def _find(reconciled: Reconciled, reference: str) -> dict[str, Any] | None:
    for item in reconciled.items:
        for statement in item.statements:
            if statement.reference == reference:
                return statement.resource
    return None


def _author(store: Store, record: PatientRecord) -> dict[str, Any] | None:
    """The registered practice of the person (a golden Patient has none: ask its sources)."""
    if demographics_withheld(record.patient):
        return None  # naming the practice would undo the redaction
    for source in [record.patient, *record.origin.values()]:
        reference = (source.get("managingOrganization") or {}).get("reference")
        if reference:
            return read_resource(store, reference)
    return None
