"""Code system URIs and the few SNOMED CT identifiers the loaders and operations rely on."""

from __future__ import annotations

SNOMED = "http://snomed.info/sct"
READ_V2 = "http://read.info/readv2"
CTV3 = "http://read.info/ctv3"
DMD = "https://dmd.nhs.uk"

NAMES = {
    SNOMED: "SNOMED CT",
    READ_V2: "Read Codes version 2",
    CTV3: "Clinical Terms Version 3 (Read Codes version 3)",
    DMD: "Dictionary of Medicines and Devices (dm+d)",
}

# RF2 identifiers
IS_A = "116680003"
FSN = "900000000000003001"
SYNONYM = "900000000000013009"
DEFINITION = "900000000000550004"
PREFERRED = "900000000000548007"
ACCEPTABLE = "900000000000549004"
# Language reference sets, best first for an English GP record: the UK clinical and UK drug
# extensions' own, then GB English, then US English.
LANGUAGE_REFSETS = (
    "999001261000000100",  # NHS realm language (clinical part)
    "999000691000001104",  # NHS realm language (pharmacy part)
    "900000000000508004",  # GB English
    "900000000000509007",  # US English
)

DESCRIPTION_TYPES = {FSN: "fsn", SYNONYM: "synonym", DEFINITION: "definition"}
# FHIR designation.use codings for the description types (SNOMED CT's own concepts).
DESIGNATION_USE = {
    "fsn": {"system": SNOMED, "code": FSN, "display": "Fully specified name"},
    "synonym": {"system": SNOMED, "code": SYNONYM, "display": "Synonym"},
    "definition": {"system": SNOMED, "code": DEFINITION, "display": "Definition"},
}

# Canonical URLs under which the NHS Data Migration maps are exposed as ConceptMaps. The NHS
# publishes the tables, not FHIR ConceptMaps, so these names are ours.
READ_V2_MAP_URL = "urn:gpbridge:conceptmap:nhs-data-migration:readv2-to-sct"
CTV3_MAP_URL = "urn:gpbridge:conceptmap:nhs-data-migration:ctv3-to-sct"


def implicit_value_set(url: str) -> tuple[str, str | None] | None:
    """``http://snomed.info/sct?fhir_vs=isa/73211009`` -> (system, "isa/73211009").

    FHIR's implicit value sets: ``<system>?fhir_vs`` is every code of the system; SNOMED CT adds
    ``isa/<id>``, ``ecl/<expression>`` and ``refset/<id>``.
    """
    base, sep, query = url.partition("?")
    if not sep or not query.startswith("fhir_vs"):
        return None
    rest = query[len("fhir_vs"):]
    if not rest:
        return base, None
    if rest.startswith("="):
        return base, rest[1:]
    return None


def split_canonical(canonical: str) -> tuple[str, str | None]:
    """``url|version`` -> (url, version). Implicit value sets keep their '|': ECL puts terms in pipes."""
    if "?fhir_vs" in canonical:
        return canonical, None
    url, _, version = canonical.partition("|")
    return url, version or None
