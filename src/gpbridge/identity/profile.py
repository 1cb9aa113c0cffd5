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
#: the system a golden Patient files its person's NHS numbers under: not the national system, so a
#: search, conditional create or conditional reference by NHS number finds only source records
PERSON_NHS_SYSTEM = "https://gpbridge.dev/Id/person-nhs-number"
_NOT_LETTERS = re.compile(r"[^A-Z]+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_cache: dict[str, str] = {}
_nhs_cache: dict[str, bool] = {}
_place_cache: dict[tuple[str, str | None], tuple[str, str]] = {}  # (postalCode, line) -> _place


@dataclass(slots=True, init=False)  # __init__ written out: mypyc compiles it (a generated one stays Python)
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

    def __init__(
        self,
        given: tuple[str, ...] = (),
        middle: tuple[str, ...] = (),
        family: tuple[str, ...] = (),
        previous: tuple[str, ...] = (),
        birth: tuple[str, ...] = (),
        sex: tuple[str, ...] = (),
        postcode: tuple[str, ...] = (),
        address: tuple[str, ...] = (),
        nhs: tuple[str, ...] = (),
        verified: tuple[str, ...] = (),
    ) -> None:
        self.given = given
        self.middle = middle
        self.family = family
        self.previous = previous
        self.birth = birth
        self.sex = sex
        self.postcode = postcode
        self.address = address
        self.nhs = nhs
        self.verified = verified

    def absorb(self, other: Profile) -> bool:
        """Add everything ``other`` knows (a record joining a person).

        True when a field blocking keys are made of (names, dates of birth, postcodes, NHS
        numbers) gained a value: only then can the record file the person under a new key.
        """
        # Spelled out field by field: this runs once per linked record in a batch.
        keyed = False
        if other.given and other.given != self.given:
            extra = _extra(self.given, other.given)
            if extra:
                self.given += extra
                keyed = True
        if other.middle and other.middle != self.middle:
            self.middle = _union(self.middle, other.middle)
        if other.family and other.family != self.family:
            extra = _extra(self.family, other.family)
            if extra:
                self.family += extra
                keyed = True
        if other.previous and other.previous != self.previous:
            extra = _extra(self.previous, other.previous)
            if extra:
                self.previous += extra
                keyed = True
        if other.birth and other.birth != self.birth:
            extra = _extra(self.birth, other.birth)
            if extra:
                self.birth += extra
                keyed = True
        if other.sex and other.sex != self.sex:
            self.sex = _union(self.sex, other.sex)
        if other.postcode and other.postcode != self.postcode:
            extra = _extra(self.postcode, other.postcode)
            if extra:
                self.postcode += extra
                keyed = True
        if other.address and other.address != self.address:
            self.address = _union(self.address, other.address)
        if other.nhs and other.nhs != self.nhs:
            extra = _extra(self.nhs, other.nhs)
            if extra:
                self.nhs += extra
                keyed = True
        if other.verified and other.verified != self.verified:
            self.verified = _union(self.verified, other.verified)
        return keyed

    def copy(self) -> Profile:
        return Profile(*(getattr(self, f) for f in _FIELDS))

    @property
    def empty(self) -> bool:
        return not (self.given or self.family or self.birth or self.nhs)


_FIELDS = ("given", "middle", "family", "previous", "birth", "sex", "postcode", "address", "nhs", "verified")


def _extra(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    """The values of ``b`` that ``a`` lacks."""
    return tuple(v for v in b if v not in a)


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    extra = _extra(a, b)
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
        out = value.upper()
        if not (out.isalpha() and out.isascii()):  # most names need no regular expression
            out = _NOT_LETTERS.sub("", out)
        _cache[value] = out
    return out


def postcode(value: Any) -> str:
    """Upper case, letters and digits only: ``ls6 3ab`` -> ``LS63AB``."""
    if not isinstance(value, str):
        return ""
    # Not cached here (``profile_of`` caches whole postcode + line pairs, which recur across one
    # person's records). Plain ASCII with spaces (nearly all of them) needs no regular expression.
    out = value.upper().replace(" ", "")
    if out.isalnum() and out.isascii():
        return out
    return _NOT_ALNUM.sub("", out)


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
    # ``type(x) is dict`` rather than isinstance, the normalisation caches read inline, and the
    # Profile built once at the end from tuples made only for what is present. ``patient.get``
    # is written out each time: compiled, that is a C dict lookup, where a bound method kept in a
    # local would be a Python call.
    none: tuple[str, ...] = ()
    given = middle = family = previous = birth = sex = codes = lines = numbers = verified = none
    names = patient.get("name")
    if names:
        cache = _cache
        g: list[str] = []
        m: list[str] = []
        f: list[str] = []
        old: list[str] = []
        for entry in names:
            if type(entry) is not dict:
                continue
            raw = entry.get("family")
            surname = (cache.get(raw) or name(raw)) if type(raw) is str else ""
            use = entry.get("use")
            if use == "old" or use == "maiden":
                if surname:
                    old.append(surname)
                continue
            givens = entry.get("given")
            if givens and type(givens) is list:
                raw = givens[0]
                first = (cache.get(raw) or name(raw)) if type(raw) is str else ""
                if first:
                    g.append(first)
                if len(givens) > 1:
                    for raw in givens[1:]:  # a plain loop: a generator per record costs more
                        later = (cache.get(raw) or name(raw)) if type(raw) is str else ""
                        if later:
                            m.append(later)
            if surname:
                f.append(surname)
        # tuple() of a list of 0 or 1 is one C call; only longer lists need de-duplicating
        given = tuple(g) if len(g) < 2 else _distinct(g)
        middle = tuple(m) if len(m) < 2 else _distinct(m)
        family = tuple(f) if len(f) < 2 else _distinct(f)
        previous = tuple(old) if len(old) < 2 else _distinct(old)
    value = patient.get("birthDate")
    if type(value) is str and len(value) >= 10:
        birth = (value[:10],)
    extensions = patient.get("extension")
    if extensions:
        births = list(birth)
        for ext in extensions:
            if type(ext) is dict and ext.get("url") == OTHER_BIRTH_DATE and type(ext.get("valueDate")) is str:
                births.append(ext["valueDate"][:10])
        birth = _distinct(births)
    value = patient.get("gender")
    if value == "male" or value == "female":
        sex = (value,)
    addresses = patient.get("address")
    if addresses:
        c: list[str] = []
        a: list[str] = []
        places = _place_cache
        for addr in addresses:
            if type(addr) is not dict:
                continue
            raw_code = addr.get("postalCode")
            if type(raw_code) is not str:
                continue
            line = addr.get("line")
            raw = (line[-1] if len(line) > 1 else line[0]) if line and type(line) is list else None
            # A person's few addresses recur in each of their records: normalise a pair once
            place = places.get((raw_code, raw)) if type(raw) is str or raw is None else None
            if place is None:
                place = _place(raw_code, raw)
            code, keyed = place
            if code:
                c.append(code)
                if keyed:
                    a.append(keyed)
        codes = tuple(c) if len(c) < 2 else _distinct(c)
        lines = tuple(a) if len(a) < 2 else _distinct(a)
    identifiers = patient.get("identifier")
    if identifiers:
        n: list[str] = []
        v: list[str] = []
        valid = _nhs_cache
        for ident in identifiers:
            if type(ident) is not dict:
                continue
            system = ident.get("system")
            if system == NHS_NUMBER_SYSTEM or system == PERSON_NHS_SYSTEM:
                value = ident.get("value")
                if type(value) is str:
                    if " " in value:
                        value = value.replace(" ", "")
                    ok = valid.get(value)
                    if ok or (ok is None and _valid_number(value)):
                        n.append(value)
                        if "extension" in ident and _verified(ident):
                            v.append(value)
        numbers = tuple(n) if len(n) < 2 else _distinct(n)
        verified = tuple(v) if len(v) < 2 else _distinct(v)
    return Profile(given, middle, family, previous, birth, sex, codes, lines, numbers, verified)


def _place(raw_code: str, raw_line: Any) -> tuple[str, str]:
    """(normalised postcode, "postcode|line" key or ""), cached when the line is a string or absent."""
    code = postcode(raw_code)
    # postcode(), not its alias address_line: compiled, a call through an alias is a Python call
    keyed = f"{code}|{postcode(raw_line)}" if code and raw_line is not None else ""
    if type(raw_line) is str or raw_line is None:
        if len(_place_cache) > 500_000:
            _place_cache.clear()
        _place_cache[(raw_code, raw_line)] = (code, keyed)
    return code, keyed


def _distinct(values: list[str]) -> tuple[str, ...]:
    n = len(values)
    if n == 1:
        return (values[0],)
    if n == 0:
        return ()
    return tuple(dict.fromkeys(values))


def _verified(identifier: dict[str, Any]) -> bool:
    extensions = identifier.get("extension")
    if type(extensions) is not list:
        return False
    for ext in extensions:
        if type(ext) is dict and ext.get("url") == VERIFICATION_EXTENSION:
            concept = ext.get("valueCodeableConcept")
            codings = concept.get("coding") if type(concept) is dict else None
            if type(codings) is list:
                for coding in codings:
                    if type(coding) is dict and coding.get("code") == VERIFIED_CODE:
                        return True
    return False
