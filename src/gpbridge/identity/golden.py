"""Golden Patients: one Patient resource per person, pointing at every source record of them.

A golden Patient is an ordinary Patient (so it is versioned, searchable and audited like any
other) tagged ``identity|golden``. It carries the union of what its sources say — every name
(previous ones as ``use=old``), every address, every NHS number (under ``PERSON_NHS_SYSTEM``, so
national-number searches find only source records), other dates of birth in an extension — and ``link`` entries of type ``seealso`` to each source. Each source carries one
``seealso`` link back. A person merged into another is kept, inactive, with a ``replaced-by``
link, so a merge can be undone from history. Its blocking keys are stored as identifiers of a
gpbridge system, so finding candidates is one indexed token search, not a scan.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gpbridge.identity.blocking import blocking_keys
from gpbridge.identity.nhs_number import NHS_NUMBER_SYSTEM
from gpbridge.identity.profile import OTHER_BIRTH_DATE, PERSON_NHS_SYSTEM, Profile, profile_of
from gpbridge.store.ids import new_id

IDENTITY_SYSTEM = "https://gpbridge.dev/fhir/CodeSystem/identity"
GOLDEN_TAG = {"system": IDENTITY_SYSTEM, "code": "golden", "display": "Golden record: one person across sources"}
BLOCKING_KEY_SYSTEM = "https://gpbridge.dev/Id/identity-blocking-key"
#: blocking keys this person is deliberately not filed under: keys shared by a crowd of people
#: (placeholder names, a test-patient flood) find nothing useful and would make every write that
#: shares them search the whole crowd
CROWDED_KEY_SYSTEM = "https://gpbridge.dev/Id/identity-crowded-key"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
GOLDEN_PREFIX = "person-"
MAX_KEYS = 80  # a person with many name/date variants still files under a bounded number of keys


def new_golden_id() -> str:
    # time-ordered, as every minted id (store.ids): a new person's rows append to its indexes
    return GOLDEN_PREFIX + new_id().replace("-", "")


def is_golden(patient: dict[str, Any]) -> bool:
    for tag in (patient.get("meta") or {}).get("tag") or ():
        if isinstance(tag, dict) and tag.get("system") == IDENTITY_SYSTEM and tag.get("code") == "golden":
            return True
    return False


def is_person_reference(reference: Any) -> bool:
    return isinstance(reference, str) and reference.startswith("Patient/" + GOLDEN_PREFIX)


def person_of_source(patient: dict[str, Any]) -> str | None:
    """The golden id a source record's managed link points at, if any."""
    for link in patient.get("link") or ():
        reference = ((link or {}).get("other") or {}).get("reference")
        if is_person_reference(reference):
            return str(reference).split("/", 1)[1]
    return None


def replaced_by(person: dict[str, Any]) -> str | None:
    """The survivor a merged (retired) golden Patient points at, if any."""
    for link in person.get("link") or ():
        if isinstance(link, dict) and link.get("type") == "replaced-by":
            reference = (link.get("other") or {}).get("reference", "")
            if isinstance(reference, str) and reference.startswith("Patient/"):
                return reference.split("/", 1)[1]
    return None


def set_person_link(patient: dict[str, Any], golden_id: str | None) -> bool:
    """Point a source at its person (replacing any earlier managed link). True when it changed."""
    links = [lk for lk in patient.get("link") or () if not is_person_reference(((lk or {}).get("other") or {}).get("reference"))]
    if golden_id is not None:
        links.append({"other": {"reference": f"Patient/{golden_id}"}, "type": "seealso"})
    before = patient.get("link") or []
    if links:
        patient["link"] = links
    else:
        patient.pop("link", None)
    return before != links


def members(golden: dict[str, Any]) -> list[str]:
    """Source Patient ids of a golden Patient, in link order."""
    out = []
    for link in golden.get("link") or ():
        if link.get("type") == "seealso":
            reference = (link.get("other") or {}).get("reference", "")
            if reference.startswith("Patient/"):
                out.append(reference.split("/", 1)[1])
    return out


def build_golden(golden_id: str, sources: list[dict[str, Any]]) -> dict[str, Any]:
    """The golden Patient for a set of source Patients (the newest source's values first)."""
    golden: dict[str, Any] = {"resourceType": "Patient", "id": golden_id, "meta": {"tag": [GOLDEN_TAG]},
                              "active": True}
    for source in sources:
        absorb(golden, source)
    return golden


def absorb(golden: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """Add a source's names, addresses, numbers and dates to ``golden`` and link it (in place)."""
    source_id = source.get("id")
    _union(golden, "name", [_clean_name(n) for n in source.get("name") or () if isinstance(n, dict)],
           key=lambda n: (n.get("use") in ("old", "maiden"), n.get("family"), tuple(n.get("given") or ())))
    _union(golden, "address", [_clean_address(a) for a in source.get("address") or () if isinstance(a, dict)],
           key=lambda a: (a.get("postalCode"), tuple(a.get("line") or ())))
    _union(golden, "telecom", [t for t in source.get("telecom") or () if isinstance(t, dict) and t.get("value")],
           key=lambda t: (t.get("system"), t.get("value")))
    # The person's numbers under our own system, never the national one: a search, conditional
    # create or conditional reference by NHS number must find the one source record, not it too.
    nhs = [{**i, "system": PERSON_NHS_SYSTEM} for i in source.get("identifier") or ()
           if isinstance(i, dict) and i.get("system") in (NHS_NUMBER_SYSTEM, PERSON_NHS_SYSTEM)]
    _union(golden, "identifier", nhs, key=lambda i: (i.get("system"), i.get("value"), bool(i.get("extension"))))
    for field in ("gender", "birthDate", "deceasedDateTime", "deceasedBoolean", "generalPractitioner",
                  "managingOrganization"):
        if field in source and field not in golden:
            golden[field] = source[field]
    birth = source.get("birthDate")
    if isinstance(birth, str) and birth != golden.get("birthDate"):
        others = golden.setdefault("extension", [])
        if not any(e.get("url") == OTHER_BIRTH_DATE and e.get("valueDate") == birth for e in others):
            others.append({"url": OTHER_BIRTH_DATE, "valueDate": birth})
    if _restricted(source) and not _restricted(golden):
        # The person is restricted if any source says so: location data must not leak via the golden.
        golden["meta"].setdefault("security", []).append({"system": CONFIDENTIALITY, "code": "R", "display": "restricted"})
    if source_id and source_id not in members(golden):
        golden.setdefault("link", []).append({"other": {"reference": f"Patient/{source_id}"}, "type": "seealso"})
    refresh_keys(golden)
    return golden


def refresh_keys(golden: dict[str, Any]) -> None:
    """Recompute the blocking-key identifiers from the golden's own values (crowded keys left out)."""
    identifiers = [i for i in golden.get("identifier") or () if i.get("system") != BLOCKING_KEY_SYSTEM]
    if golden.get("active", True):
        keys = sorted(set(blocking_keys(golden_profile(golden))) - crowded_keys(golden))[:MAX_KEYS]
        identifiers += [{"use": "secondary", "system": BLOCKING_KEY_SYSTEM, "value": k} for k in keys]
    if identifiers:
        golden["identifier"] = identifiers
    else:
        golden.pop("identifier", None)


def crowded_keys(golden: dict[str, Any]) -> set[str]:
    """The blocking keys ``golden`` is deliberately not filed under (see ``CROWDED_KEY_SYSTEM``)."""
    return {i.get("value") for i in golden.get("identifier") or () if i.get("system") == CROWDED_KEY_SYSTEM}


def mark_crowded(golden: dict[str, Any], keys: set[str]) -> None:
    """Stop filing ``golden`` under ``keys`` (shared by a crowd), now and on every later refresh."""
    marked = crowded_keys(golden)
    golden.setdefault("identifier", []).extend(
        {"use": "secondary", "system": CROWDED_KEY_SYSTEM, "value": k} for k in sorted(keys - marked))
    refresh_keys(golden)


def golden_profile(golden: dict[str, Any]) -> Profile:
    return profile_of(golden)


def retire(golden: dict[str, Any], into: str) -> dict[str, Any]:
    """A golden merged into another: inactive, ``replaced-by`` the survivor, no blocking keys."""
    golden["active"] = False
    golden["link"] = [{"other": {"reference": f"Patient/{into}"}, "type": "replaced-by"}]
    refresh_keys(golden)
    return golden


def best_value(values: list[Any]) -> Any:
    return Counter(values).most_common(1)[0][0] if values else None


def _union(golden: dict[str, Any], field: str, items: list[dict[str, Any]], key: Any) -> None:
    if not items:
        return
    existing = golden.setdefault(field, [])
    seen = {key(x) for x in existing}
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            existing.append(item)


def _clean_name(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k in ("use", "family", "given", "prefix", "suffix", "period", "text")}


def _clean_address(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "id"}


def invalidated(patient: dict[str, Any]) -> bool:
    """Labelled ``REDACTED``: an invalidated record (PDS's INVALIDATED_RESOURCE), never linked."""
    for label in (patient.get("meta") or {}).get("security") or ():
        if isinstance(label, dict) and label.get("code") == "REDACTED":
            return True
    return False


def _restricted(patient: dict[str, Any]) -> bool:
    for label in (patient.get("meta") or {}).get("security") or ():
        if isinstance(label, dict) and label.get("code") == "R":
            return True
    return False
