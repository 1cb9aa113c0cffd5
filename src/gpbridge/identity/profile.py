"""What linkage knows about a person: a ``Profile`` of normalised values, extracted from a Patient.

A profile holds *sets* of values, so one shape serves a single source record and a whole person
(the union of their records, old names and previous addresses included): matching a record to a
person compares it with everything ever known about them. Values are normalised once here so
comparisons are plain string equality wherever possible — the hot path of batch linkage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gpbridge.identity.nhs_number import NHS_NUMBER_SYSTEM, is_valid_nhs_number

VERIFICATION_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
VERIFIED_CODE = "01"  # "Number present and verified" (traced against PDS)
#: extension on a golden Patient carrying dates of birth its sources disagree on
OTHER_BIRTH_DATE = "https://gpbridge.dev/fhir/StructureDefinition/identity-other-birth-date"
_NOT_LETTERS = re.compile(r"[^A-Z]+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_cache: dict[str, str] = {}
_alnum_cache: dict[str, str] = {}
_nhs_cache: dict[str, bool] = {}


@dataclass(slots=True)
class Profile:
    # Tuples, not sets: a record has one or two values per field, and a batch of 100,000 records
    # allocating ten sets each spends more time in the allocator than in matching.
    given: tuple[str, ...] = ()  # first given names
    middle: tuple[str, ...] = ()  # later given names (for first/middle swaps)
    family: tuple[str, ...] = ()  # current family names
    previous: tuple[str, ...] = ()  # previous family names (maiden, old)
    birth: tuple[str, ...] = ()  # YYYY-MM-DD
    sex: tuple[str, ...] = ()
    postcode: tuple[str, ...] = ()  # upper case, no spaces
    address: tuple[str, ...] = ()  # postcode + first address line, normalised
    nhs: tuple[str, ...] = ()  # valid NHS numbers
    verified: tuple[str, ...] = ()  # the subset verified against PDS

    def absorb(self, other: Profile) -> None:
        """Add everything ``other`` knows (a record joining a person)."""
        # Spelled out field by field: this runs once per linked record in a batch.
        if other.given and other.given != self.given:
            self.given = _union(self.given, other.given)
        if other.middle and other.middle != self.middle:
            self.middle = _union(self.middle, other.middle)
        if other.family and other.family != self.family:
            self.family = _union(self.family, other.family)
        if other.previous and other.previous != self.previous:
            self.previous = _union(self.previous, other.previous)
        if other.birth and other.birth != self.birth:
            self.birth = _union(self.birth, other.birth)
        if other.sex and other.sex != self.sex:
            self.sex = _union(self.sex, other.sex)
        if other.postcode and other.postcode != self.postcode:
            self.postcode = _union(self.postcode, other.postcode)
        if other.address and other.address != self.address:
            self.address = _union(self.address, other.address)
        if other.nhs and other.nhs != self.nhs:
            self.nhs = _union(self.nhs, other.nhs)
        if other.verified and other.verified != self.verified:
            self.verified = _union(self.verified, other.verified)

    def copy(self) -> Profile:
        return Profile(*(getattr(self, f) for f in _FIELDS))

    @property
    def empty(self) -> bool:
        return not (self.given or self.family or self.birth or self.nhs)


_FIELDS = ("given", "middle", "family", "previous", "birth", "sex", "postcode", "address", "nhs", "verified")


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    extra = tuple(v for v in b if v not in a)
    return a + extra if extra else a


def shares(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two value tuples have a value in common."""
    for v in a:
        if v in b:
            return True
    return False


def name(value: Any) -> str:
    """Upper-case letters only: ``O'Brien`` -> ``OBRIEN``, ``Da Silva`` -> ``DASILVA``."""
    if not isinstance(value, str):
        return ""
    out = _cache.get(value)
    if out is None:
        if len(_cache) > 500_000:  # names repeat; the cache only needs the common ones
            _cache.clear()
        out = _NOT_LETTERS.sub("", value.upper())
        _cache[value] = out
    return out


def postcode(value: Any) -> str:
    """Upper case, letters and digits only: ``ls6 3ab`` -> ``LS63AB``."""
    if not isinstance(value, str):
        return ""
    out = _alnum_cache.get(value)
    if out is None:
        if len(_alnum_cache) > 500_000:
            _alnum_cache.clear()
        out = _alnum_cache[value] = _NOT_ALNUM.sub("", value.upper())
    return out


address_line = postcode  # the same normalisation; a separate name says what is being normalised


def _valid_number(value: str) -> bool:
    ok = _nhs_cache.get(value)
    if ok is None:
        if len(_nhs_cache) > 500_000:
            _nhs_cache.clear()
        ok = _nhs_cache[value] = is_valid_nhs_number(value)
    return ok


def profile_of(patient: dict[str, Any]) -> Profile:
    """The profile of one Patient resource (a source record, or a golden Patient's union)."""
    # Written for speed (a batch rebuild calls it for every source record): one pass per list,
    # ``type(x) is dict`` rather than isinstance, and tuples built only for what is present.
    p = Profile()
    get = patient.get
    names = get("name")
    if names:
        given: list[str] = []
        middle: list[str] = []
        family: list[str] = []
        previous: list[str] = []
        for entry in names:
            if type(entry) is not dict:
                continue
            surname = name(entry.get("family"))
            use = entry.get("use")
            if use == "old" or use == "maiden":
                if surname:
                    previous.append(surname)
                continue
            givens = entry.get("given")
            if givens:
                first = name(givens[0])
                if first:
                    given.append(first)
                if len(givens) > 1:
                    middle.extend(m for m in map(name, givens[1:]) if m)
            if surname:
                family.append(surname)
        p.given, p.middle, p.family, p.previous = (
            _distinct(given), _distinct(middle), _distinct(family), _distinct(previous))
    birth = get("birthDate")
    if type(birth) is str and len(birth) >= 10:
        p.birth = (birth[:10],)
    extensions = get("extension")
    if extensions:
        births = list(p.birth)
        for ext in extensions:
            if type(ext) is dict and ext.get("url") == OTHER_BIRTH_DATE and type(ext.get("valueDate")) is str:
                births.append(ext["valueDate"][:10])
        p.birth = _distinct(births)
    gender = get("gender")
    if gender == "male" or gender == "female":
        p.sex = (gender,)
    addresses = get("address")
    if addresses:
        codes: list[str] = []
        lines: list[str] = []
        for addr in addresses:
            if type(addr) is not dict:
                continue
            code = postcode(addr.get("postalCode"))
            if code:
                codes.append(code)
                line = addr.get("line")
                if line and type(line) is list:
                    lines.append(code + "|" + address_line(line[-1] if len(line) > 1 else line[0]))
        p.postcode, p.address = _distinct(codes), _distinct(lines)
    identifiers = get("identifier")
    if identifiers:
        numbers: list[str] = []
        verified: list[str] = []
        for ident in identifiers:
            if type(ident) is dict and ident.get("system") == NHS_NUMBER_SYSTEM:
                value = ident.get("value")
                if type(value) is str:
                    if " " in value:
                        value = value.replace(" ", "")
                    if _valid_number(value):
                        numbers.append(value)
                        if "extension" in ident and _verified(ident):
                            verified.append(value)
        p.nhs, p.verified = _distinct(numbers), _distinct(verified)
    return p


def _distinct(values: list[str]) -> tuple[str, ...]:
    if len(values) < 2:
        return (values[0],) if values else ()
    return tuple(dict.fromkeys(values))


def _verified(identifier: dict[str, Any]) -> bool:
    for ext in identifier.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == VERIFICATION_EXTENSION:
            for coding in (ext.get("valueCodeableConcept") or {}).get("coding") or ():
                if coding.get("code") == VERIFIED_CODE:
                    return True
    return False
