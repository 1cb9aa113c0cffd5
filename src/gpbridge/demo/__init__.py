"""A synthetic GP population for demos, tests and benchmarks (``gpbridge demo-data``).

Two practices in West Yorkshire, their clinicians, and patients with UK Core demographics and a
SNOMED CT-coded GP record, as FHIR R4 transaction Bundles. Deterministic for a given seed.
"""

from gpbridge.demo.population import PopulationSummary, generate_population, write_population
from gpbridge.demo.practices import DEMO_USERS, PRACTICE_A, PRACTICE_B, DemoUser, Practice

__all__ = [
    "DEMO_USERS",
    "PRACTICE_A",
    "PRACTICE_B",
    "DemoUser",
    "PopulationSummary",
    "Practice",
    "generate_population",
    "write_population",
]
