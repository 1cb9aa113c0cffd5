"""Index rows are filed by patient compartment (store.compartment, schema v10): every search still
finds exactly what it did, whether or not it names the patient."""

from __future__ import annotations

from pathlib import Path

from gpbridge.search.parse import parse_search
from gpbridge.search.sql import SqlBuilder
from gpbridge.store import compartment
from gpbridge.store.base import Store
from gpbridge.store.sqlite import SQLiteStore

SNOMED = "http://snomed.info/sct"


def observation(subject: str, code: str = "27113001") -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": SNOMED, "code": code}]}, "subject": {"reference": subject}}


def write(store: Store, resource: dict, id_: str) -> None:
    with store.session() as s:
        s.update(resource["resourceType"], id_, {**resource, "id": id_})


def ids(store: Store, type_: str, params: list[tuple[str, str]]) -> list[str]:
    return sorted(m.id for m in store.search(parse_search(type_, params)).matches)


def comps(store: Store, type_: str, id_: str) -> set[int] | None:
    """The compartments a resource's token rows are filed under; None where the dialect files none."""
    if not store.dialect_obj.compartment_indexes:  # type: ignore[attr-defined]
        return None
    with store._read_cursor() as cur:  # type: ignore[attr-defined]  # noqa: SLF001
        cur.execute(store.dialect_obj.sql(  # type: ignore[attr-defined]
            "SELECT DISTINCT x.comp FROM ix_token x JOIN resource r ON r.rid = x.rid WHERE r.type = ? AND r.id = ?"),
            (type_, id_))
        return {row[0] for row in cur.fetchall()}


def test_searches_with_and_without_the_patient_find_the_same(store: Store) -> None:
    for n, who in enumerate(["a", "a", "b"]):
        write(store, observation(f"Patient/{who}"), f"o{n}")
    write(store, {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "1"}]}, "a")
    assert comps(store, "Observation", "o0") in ({compartment.key("a")}, None)
    assert comps(store, "Patient", "a") in ({compartment.NONE}, None)  # outside any compartment's range
    assert ids(store, "Observation", [("patient", "Patient/a")]) == ["o0", "o1"]
    assert ids(store, "Observation", [("patient", "a"), ("code", f"{SNOMED}|27113001")]) == ["o0", "o1"]
    assert ids(store, "Observation", [("subject", "Patient/b")]) == ["o2"]  # not the home parameter
    assert ids(store, "Observation", [("code", f"{SNOMED}|27113001")]) == ["o0", "o1", "o2"]  # every patient
    assert ids(store, "Observation", [("patient", "Patient/a,Patient/b")]) == ["o0", "o1", "o2"]
    assert ids(store, "Observation", [("subject:Patient.identifier", "urn:x|1")]) == ["o0", "o1"]
    assert ids(store, "Patient", [("identifier", "urn:x|1")]) == ["a"]
    assert ids(store, "Patient", [("_has:Observation:patient:code", f"{SNOMED}|27113001")]) == ["a"]
    found = store.search(parse_search("Patient", [("_id", "a"), ("_revinclude", "Observation:subject")]))
    assert sorted(m.id for m in found.included) == ["o0", "o1"]


def test_a_resource_naming_several_patients_is_found_by_each(store: Store) -> None:
    appointment = {"resourceType": "Appointment", "status": "booked", "participant": [
        {"actor": {"reference": "Patient/a"}, "status": "accepted"},
        {"actor": {"reference": "Patient/b"}, "status": "accepted"}]}
    write(store, appointment, "ap1")
    assert comps(store, "Appointment", "ap1") in ({compartment.SEVERAL}, None)
    assert ids(store, "Appointment", [("patient", "Patient/a")]) == ["ap1"]
    assert ids(store, "Appointment", [("patient", "Patient/b"), ("status", "booked")]) == ["ap1"]
    assert ids(store, "Appointment", [("patient", "Patient/c")]) == []


def test_an_update_moves_a_resource_to_its_new_patient(store: Store) -> None:
    write(store, observation("Patient/a"), "o1")
    write(store, observation("Patient/b"), "o1")
    assert comps(store, "Observation", "o1") in ({compartment.key("b")}, None)
    assert ids(store, "Observation", [("patient", "Patient/a")]) == []
    assert ids(store, "Observation", [("patient", "Patient/b")]) == ["o1"]


def test_references_that_are_not_local_patients_file_nowhere(store: Store) -> None:
    write(store, observation("https://elsewhere.example/fhir/Patient/a"), "o1")
    write(store, observation("Group/g1"), "o2")
    assert comps(store, "Observation", "o1") == comps(store, "Observation", "o2") in ({compartment.NONE}, None)
    assert ids(store, "Observation", [("subject", "https://elsewhere.example/fhir/Patient/a")]) == ["o1"]
    assert ids(store, "Observation", [("subject", "Group/g1")]) == ["o2"]
    assert ids(store, "Observation", [("patient", "Patient/a")]) == []


def test_searches_naming_the_patient_seek_its_compartment(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "plan.db"))
    try:
        where, args = SqlBuilder(store).level(
            parse_search("Observation", [("patient", "Patient/a"), ("code", f"{SNOMED}|1")]), "a")
        assert compartment.key("a") in args
        with store._read_cursor() as cur:  # noqa: SLF001
            cur.execute(f"EXPLAIN QUERY PLAN SELECT a.rid FROM resource a WHERE {where}", args)
            plan = "\n".join(row[3] for row in cur.fetchall())
        assert "_search (comp=? AND pid=?" in plan, plan
    finally:
        store.close()


def test_an_older_database_is_filed_by_compartment_on_upgrade(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    store = SQLiteStore(path)
    write(store, observation("Patient/a"), "o1")
    write(store, {"resourceType": "Appointment", "status": "booked", "participant": [
        {"actor": {"reference": "Patient/a"}, "status": "accepted"},
        {"actor": {"reference": "Patient/b"}, "status": "accepted"}]}, "ap1")
    # as version 9 left it: no compartments, search indexes without them
    with store._write_cursor() as cur:  # noqa: SLF001
        for table in ("ix_token", "ix_string", "ix_date", "ix_number", "ix_quantity", "ix_reference", "ix_uri",
                      "ix_composite"):
            cur.execute(f"DROP INDEX {table}_search")
            cur.execute(f"ALTER TABLE {table} DROP COLUMN comp")
        cur.execute("DROP TABLE compartment")
        cur.execute("DELETE FROM schema_version WHERE version >= 10")
    store.close()
    upgraded = SQLiteStore(path)
    try:
        assert comps(upgraded, "Observation", "o1") == {compartment.key("a")}
        assert comps(upgraded, "Appointment", "ap1") == {compartment.SEVERAL}
        assert ids(upgraded, "Observation", [("patient", "Patient/a")]) == ["o1"]
        assert ids(upgraded, "Observation", [("code", f"{SNOMED}|27113001")]) == ["o1"]
    finally:
        upgraded.close()


def test_identifiers_are_filed_under_no_compartment(store: Store) -> None:
    """Conditional creates match on identifiers without the patient: one seek, not one per patient."""
    for n, who in enumerate(["a", "b"]):
        write(store, {**observation(f"Patient/{who}"), "identifier": [{"system": "urn:lab", "value": f"r{n}"}]},
              f"o{n}")
    with store._read_cursor() as cur:  # type: ignore[attr-defined]  # noqa: SLF001
        cur.execute(store.dialect_obj.sql(  # type: ignore[attr-defined]
            "SELECT x.code, x.comp FROM ix_token x JOIN search_param p ON p.pid = x.pid "
            "WHERE p.type = 'Observation' AND p.code IN ('identifier', 'code') ORDER BY x.code"))
        filed = dict(cur.fetchall())
    assert filed == {"27113001": filed["27113001"], "r0": compartment.NONE, "r1": compartment.NONE}
    if store.dialect_obj.compartment_indexes:  # type: ignore[attr-defined]
        assert filed["27113001"] in (compartment.key("a"), compartment.key("b"))
    assert ids(store, "Observation", [("identifier", "urn:lab|r1")]) == ["o1"]
    assert ids(store, "Observation", [("identifier", "urn:lab|r0"), ("patient", "Patient/a")]) == ["o0"]
    assert ids(store, "Observation", [("identifier", "urn:lab|r0"), ("patient", "Patient/b")]) == []
    where, args = SqlBuilder(store).level(parse_search("Observation", [("identifier", "urn:lab|r1")]), "a")
    assert "SELECT comp FROM compartment" not in where


def test_a_population_search_naming_many_patients_runs(store: Store) -> None:
    # The security filter ANDs a clinician's search with every permitted patient (~500 for a
    # practice). Each patient's alternative once repeated the whole compartment list (500 x 500
    # placeholders: "too many SQL variables" on SQLite) and a flat OR chain nested 500 deep
    # ("Expression tree is too large"): a 500 for every population search.
    many = 1200
    for n in (0, 7, many - 1):
        write(store, observation(f"Patient/p{n}"), f"o{n}")
    write(store, observation("Patient/outsider"), "o-out")
    refs = ",".join(f"Patient/p{n}" for n in range(many))
    assert ids(store, "Observation", [("patient", refs)]) == ["o0", "o1199", "o7"]
    assert ids(store, "Observation", [("patient", refs), ("code", f"{SNOMED}|27113001,{SNOMED}|1")]) == [
        "o0", "o1199", "o7"]
    assert store.search(parse_search("Observation", [("patient", refs), ("_summary", "count")])).total == 3
    assert ids(store, "Observation", [("subject", refs)]) == ["o0", "o1199", "o7"]  # not the home parameter


def test_a_code_elements_implied_system_may_be_named(store: Store) -> None:
    # Patient.gender is a code: stored with no system, its required binding implies
    # http://hl7.org/fhir/administrative-gender, and FHIR clients name it
    gender = "http://hl7.org/fhir/administrative-gender"
    write(store, {"resourceType": "Patient", "gender": "female"}, "f")
    write(store, {"resourceType": "Patient", "gender": "male"}, "m")
    write(store, {"resourceType": "Patient"}, "none")
    assert ids(store, "Patient", [("gender", f"{gender}|female")]) == ["f"]
    assert ids(store, "Patient", [("gender", "female")]) == ["f"]
    assert ids(store, "Patient", [("gender", "|female")]) == ["f"]
    assert ids(store, "Patient", [("gender", f"{gender}|")]) == ["f", "m"]
    assert ids(store, "Patient", [("gender", "http://example.org/other|female")]) == []
    assert ids(store, "Patient", [("gender:not", f"{gender}|female")]) == ["m", "none"]
    write(store, observation("Patient/f"), "o")
    assert ids(store, "Observation", [("status", "http://hl7.org/fhir/observation-status|final")]) == ["o"]
