"""The state shared while one patient's transaction Bundle is written.

``Context.add`` appends a POST entry with a fresh ``urn:uuid:`` fullUrl (drawn from the patient's
RNG, so reruns give the same ids) and returns that urn for internal references.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from gpbridge.demo.build import JSON
from gpbridge.demo.identifiers import urn_uuid
from gpbridge.demo.person import Person
from gpbridge.demo.practices import Clinician, gps_at, nurse_at
from gpbridge.demo.profile import Profile


@dataclass
class Plan:
    """A repeat-medication authorisation (MedicationRequest, intent plan) already written."""

    urn: str
    drug: str
    start: int
    end: int  # last day it was in force (the record end when still active)
    prescriber: Clinician


@dataclass
class Context:
    rng: random.Random
    person: Person
    profile: Profile
    entries: list[JSON] = field(default_factory=list)
    patient_urn: str = ""
    plans: list[Plan] = field(default_factory=list)

    def add(self, resource: JSON, if_none_exist: str | None = None) -> str:
        urn = urn_uuid(self.rng)
        request: JSON = {"method": "POST", "url": resource["resourceType"]}
        if if_none_exist:
            request["ifNoneExist"] = if_none_exist
        self.entries.append({"fullUrl": urn, "resource": resource, "request": request})
        return urn

    @property
    def count(self) -> int:
        return len(self.entries)

    @property
    def organization(self) -> str:
        return f"Organization/{self.person.practice.id}"

    @property
    def location(self) -> str:
        return f"Location/{self.person.practice.location_id}"

    def gp(self) -> Clinician:
        """The usual GP most of the time; a colleague otherwise."""
        if self.rng.random() < 0.6:
            return self.person.gp
        return self.rng.choice(gps_at(self.person.practice))

    def nurse(self) -> Clinician:
        return nurse_at(self.person.practice)
