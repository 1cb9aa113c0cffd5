"""PDS patient search: the PDS query parameters, their rules and errors, matching and scoring.

Candidates come from the store's date index (every valid PDS search has a date of birth), one
person per NHS number (the golden Patient when linkage made one); the PDS rules then run here:

- non-fuzzy: ``family`` and ``given``/``address-postalcode`` allow ``*`` wildcards (not in the first
  two characters), current names and home address only unless ``_history=true``;
- fuzzy (``_fuzzy-match=true``): Soundex homophones (Smith ~ Smythe), typos, nicknames, given and
  family transposed, always with history; date of death and GP only lower the score;
- ``email``/``phone`` match exactly; ``gender`` must agree; restricted patients are left out when the
  search names a postcode or GP, and returned without location data otherwise;
- every match has a score (1.0 exact; less for wildcard, history, fuzzy or partial agreement),
  results best first; ``_exact-match`` keeps 1.0 only; more than ``_max-results`` (1-50, default
  50) is ``TOO_MANY_MATCHES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import jellyfish
from rapidfuzz.distance import OSA

from gpbridge.identity import golden as gold
from gpbridge.identity.nicknames import same_person_name
from gpbridge.identity.pds_errors import PdsError, invalid_search, invalid_value
from gpbridge.identity.pds_render import (
    is_restricted,
    nhs_number_of,
    nhs_numbers_of,
    render_patient,
    security_code,
)
from gpbridge.identity.profile import name as norm_name
from gpbridge.identity.profile import postcode as norm_postcode

PARAMS = frozenset({"_fuzzy-match", "_exact-match", "_history", "_max-results", "family", "given", "gender",
                    "birthdate", "death-date", "address-postalcode", "address-postcode", "general-practitioner",
                    "email", "phone"})
GENDERS = ("male", "female", "other", "unknown")
MAX_RESULTS = 50
CANDIDATE_CAP = 2000  # a date range wider than this many patients cannot give a useful answer
_DATE = re.compile(r"^(eq|ge|le)?(\d{4}-\d{2}-\d{2})$")
_HISTORIC_USES = frozenset({"old", "maiden"})


@dataclass
class PdsQuery:
    fuzzy: bool = False
    exact: bool = False
    history: bool = False
    max_results: int = MAX_RESULTS
    family: str | None = None
    given: list[str] = field(default_factory=list)
    gender: str | None = None
    birthdate: list[tuple[str, date]] = field(default_factory=list)
    death_date: list[tuple[str, date]] = field(default_factory=list)
    postcode: str | None = None
    gp: str | None = None
    email: str | None = None
    phone: str | None = None

    def store_params(self) -> list[tuple[str, str]]:
        """The date range as FHIR search parameters: what the store's index narrows on."""
        return [("birthdate", f"{prefix}{value.isoformat()}") for prefix, value in self.birthdate]


def parse_query(params: list[tuple[str, str]]) -> PdsQuery:
    """Validate PDS search parameters in the order PDS reports problems."""
    names = [n for n, _ in params]
    unknown = [n for n in names if n not in PARAMS]
    if unknown:
        raise PdsError("ADDITIONAL_PROPERTIES", f"Invalid search data provided - '{unknown[0]}' is not a valid search parameter")
    if not [n for n in names if not n.startswith("_")]:
        raise PdsError("UNSUPPORTED_SERVICE")
    q = PdsQuery()
    values: dict[str, list[str]] = {}
    for n, v in params:
        values.setdefault(n, []).append(v.strip())
    for n, vs in values.items():
        if n not in ("given", "birthdate", "death-date") and len(vs) > 1:
            raise invalid_search(f"'{n}' may be given only once")
    q.fuzzy = _boolean(values, "_fuzzy-match")
    q.exact = _boolean(values, "_exact-match")
    q.history = _boolean(values, "_history") or q.fuzzy
    if "_max-results" in values:
        raw = values["_max-results"][0]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_RESULTS:
            raise invalid_value(raw, "_max-results")
        q.max_results = int(raw)
    if "gender" in values:
        q.gender = values["gender"][0]
        if q.gender not in GENDERS:
            raise invalid_value(q.gender, "gender")
    q.birthdate = _dates(values.get("birthdate", []), "birthdate")
    q.death_date = _dates(values.get("death-date", []), "death-date")
    if "address-postalcode" in values and "address-postcode" in values:
        raise invalid_search("Use address-postalcode or address-postcode, not both")
    q.family = _text(values, "family", q.fuzzy)
    q.given = [_wild(v, "given", q.fuzzy) for v in values.get("given", []) if v]
    q.postcode = _text(values, "address-postalcode", q.fuzzy) or _text(values, "address-postcode", q.fuzzy)
    q.gp = _first(values, "general-practitioner")
    q.email = _first(values, "email")
    q.phone = _first(values, "phone")
    for kind, value in (("email", q.email), ("phone", q.phone)):
        if value is not None and "*" in value:
            raise invalid_search(f"Wildcards are not allowed in '{kind}'")
    if not q.birthdate:
        raise PdsError("MISSING_VALUE", "Missing value - 'birth_date/birth_date_range_start/birth_date_range_end'")
    if q.fuzzy:
        combos = (q.given and q.family, q.family and q.gender and q.postcode, q.given and q.gender and q.postcode)
        if not any(combos):
            raise invalid_search("A fuzzy search needs given name, family name and date of birth; or family name, "
                                 "date of birth, gender and postcode; or given name, date of birth, gender and postcode")
    elif not q.family:
        raise invalid_search("Not enough search parameters were provided to be able to make a search")
    return q


def _boolean(values: dict[str, list[str]], name: str) -> bool:
    raw = (values.get(name) or ["false"])[0].lower()
    if raw not in ("true", "false"):
        raise invalid_value(raw, name)
    return raw == "true"


def _dates(raw: list[str], field_: str) -> list[tuple[str, date]]:
    if len(raw) > 2:
        raise invalid_search(f"At most two '{field_}' values (a ge/le range) may be given")
    out = []
    for value in raw:
        m = _DATE.match(value)
        try:
            if m is None:
                raise ValueError
            out.append((m.group(1) or "eq", date.fromisoformat(m.group(2))))
        except ValueError:
            raise invalid_value(value, field_) from None
    if len(out) == 2 and sorted(p for p, _ in out) != ["ge", "le"]:
        raise invalid_search(f"Two '{field_}' values must be a range: one ge and one le")
    return out


def _first(values: dict[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[0] if found else None


def _text(values: dict[str, list[str]], name: str, fuzzy: bool) -> str | None:
    raw = _first(values, name)
    return _wild(raw, name, fuzzy) if raw else None


def _wild(value: str, name: str, fuzzy: bool) -> str:
    if len(value) > 35 and name in ("family", "given"):
        raise invalid_value(value, name)
    if "*" in value:
        if fuzzy:
            raise invalid_search(f"Wildcards cannot be used in a fuzzy search ('{name}')")
        if "*" in value[:2]:
            raise invalid_search(f"A wildcard in '{name}' must follow at least two characters")
    return value


# -- matching -------------------------------------------------------------------------------------


def _pattern(value: str, normalise: Callable[[str], str]) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(normalise(part)) for part in value.split("*")) + "$")


def _in_range(value: Any, bounds: list[tuple[str, date]]) -> bool:
    if not isinstance(value, str) or len(value) < 10:
        return False
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return False
    for prefix, bound in bounds:
        if (prefix == "eq" and day != bound) or (prefix == "ge" and day < bound) or (prefix == "le" and day > bound):
            return False
    return True


def _names(patient: dict[str, Any], history: bool) -> list[tuple[str, list[str], bool]]:
    """(family, givens, historic) per name, normalised."""
    out = []
    for entry in patient.get("name") or ():
        if not isinstance(entry, dict):
            continue
        historic = entry.get("use") in _HISTORIC_USES
        if historic and not history:
            continue
        out.append((norm_name(entry.get("family")), [norm_name(g) for g in entry.get("given") or ()], historic))
    return out


def _family_factor(q: PdsQuery, family: str, given: list[str]) -> float:
    assert q.family is not None
    if "*" in q.family:
        return 0.95 if _pattern(q.family, norm_name).match(family) else 0.0
    wanted = norm_name(q.family)
    if wanted == family:
        return 1.0
    if not q.fuzzy:
        return 0.0
    if len(wanted) >= 4 and OSA.distance(wanted, family, score_cutoff=1) <= 1:
        return 0.9
    if jellyfish.soundex(wanted) == jellyfish.soundex(family):
        return 0.85
    if given and wanted == given[0]:
        return 0.8  # given and family transposed
    return 0.0


def _given_factor(q: PdsQuery, family: str, given: list[str]) -> float:
    if not q.given:
        return 1.0
    first = q.given[0]
    candidate = given[0] if given else ""
    if "*" in first:
        factor = 0.95 if _pattern(first, norm_name).match(candidate) else 0.0
    else:
        wanted = norm_name(first)
        if wanted == candidate:
            factor = 1.0
        elif not q.fuzzy:
            factor = 0.0
        elif same_person_name(wanted, candidate):
            factor = 0.9
        elif len(wanted) >= 4 and OSA.distance(wanted, candidate, score_cutoff=1) <= 1:
            factor = 0.9
        elif candidate and jellyfish.soundex(wanted) == jellyfish.soundex(candidate):
            factor = 0.85
        elif wanted == family:
            factor = 0.8  # transposed
        else:
            factor = 0.0
    for extra in q.given[1:]:  # middle names: a mismatch lowers the score, absence slightly
        wanted = norm_name(extra)
        factor *= 1.0 if wanted in given[1:] else (0.95 if len(given) < 2 else 0.8)
    return factor


def _name_factor(q: PdsQuery, patient: dict[str, Any]) -> float:
    best = 0.0
    for family, given, historic in _names(patient, q.history):
        f = (_family_factor(q, family, given) if q.family else 1.0) * _given_factor(q, family, given)
        if historic:
            f *= 0.9
        best = max(best, f)
    return best


def _postcode_factor(q: PdsQuery, patient: dict[str, Any]) -> float:
    assert q.postcode is not None
    best = 0.0
    for addr in patient.get("address") or ():
        if not isinstance(addr, dict):
            continue
        historic = (addr.get("use") or "home") != "home"
        if historic and not q.history:
            continue
        code = norm_postcode(addr.get("postalCode"))
        if "*" in q.postcode:
            f = 0.95 if _pattern(q.postcode, norm_postcode).match(code) else 0.0
        else:
            f = 1.0 if norm_postcode(q.postcode) == code else 0.0
        best = max(best, f * (0.9 if historic else 1.0))
    return best


def _telecom_factor(patient: dict[str, Any], system: str, wanted: str, history: bool) -> float:
    normalise: Callable[[str], str] = str.lower if system == "email" else _digits
    wanted = normalise(wanted)
    # A stored Patient's telecom is its current contact data (previous values live in history
    # versions), so every entry counts; ``use=old`` marks one kept for history searches.
    for entry in patient.get("telecom") or ():
        if isinstance(entry, dict) and entry.get("system") == system and isinstance(entry.get("value"), str):
            if entry.get("use") == "old" and not history:
                continue
            if normalise(entry["value"]) == wanted:
                return 1.0
    return 0.0


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def score(q: PdsQuery, patient: dict[str, Any], gp_code: str | None) -> float:
    """How well ``patient`` matches: 0 means no match, 1.0 an exact match on every parameter."""
    if q.gender is not None and patient.get("gender") != q.gender:
        return 0.0
    if not _in_range(patient.get("birthDate"), q.birthdate):
        return 0.0
    factor = _name_factor(q, patient)
    if factor == 0.0:
        return 0.0
    if q.postcode is not None:
        factor *= _postcode_factor(q, patient)
    for system, wanted in (("email", q.email), ("phone", q.phone)):
        if wanted is not None:
            factor *= _telecom_factor(patient, system, wanted, q.history)
    if q.death_date:
        ok = _in_range(patient.get("deceasedDateTime"), q.death_date)
        factor *= 1.0 if ok else (0.8 if q.fuzzy else 0.0)  # fuzzy: scores, does not filter
    if q.gp is not None:
        ok = gp_code is not None and gp_code.upper() == q.gp.upper()
        factor *= 1.0 if ok else (0.8 if q.fuzzy else 0.0)
    return round(factor, 4)


# -- the search -----------------------------------------------------------------------------------


def _constant(code: str | None) -> Callable[[dict[str, Any]], str | None]:
    return lambda ref: code


def people(candidates: Iterable[dict[str, Any]], number: str | None = None) -> dict[str, dict[str, Any]]:
    """One Patient per NHS number: the active golden Patient when there is one, else the newest source.

    Keyed by each Patient's first valid NHS number, or by ``number`` for Patients that carry it
    (a person merged from two numbers answers to both).
    """
    chosen: dict[str, dict[str, Any]] = {}
    for patient in candidates:
        nhs = number if number is not None and number in nhs_numbers_of(patient) else nhs_number_of(patient)
        if nhs is None or security_code(patient) == "REDACTED":
            continue
        if gold.is_golden(patient) and not patient.get("active", True):
            continue  # merged away: the survivor carries the number
        held = chosen.get(nhs)
        if held is None or (gold.is_golden(patient) and not gold.is_golden(held)) or (
            gold.is_golden(patient) == gold.is_golden(held)
            and (patient.get("meta") or {}).get("lastUpdated", "") > (held.get("meta") or {}).get("lastUpdated", "")
        ):
            chosen[nhs] = patient
    return chosen


def search(
    q: PdsQuery, candidates: Iterable[dict[str, Any]], base: str, gp_code_of: Callable[[dict[str, Any]], str | None]
) -> dict[str, Any]:
    """The searchset Bundle (or raise TOO_MANY_MATCHES) for already-parsed parameters."""
    matches: list[tuple[float, str, dict[str, Any], str | None]] = []
    for nhs, patient in people(candidates).items():
        restricted = is_restricted(patient)
        if restricted and (q.postcode is not None or q.gp is not None):
            continue  # a location search must not reveal where a restricted patient lives
        gp = None if restricted else gp_code_of(patient)
        s = score(q, patient, gp)
        if s <= 0 or (q.exact and s < 1.0):
            continue
        matches.append((s, nhs, patient, gp))
    if len(matches) > q.max_results:
        raise PdsError("TOO_MANY_MATCHES")
    matches.sort(key=lambda m: (-m[0], m[1]))
    entries = [
        {"fullUrl": f"{base}/Patient/{nhs}", "search": {"score": s},
         "resource": render_patient(patient, nhs, _constant(gp), search=True)}
        for s, nhs, patient, gp in matches
    ]
    return {"resourceType": "Bundle", "type": "searchset", "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "total": len(entries), "entry": entries}
