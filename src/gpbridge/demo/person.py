"""Who a synthetic patient is: demographics, and the UK Core Patient (and proxy) resources.

Ages follow an English GP list (ONS mid-year estimates in five-year bands, 0 to 100). About 10% of
patients are registered at practice B, ~1.2% have died (more of the old), ~1% are flagged restricted
("R", as PDS marks sensitive records). patient-1 is fixed (see practices.DEMO_USERS): a 74-year-old
woman at practice A whose usual GP is clinician-a, with her daughter as proxy-1.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from gpbridge.demo import names
from gpbridge.demo.build import JSON, codeable, ref
from gpbridge.demo.practices import (
    DEMO_USER_SYSTEM,
    PATIENT_1_BIRTH_DATE,
    PATIENT_1_GP,
    PATIENT_1_NAME,
    PATIENT_1_NHS_NUMBER,
    PRACTICE_A,
    PRACTICE_B,
    PROXY_1_NAME,
    PROXY_1_NHS_NUMBER,
    Clinician,
    Practice,
    gps_at,
)
from gpbridge.demo.timeline import DAYS_PER_YEAR, REF, iso_date, iso_datetime, ordinal
from gpbridge.identity.nhs_number import NHS_NUMBER_SYSTEM

UKCORE_PATIENT = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
VERIFICATION_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

# Share of an English practice list in each five-year age band, 0-4 ... 95-100.
_AGE_BAND_SHARE = (
    5.5,
    6.0,
    6.2,
    5.8,
    6.0,
    6.6,
    6.9,
    6.8,
    6.4,
    6.3,
    6.8,
    6.7,
    5.9,
    5.0,
    4.8,
    3.6,
    2.4,
    1.5,
    0.6,
    0.2,
)
AGE_BAND_CUM = tuple(itertools.accumulate(_AGE_BAND_SHARE))
AGE_BAND_STARTS = tuple(range(0, 100, 5))


def age_band_width(start: int) -> int:
    return 6 if start == 95 else 5  # the last band runs to 100 inclusive


@dataclass
class Person:
    index: int
    nhs_number: str
    sex: str  # administrative gender: male | female | unknown
    birth: int  # ordinal day
    death: int | None
    practice: Practice
    gp: Clinician
    restricted: bool
    given: list[str]
    family: str
    maiden_name: str | None
    marriage: int | None

    @property
    def end(self) -> int:
        """The last day anything can be recorded: death, or the reference date."""
        return self.death if self.death is not None else REF

    @property
    def age(self) -> float:
        return (self.end - self.birth) / DAYS_PER_YEAR


def sample_person(rng: random.Random, index: int, nhs_number: str) -> Person:
    if index == 0:
        return _patient_one()
    roll = rng.random()
    sex = "female" if roll < 0.505 else "male" if roll < 0.997 else "unknown"
    band = AGE_BAND_STARTS[_band(rng)]
    age_days = int((band + rng.random() * age_band_width(band)) * DAYS_PER_YEAR)
    birth = REF - max(1, age_days)
    death = _death_day(rng, birth)
    practice = PRACTICE_B if rng.random() < 0.1 else PRACTICE_A
    end = death if death is not None else REF
    given = names.given_names(rng, sex, _year(birth))
    family = names.surname(rng)
    maiden, marriage = None, None
    if sex == "female" and (end - birth) > 22 * DAYS_PER_YEAR and rng.random() < 0.35:
        maiden = names.surname(rng)
        latest = min(end - 30, birth + int(45 * DAYS_PER_YEAR))
        marriage = rng.randint(birth + int(20 * DAYS_PER_YEAR), max(latest, birth + int(20 * DAYS_PER_YEAR)))
        if maiden == family:
            maiden = None
    return Person(
        index=index,
        nhs_number=nhs_number,
        sex=sex,
        birth=birth,
        death=death,
        practice=practice,
        gp=rng.choice(gps_at(practice)),
        restricted=rng.random() < 0.01,
        given=given,
        family=family,
        maiden_name=maiden,
        marriage=marriage,
    )


def _band(rng: random.Random) -> int:
    x = rng.random() * AGE_BAND_CUM[-1]
    for i, edge in enumerate(AGE_BAND_CUM):
        if x < edge:
            return i
    return len(AGE_BAND_CUM) - 1


def _year(day: int) -> int:
    return int(iso_date(day)[:4])


def _death_day(rng: random.Random, birth: int) -> int | None:
    age = (REF - birth) / DAYS_PER_YEAR
    chance = 0.002 if age < 60 else 0.015 if age < 75 else 0.05 if age < 85 else 0.12
    if rng.random() >= chance:
        return None
    # died within the last four years: the practice still holds the record
    return max(birth + 1, REF - rng.randrange(1, 4 * 365))


def _patient_one() -> Person:
    birth = ordinal(PATIENT_1_BIRTH_DATE)
    return Person(
        index=0,
        nhs_number=PATIENT_1_NHS_NUMBER,
        sex="female",
        birth=birth,
        death=None,
        practice=PRACTICE_A,
        gp=PATIENT_1_GP,
        restricted=False,
        given=list(PATIENT_1_NAME[:2]),
        family=PATIENT_1_NAME[2],
        maiden_name="Pickles",
        marriage=ordinal("1975-08-23"),
    )


# ---------------------------------------------------------------------------------------- resources


def patient_resource(rng: random.Random, person: Person) -> JSON:
    meta: JSON = {"profile": [UKCORE_PATIENT]}
    if person.restricted:
        meta["security"] = [{"system": CONFIDENTIALITY, "code": "R", "display": "restricted"}]
    resource: JSON = {
        "resourceType": "Patient",
        "meta": meta,
        "identifier": [nhs_identifier(person.nhs_number)],
        "active": person.death is None,
        "name": _names(person),
    }
    telecom = _telecom(rng, person)
    if telecom:
        resource["telecom"] = telecom
    resource["gender"] = person.sex
    resource["birthDate"] = iso_date(person.birth)
    if person.death is not None:
        resource["deceasedDateTime"] = iso_datetime(person.death, rng.randrange(0, 24 * 60))
    resource["address"] = _addresses(rng, person)
    resource["generalPractitioner"] = [
        ref(f"Organization/{person.practice.id}"),
        ref(f"Practitioner/{person.gp.id}"),
    ]
    resource["managingOrganization"] = ref(f"Organization/{person.practice.id}")
    return resource


def nhs_identifier(nhs_number: str) -> JSON:
    return {
        "extension": [
            {
                "url": VERIFICATION_EXTENSION,
                "valueCodeableConcept": codeable(VERIFICATION_SYSTEM, "01", "Number present and verified"),
            }
        ],
        "system": NHS_NUMBER_SYSTEM,
        "value": nhs_number,
    }


def _names(person: Person) -> list[JSON]:
    adult = person.age >= 18
    official: JSON = {"use": "official", "family": person.family, "given": list(person.given)}
    if adult:
        official["prefix"] = [_title(person)]
    out = [official]
    if person.maiden_name and person.marriage is not None:
        old: JSON = {"use": "old", "family": person.maiden_name, "given": list(person.given)}
        old["period"] = {"end": iso_date(person.marriage)}
        out.append(old)
    return out


def _title(person: Person) -> str:
    if person.sex == "male":
        return "Mr"
    if person.sex == "female":
        return "Mrs" if person.maiden_name else ("Miss" if person.age < 30 else "Ms")
    return "Mx"


def _telecom(rng: random.Random, person: Person) -> list[JSON]:
    age = person.age
    out: list[JSON] = []
    # Ofcom drama ranges: 0113 496 0xxx (Leeds) and 07700 900xxx (mobile) are never allocated.
    if rng.random() < (0.55 if age >= 16 else 0.5):
        out.append({"system": "phone", "value": f"0113 496 0{rng.randrange(1000):03d}", "use": "home"})
    if age >= 14 and rng.random() < 0.85:
        out.append({"system": "phone", "value": f"07700 900{rng.randrange(1000):03d}", "use": "mobile"})
    if age >= 16 and rng.random() < (0.45 if age < 75 else 0.15):
        local = f"{person.given[0]}.{person.family}".lower().replace("'", "").replace(" ", "")
        out.append({"system": "email", "value": f"{local}{rng.randrange(1, 100)}@example.com", "use": "home"})
    return out


def _addresses(rng: random.Random, person: Person) -> list[JSON]:
    towns = names.TOWNS_B if person.practice is PRACTICE_B else names.TOWNS_A
    out = [_address(rng, towns, "home")]
    if rng.random() < 0.1 and person.end - person.birth > 3 * 365:
        old = _address(rng, towns, "old")
        old["period"] = {"end": iso_date(rng.randint(person.birth + 365, person.end - 1))}
        out.append(old)
    return out


def _address(rng: random.Random, towns: tuple[tuple[str, str, str, tuple[int, ...]], ...], use: str) -> JSON:
    town, county, area, districts = rng.choice(towns)
    street = f"{rng.randrange(1, 180)} {rng.choice(names.STREETS)}"
    lines = [f"Flat {rng.randrange(1, 25)}", street] if rng.random() < 0.12 else [street]
    return {
        "use": use,
        "type": "both",
        "line": lines,
        "city": town,
        "district": county,
        "postalCode": names.postcode(rng, area, districts),
        "country": "GB",
    }


def proxy_resource(rng: random.Random, patient_urn: str) -> JSON:
    """proxy-1: patient-1's daughter, who manages her mother's GP online services."""
    given, middle, family = PROXY_1_NAME
    return {
        "resourceType": "RelatedPerson",
        "identifier": [
            {"system": DEMO_USER_SYSTEM, "value": "proxy-1"},
            {"system": NHS_NUMBER_SYSTEM, "value": PROXY_1_NHS_NUMBER},
        ],
        "active": True,
        "patient": ref(patient_urn),
        "relationship": [
            codeable("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "DAUC", "daughter"),
            codeable(
                "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole",
                "Carer",
                "Carer of patient",
            ),
        ],
        "name": [
            {"use": "official", "family": family, "given": [given, middle], "prefix": ["Mrs"]},
            {
                "use": "old",
                "family": PATIENT_1_NAME[2],
                "given": [given, middle],
                "period": {"end": "2004-06-12"},
            },
        ],
        "telecom": [{"system": "phone", "value": f"07700 900{rng.randrange(1000):03d}", "use": "mobile"}],
        "gender": "female",
        "birthDate": "1978-02-09",
    }
