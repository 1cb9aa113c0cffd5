"""Distinct NHS numbers and deterministic UUIDs for the synthetic population."""

from __future__ import annotations

import random
import uuid

from gpbridge.demo.practices import PATIENT_1_NHS_NUMBER, PROXY_1_NHS_NUMBER
from gpbridge.identity.nhs_number import generate_test_nhs_number


class NhsNumbers:
    """Draws valid 999-range test NHS numbers from an RNG, never repeating one within a population."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used = {PATIENT_1_NHS_NUMBER, PROXY_1_NHS_NUMBER}  # reserved for the demo users

    def draw(self) -> str:
        # ~900,000 valid numbers exist in the range; a population is far smaller, so redraws are rare.
        while True:
            number = generate_test_nhs_number(self._rng)
            if number not in self._used:
                self._used.add(number)
                return number


def urn_uuid(rng: random.Random) -> str:
    return f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
