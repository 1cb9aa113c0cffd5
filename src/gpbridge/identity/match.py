"""``Patient/$match`` (https://hl7.org/fhir/R4/patient-operation-match.html): scored candidate people.

The input Patient is profiled and scored against the people its blocking keys find, exactly as an
incoming record would be; each candidate comes back as a golden Patient with ``search.score`` (the
match probability) and the ``match-grade`` extension: ``certain`` at or above the upper threshold
(or a shared verified NHS number), ``probable`` above the lower threshold, ``possible`` above 1%.
"""

from __future__ import annotations

from typing import Any

from gpbridge.fhir.outcome import bad_request
from gpbridge.identity.decide import score_candidates
from gpbridge.identity.linkage import IdentityConfig, candidates
from gpbridge.identity.profile import profile_of, shares

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
POSSIBLE = 0.01


def parse_match_parameters(body: Any) -> tuple[dict[str, Any], bool, int | None]:
    """(Patient, onlyCertainMatches, count) from a Parameters resource; 400 naming what is wrong."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise bad_request("$match expects a Parameters resource", "Parameters", code="structure")
    patient, only_certain, count = None, False, None
    for i, param in enumerate(body.get("parameter") or ()):
        name = param.get("name") if isinstance(param, dict) else None
        where = f"Parameters.parameter[{i}]"
        if name == "resource":
            patient = param.get("resource")
            if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
                raise bad_request("parameter 'resource' must be a Patient", f"{where}.resource")
        elif name == "onlyCertainMatches":
            if not isinstance(param.get("valueBoolean"), bool):
                raise bad_request("onlyCertainMatches needs valueBoolean", f"{where}.valueBoolean")
            only_certain = param["valueBoolean"]
        elif name == "count":
            value = param.get("valueInteger")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad_request("count needs a positive valueInteger", f"{where}.valueInteger")
            count = value
        else:
            raise bad_request(f"Unknown $match parameter {name!r}", where, code="not-supported")
    if patient is None:
        raise bad_request("$match needs a 'resource' parameter holding a Patient", "Parameters.parameter", code="required")
    return patient, only_certain, count


def match(
    store: Any, patient: dict[str, Any], config: IdentityConfig, *, only_certain: bool = False,
    count: int | None = None, base: str = "",
) -> dict[str, Any]:
    """The searchset Bundle of candidate people, best first."""
    profile = profile_of(patient)
    found = candidates(store, profile)
    profiles = dict(found)
    entries = []
    for scored in score_candidates(profile, found, config.model):
        deterministic = shares(profile.verified, profiles[scored.person].verified) and scored.levels[0] == 1
        p = 1.0 if deterministic else scored.probability
        grade = _grade(p, config)
        if grade is None or (only_certain and grade != "certain"):
            continue
        entries.append((p, scored.person, grade))
    entries.sort(key=lambda e: (-e[0], e[1]))
    if count is not None:
        entries = entries[:count]
    out = []
    for p, person, grade in entries:
        stored = store.read("Patient", person)
        out.append({
            "fullUrl": f"{base}/Patient/{person}",
            "resource": _loads(stored.content),
            "search": {"extension": [{"url": MATCH_GRADE, "valueCode": grade}], "mode": "match", "score": round(p, 6)},
        })
    return {"resourceType": "Bundle", "type": "searchset", "total": len(out), "entry": out}


def _grade(p: float, config: IdentityConfig) -> str | None:
    if p >= config.thresholds.upper:
        return "certain"
    if p >= config.thresholds.lower:
        return "probable"
    if p >= POSSIBLE:
        return "possible"
    return None


def _loads(content: bytes | None) -> dict[str, Any]:
    import orjson

    return dict(orjson.loads(content or b"{}"))
