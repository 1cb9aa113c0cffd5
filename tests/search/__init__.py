"""Shared support for the search tests: the raw R4 SearchParameters (all 1,400, for coverage),
the shared example resources, and a generator of realistic resources.

Tests that need ../shared/data skip with a reason when it is absent.
"""

from __future__ import annotations

import json
import random
import string
from functools import cache
from pathlib import Path
from typing import Any

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared/data"
SEARCH_PARAMETER_DIR = SHARED_DATA / "fhir-r4-core/package"
NO_DATA_REASON = f"FHIR R4 core package not found under {SEARCH_PARAMETER_DIR}"


def have_search_parameters() -> bool:
    return any(SEARCH_PARAMETER_DIR.glob("SearchParameter-*.json"))


@cache
def raw_search_parameters() -> tuple[dict[str, Any], ...]:
    files = sorted(SEARCH_PARAMETER_DIR.glob("SearchParameter-*.json"))
    return tuple(json.loads(f.read_text()) for f in files)


# --- realistic resources -------------------------------------------------------------------------

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"

GENERATED_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "Encounter",
    "MedicationRequest",
    "AllergyIntolerance",
    "Immunization",
    "Organization",
    "Practitioner",
    "DiagnosticReport",
)

_WORDS = ["Smith", "Jones", "Ó Briain", "Zoë", "Müller", "Hamilton-Brown", "José", "Anne", "Leeds", "Cardiff"]


class ResourceGenerator:
    """Builds plausible GP-record resources: optional elements present or absent, choice elements
    in each of their forms, references in every form a server meets, dates at every precision."""

    def __init__(self, seed: int | random.Random) -> None:
        self.r = seed if isinstance(seed, random.Random) else random.Random(seed)

    # -- helpers
    def maybe(self, p: float = 0.5) -> bool:
        return self.r.random() < p

    def some(self, make: Any, lo: int = 1, hi: int = 3) -> list[Any]:
        return [make() for _ in range(self.r.randint(lo, hi))]

    def ident(self) -> str:
        return "".join(self.r.choices(string.ascii_lowercase + string.digits, k=self.r.randint(1, 12)))

    def word(self) -> str:
        return self.r.choice(_WORDS)

    def put(self, target: dict[str, Any], key: str, make: Any, p: float = 0.6) -> None:
        if self.maybe(p):
            target[key] = make()

    # -- primitives
    def date(self) -> str:
        y, m, d = self.r.randint(1900, 2030), self.r.randint(1, 12), self.r.randint(1, 28)
        return self.r.choice([f"{y}", f"{y}-{m:02d}", f"{y}-{m:02d}-{d:02d}", "2020-02-29", "2019-12-31"])

    def date_time(self) -> str:
        if self.maybe(0.3):
            return self.date()
        y, m, d = self.r.randint(1950, 2030), self.r.randint(1, 12), self.r.randint(1, 28)
        hh, mm, ss = self.r.randint(0, 23), self.r.randint(0, 59), self.r.randint(0, 59)
        fraction = self.r.choice(["", ".5", ".123", ".000001"])
        zone = self.r.choice(["Z", "+01:00", "-05:30", "+14:00"])
        return f"{y}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}{fraction}{zone}"

    # -- datatypes
    def coding(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            "system": self.r.choice([SNOMED, LOINC, "http://read.info/readv2"]),
            "code": self.ident(),
        }
        self.put(c, "display", self.word)
        if self.maybe(0.1):
            del c["system"]
        return c

    def concept(self) -> dict[str, Any]:
        cc: dict[str, Any] = {}
        if self.maybe(0.9):
            cc["coding"] = self.some(self.coding, 1, 2)
        self.put(cc, "text", self.word, 0.4)
        return cc or {"text": "unknown"}

    def identifier(self) -> dict[str, Any]:
        i: dict[str, Any] = {"value": self.ident()}
        self.put(
            i, "system", lambda: self.r.choice([NHS_NUMBER, ODS, "urn:oid:2.16.840.1.113883.2.1.4.1"]), 0.8
        )
        self.put(i, "use", lambda: "official", 0.3)
        self.put(i, "type", lambda: {"text": self.word()}, 0.3)
        return i

    def reference(self, *types: str) -> dict[str, Any]:
        type_ = self.r.choice(types or ("Patient",))
        form = self.r.randrange(8)
        ref: dict[str, Any] = {}
        if form == 0:
            ref["reference"] = f"{type_}/{self.ident()}"
        elif form == 1:
            ref["reference"] = f"https://fhir.example.nhs.uk/R4/{type_}/{self.ident()}"
        elif form == 2:
            ref["reference"] = f"urn:uuid:{self.r.getrandbits(128):032x}"
            self.put(ref, "type", lambda: type_)
        elif form == 3:
            ref["reference"] = f"{type_}/{self.ident()}/_history/{self.r.randint(1, 9)}"
        elif form == 4:
            ref["identifier"] = self.identifier()
            self.put(ref, "type", lambda: type_)
        elif form == 5:
            ref["reference"] = "#contained-1"
        else:
            ref["reference"] = f"{type_}/{self.ident()}"
        self.put(ref, "display", self.word, 0.3)
        return ref

    def period(self) -> dict[str, Any]:
        p: dict[str, Any] = {}
        self.put(p, "start", self.date_time, 0.8)
        self.put(p, "end", self.date_time, 0.5)
        return p or {"start": self.date()}

    def quantity(self) -> dict[str, Any]:
        q: dict[str, Any] = {
            "value": self.r.choice([self.r.randint(0, 200), round(self.r.uniform(0, 300), 2)])
        }
        if self.maybe(0.8):
            q["system"], q["code"], q["unit"] = UCUM, "mmol/L", "mmol/L"
        else:
            q["unit"] = self.r.choice(["mg", "tablets"])
        return q

    def human_name(self) -> dict[str, Any]:
        n: dict[str, Any] = {}
        self.put(n, "use", lambda: self.r.choice(["official", "usual", "nickname"]))
        self.put(n, "family", self.word, 0.9)
        self.put(n, "given", lambda: self.some(self.word, 1, 2), 0.9)
        self.put(n, "prefix", lambda: ["Dr"], 0.2)
        self.put(n, "suffix", lambda: ["MBE"], 0.05)
        self.put(n, "text", self.word, 0.2)
        return n

    def address(self) -> dict[str, Any]:
        a: dict[str, Any] = {"line": self.some(lambda: f"{self.r.randint(1, 99)} {self.word()} Road", 1, 2)}
        self.put(a, "city", self.word)
        self.put(a, "district", self.word, 0.2)
        self.put(a, "state", self.word, 0.2)
        self.put(a, "postalCode", lambda: "LS1 6AE")
        self.put(a, "country", lambda: "GBR", 0.3)
        self.put(a, "use", lambda: "home")
        self.put(a, "period", self.period, 0.2)
        return a

    def contact_point(self) -> dict[str, Any]:
        system = self.r.choice(["phone", "email", "fax", "url"])
        value = "jane@example.com" if system == "email" else "01632 960587"
        return {"system": system, "value": value, "use": self.r.choice(["home", "work", "mobile"])}

    def meta(self) -> dict[str, Any]:
        m: dict[str, Any] = {"lastUpdated": "2024-05-01T12:00:00.000+00:00"}
        self.put(m, "profile", lambda: ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"])
        self.put(m, "tag", lambda: self.some(self.coding, 1, 2), 0.3)
        self.put(
            m,
            "security",
            lambda: [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
            0.2,
        )
        self.put(m, "source", lambda: "https://gp.example.nhs.uk/emis", 0.2)
        return m

    def extensions(self) -> list[dict[str, Any]]:
        return [
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
                "valueCodeableConcept": self.concept(),
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-extensions-Patient-mothersMaidenName",
                "valueString": self.word(),
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/observation-geneticsGene",
                "valueCodeableConcept": self.concept(),
            },
        ][: self.r.randint(1, 3)]

    def timing(self) -> dict[str, Any]:
        t: dict[str, Any] = {}
        self.put(t, "event", lambda: self.some(self.date_time, 1, 3), 0.5)
        self.put(
            t,
            "repeat",
            lambda: {"boundsPeriod": self.period(), "frequency": 1, "period": 1, "periodUnit": "d"},
        )
        return t or {"code": self.concept()}

    def choice(self, resource: dict[str, Any], name: str, **makers: Any) -> None:
        if self.maybe(0.85):
            suffix = self.r.choice(list(makers))
            resource[name + suffix] = makers[suffix]()

    # -- resources
    def base(self, type_: str) -> dict[str, Any]:
        r: dict[str, Any] = {"resourceType": type_, "id": self.ident()}
        self.put(r, "meta", self.meta, 0.7)
        self.put(r, "identifier", lambda: self.some(self.identifier, 1, 2), 0.6)
        self.put(r, "extension", self.extensions, 0.2)
        return r

    def resource(self, type_: str) -> dict[str, Any]:
        r = self.base(type_)
        getattr(self, "_" + type_)(r)
        return r

    def _Patient(self, r: dict[str, Any]) -> None:
        self.put(r, "active", lambda: self.maybe())
        self.put(r, "name", lambda: self.some(self.human_name, 1, 2), 0.9)
        self.put(r, "telecom", lambda: self.some(self.contact_point, 1, 3))
        self.put(r, "gender", lambda: self.r.choice(["male", "female", "other", "unknown"]), 0.9)
        self.put(r, "birthDate", self.date, 0.9)
        self.choice(r, "deceased", Boolean=self.maybe, DateTime=self.date_time)
        self.put(r, "address", lambda: self.some(self.address, 1, 2))
        self.put(r, "communication", lambda: [{"language": self.concept()}], 0.2)
        self.put(r, "generalPractitioner", lambda: [self.reference("Organization", "Practitioner")])
        self.put(r, "managingOrganization", lambda: self.reference("Organization"))
        self.put(
            r, "link", lambda: [{"other": self.reference("Patient", "RelatedPerson"), "type": "seealso"}], 0.1
        )

    def _Observation(self, r: dict[str, Any]) -> None:
        r["status"] = self.r.choice(["final", "amended", "preliminary"])
        self.put(r, "category", lambda: [self.concept()])
        r["code"] = self.concept()
        self.put(r, "subject", lambda: self.reference("Patient", "Group"), 0.95)
        self.put(r, "encounter", lambda: self.reference("Encounter"))
        self.choice(r, "effective", DateTime=self.date_time, Period=self.period, Instant=self.date_time)
        self.put(r, "issued", self.date_time)
        self.put(
            r, "performer", lambda: self.some(lambda: self.reference("Practitioner", "Organization"), 1, 2)
        )
        self.choice(
            r,
            "value",
            Quantity=self.quantity,
            CodeableConcept=self.concept,
            String=self.word,
            Boolean=self.maybe,
            Integer=lambda: self.r.randint(0, 9),
            Period=self.period,
            DateTime=self.date_time,
            Range=lambda: {"low": self.quantity(), "high": self.quantity()},
        )
        self.put(r, "dataAbsentReason", self.concept, 0.1)
        self.put(r, "method", self.concept, 0.2)
        self.put(r, "specimen", lambda: self.reference("Specimen"), 0.2)
        self.put(r, "focus", lambda: [self.reference("Condition", "Patient")], 0.1)
        self.put(r, "device", lambda: self.reference("Device"), 0.1)
        self.put(r, "partOf", lambda: [self.reference("Procedure", "Immunization")], 0.1)
        self.put(r, "hasMember", lambda: [self.reference("Observation")], 0.2)
        self.put(r, "derivedFrom", lambda: [self.reference("Observation", "DocumentReference")], 0.1)
        self.put(r, "basedOn", lambda: [self.reference("ServiceRequest")], 0.1)
        if self.maybe(0.3):
            components = []
            for _ in range(self.r.randint(1, 3)):
                c: dict[str, Any] = {"code": self.concept()}
                self.choice(
                    c, "value", Quantity=self.quantity, CodeableConcept=self.concept, String=self.word
                )
                self.put(c, "dataAbsentReason", self.concept, 0.1)
                components.append(c)
            r["component"] = components

    def _Condition(self, r: dict[str, Any]) -> None:
        self.put(
            r,
            "clinicalStatus",
            lambda: {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
        )
        self.put(r, "verificationStatus", self.concept)
        self.put(r, "category", lambda: [self.concept()])
        self.put(r, "severity", self.concept, 0.3)
        r["code"] = self.concept()
        self.put(r, "bodySite", lambda: [self.concept()], 0.2)
        r["subject"] = self.reference("Patient", "Group")
        self.put(r, "encounter", lambda: self.reference("Encounter"))
        self.choice(
            r,
            "onset",
            DateTime=self.date_time,
            Age=lambda: {"value": self.r.randint(1, 90), "system": UCUM, "code": "a", "unit": "years"},
            Period=self.period,
            Range=lambda: {"low": self.quantity()},
            String=self.word,
        )
        self.choice(
            r,
            "abatement",
            DateTime=self.date_time,
            Age=lambda: {"value": self.r.randint(1, 90), "system": UCUM, "code": "a"},
            Period=self.period,
            String=self.word,
            Boolean=self.maybe,
        )
        self.put(r, "recordedDate", self.date_time)
        self.put(r, "asserter", lambda: self.reference("Practitioner", "Patient"), 0.3)
        self.put(
            r,
            "evidence",
            lambda: [{"code": [self.concept()], "detail": [self.reference("Observation")]}],
            0.2,
        )
        self.put(r, "stage", lambda: [{"summary": self.concept()}], 0.1)

    def _Encounter(self, r: dict[str, Any]) -> None:
        r["status"] = self.r.choice(["finished", "in-progress", "planned"])
        r["class"] = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
        self.put(r, "type", lambda: [self.concept()])
        self.put(r, "subject", lambda: self.reference("Patient"), 0.95)
        self.put(
            r,
            "participant",
            lambda: [
                {"type": [self.concept()], "individual": self.reference("Practitioner", "RelatedPerson")}
            ],
        )
        self.put(r, "period", self.period)
        self.put(r, "length", lambda: {"value": 15, "unit": "min", "system": UCUM, "code": "min"}, 0.3)
        self.put(r, "reasonCode", lambda: [self.concept()], 0.3)
        self.put(
            r, "location", lambda: [{"location": self.reference("Location"), "period": self.period()}], 0.3
        )
        self.put(r, "serviceProvider", lambda: self.reference("Organization"))
        self.put(r, "diagnosis", lambda: [{"condition": self.reference("Condition", "Procedure")}], 0.2)

    def _MedicationRequest(self, r: dict[str, Any]) -> None:
        r["status"] = self.r.choice(["active", "completed", "stopped"])
        r["intent"] = self.r.choice(["order", "plan"])
        self.put(r, "category", lambda: [self.concept()], 0.3)
        self.choice(
            r, "medication", CodeableConcept=self.concept, Reference=lambda: self.reference("Medication")
        )
        r["subject"] = self.reference("Patient")
        self.put(r, "encounter", lambda: self.reference("Encounter"), 0.3)
        self.put(r, "authoredOn", self.date_time)
        self.put(r, "requester", lambda: self.reference("Practitioner", "Organization"))
        self.put(r, "performer", lambda: self.reference("Practitioner"), 0.2)
        self.put(r, "priority", lambda: "routine", 0.3)
        self.put(r, "dosageInstruction", lambda: [{"text": "one daily", "timing": self.timing()}], 0.6)
        self.put(
            r, "dispenseRequest", lambda: {"validityPeriod": self.period(), "quantity": self.quantity()}, 0.4
        )

    def _AllergyIntolerance(self, r: dict[str, Any]) -> None:
        self.put(r, "clinicalStatus", self.concept)
        self.put(r, "verificationStatus", self.concept)
        self.put(r, "type", lambda: self.r.choice(["allergy", "intolerance"]))
        self.put(r, "category", lambda: ["medication", "food"][: self.r.randint(1, 2)])
        self.put(r, "criticality", lambda: "high", 0.3)
        self.put(r, "code", self.concept, 0.9)
        r["patient"] = self.reference("Patient")
        self.choice(r, "onset", DateTime=self.date_time, Period=self.period, String=self.word)
        self.put(r, "recordedDate", self.date_time)
        self.put(r, "recorder", lambda: self.reference("Practitioner"))
        self.put(r, "asserter", lambda: self.reference("Patient", "Practitioner"), 0.3)
        self.put(r, "lastOccurrence", self.date_time, 0.2)
        self.put(
            r,
            "reaction",
            lambda: [
                {
                    "manifestation": [self.concept()],
                    "onset": self.date_time(),
                    "exposureRoute": self.concept(),
                }
            ],
            0.4,
        )

    def _Immunization(self, r: dict[str, Any]) -> None:
        r["status"] = self.r.choice(["completed", "not-done"])
        self.put(r, "statusReason", self.concept, 0.1)
        r["vaccineCode"] = self.concept()
        r["patient"] = self.reference("Patient")
        self.choice(r, "occurrence", DateTime=self.date_time, String=self.word)
        self.put(r, "location", lambda: self.reference("Location"), 0.3)
        self.put(r, "lotNumber", self.ident, 0.4)
        self.put(r, "manufacturer", lambda: self.reference("Organization"), 0.2)
        self.put(r, "performer", lambda: [{"actor": self.reference("Practitioner", "Organization")}])
        self.put(r, "reasonCode", lambda: [self.concept()], 0.3)
        self.put(r, "reasonReference", lambda: [self.reference("Condition", "Observation")], 0.1)
        self.put(
            r, "reaction", lambda: [{"date": self.date_time(), "detail": self.reference("Observation")}], 0.2
        )
        self.put(
            r,
            "protocolApplied",
            lambda: [{"targetDisease": [self.concept()], "doseNumberPositiveInt": 1, "series": "primary"}],
            0.3,
        )

    def _Organization(self, r: dict[str, Any]) -> None:
        self.put(r, "active", lambda: self.maybe())
        self.put(r, "type", lambda: [self.concept()])
        self.put(r, "name", lambda: f"{self.word()} Medical Practice", 0.9)
        self.put(r, "alias", lambda: [self.word()], 0.2)
        self.put(r, "telecom", lambda: self.some(self.contact_point, 1, 2))
        self.put(r, "address", lambda: [self.address()])
        self.put(r, "partOf", lambda: self.reference("Organization"), 0.2)
        self.put(r, "endpoint", lambda: [self.reference("Endpoint")], 0.1)

    def _Practitioner(self, r: dict[str, Any]) -> None:
        self.put(r, "active", lambda: self.maybe())
        self.put(r, "name", lambda: self.some(self.human_name, 1, 2), 0.9)
        self.put(r, "telecom", lambda: self.some(self.contact_point, 1, 2))
        self.put(r, "address", lambda: [self.address()], 0.3)
        self.put(r, "gender", lambda: self.r.choice(["male", "female"]))
        self.put(r, "qualification", lambda: [{"code": self.concept(), "period": self.period()}], 0.3)
        self.put(r, "communication", lambda: [self.concept()], 0.2)

    def _DiagnosticReport(self, r: dict[str, Any]) -> None:
        self.put(r, "basedOn", lambda: [self.reference("ServiceRequest")], 0.3)
        r["status"] = self.r.choice(["final", "partial"])
        self.put(r, "category", lambda: [self.concept()])
        r["code"] = self.concept()
        self.put(r, "subject", lambda: self.reference("Patient", "Group"), 0.95)
        self.put(r, "encounter", lambda: self.reference("Encounter"), 0.3)
        self.choice(r, "effective", DateTime=self.date_time, Period=self.period)
        self.put(r, "issued", self.date_time)
        self.put(r, "performer", lambda: [self.reference("Organization", "Practitioner")])
        self.put(r, "resultsInterpreter", lambda: [self.reference("Practitioner")], 0.2)
        self.put(r, "specimen", lambda: [self.reference("Specimen")], 0.3)
        self.put(r, "result", lambda: self.some(lambda: self.reference("Observation"), 1, 4))
        self.put(r, "conclusionCode", lambda: [self.concept()], 0.3)
        self.put(r, "media", lambda: [{"link": self.reference("Media")}], 0.1)


def real_world_resources() -> list[dict[str, Any]]:
    """Resources from the shared PDS (R4) and GP Connect (STU3 JSON) examples, when present."""
    out: list[dict[str, Any]] = []
    files = sorted((SHARED_DATA / "pds/sandbox-mocks").glob("*.json")) + sorted(
        (SHARED_DATA / "gpconnect-examples").glob("*response*.json")
    )
    for path in files:
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if isinstance(item.get("resourceType"), str) and item["resourceType"] != "Bundle":
                    out.append(item)
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return out
