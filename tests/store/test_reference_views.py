"""Reference views (``Observation.patient`` is ``subject`` narrowed to Patients) get no rows of
their own and answer every query shape from their source's rows."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
from test_index_row_types import _documents, _resources  # the same corpus, walked alike

from gpbridge.demo.population import generate_population
from gpbridge.search import params as registry
from gpbridge.search.derived import derived_codes, reference_views
from gpbridge.search.extract import extractor_for
from gpbridge.search.parse import parse_search
from gpbridge.store.sqlite import SQLiteStore

SCT = "http://snomed.info/sct"
FIXTURE = Path(__file__).with_name("fixtures") / "schema_v1.db"


def _ids(store: Any, type_: str, params: list[tuple[str, str]]) -> list[str]:
    return sorted(m.id for m in store.search(parse_search(type_, params)).matches)


def _view_row_count(store: Any) -> int:
    pids = [pid for key, pid in store.pids.items() if key in reference_views()]
    marks = ", ".join("?" for _ in pids)
    with store._read_cursor() as cur:
        cur.execute(store.dialect_obj.sql(f"SELECT count(*) FROM ix_reference WHERE pid IN ({marks})"), pids)
        return int(cur.fetchone()[0])


def test_the_spec_yields_the_expected_views() -> None:
    views = reference_views()
    assert views[("Observation", "patient")] == ("subject", ("Patient",))
    assert views[("Condition", "patient")] == ("subject", ("Patient",))
    assert views[("Encounter", "practitioner")] == ("participant", ("Practitioner",))
    assert ("Immunization", "patient") not in views  # Immunization.patient is its own element
    assert ("Observation", "subject") not in views
    for (type_, code), view in views.items():
        assert registry.param(type_, code)["type"] == "reference"  # type: ignore[index]
        assert registry.param(type_, view.source)["type"] == "reference"  # type: ignore[index]
        assert (type_, view.source) not in views
        assert code in derived_codes(type_) and view.source not in derived_codes(type_)


def test_a_views_values_are_its_sources_values_of_its_types(shared_data: Path) -> None:
    """What the view's own expression extracts is exactly its source's values of its target types,
    on every resource of the R4 core package, the GP Connect examples and the synthetic population."""
    documents = list(_documents(shared_data))
    for bundle in generate_population(20, seed=3):  # references resolved, as a transaction leaves them
        text = orjson.dumps(bundle).decode()
        for n, entry in enumerate(bundle["entry"]):
            text = text.replace(f'"{entry["fullUrl"]}"', f'"{entry["resource"]["resourceType"]}/e{n}"')
        documents.append(orjson.loads(text))
    by_type: dict[str, list[tuple[str, Any]]] = {}
    for (type_, code), view in reference_views().items():
        by_type.setdefault(type_, []).append((code, view))
    checked, differ = 0, []
    for document in documents:
        for resource in _resources(document):
            views = by_type.get(resource["resourceType"])
            if not views:
                continue
            refs = extractor_for(resource["resourceType"]).extract(resource).references
            for code, view in views:
                own = {(t or "", i, u) for p, t, i, u in refs if p == code}
                derived = {(t or "", i, u) for p, t, i, u in refs if p == view.source and t in view.targets}
                checked += len(own)
                if own != derived:
                    differ.append((resource["resourceType"], resource.get("id"), code, own, derived))
    assert checked > 900
    assert not differ, differ[:5]


def test_view_searches_answer_from_source_rows(store: Any) -> None:
    with store.session() as s:
        ada = s.create({"resourceType": "Patient", "name": [{"family": "Lovelace"}]}).resource.id
        ward = s.create({"resourceType": "Group", "type": "person", "actual": True}).resource.id
        coded = {"status": "final", "code": {"coding": [{"system": SCT, "code": "27113001"}]}}
        of_ada = s.create({"resourceType": "Observation", **coded,
                           "subject": {"reference": f"Patient/{ada}"}}).resource.id  # fmt: skip
        of_ward = s.create({"resourceType": "Observation", **coded,
                            "subject": {"reference": f"Group/{ward}"}}).resource.id  # fmt: skip
        of_none = s.create({"resourceType": "Observation", **coded}).resource.id
    assert _view_row_count(store) == 0
    assert _ids(store, "Observation", [("patient", f"Patient/{ada}")]) == [of_ada]
    assert _ids(store, "Observation", [("patient", ada)]) == [of_ada]
    assert _ids(store, "Observation", [("patient", ward)]) == []  # a Group is not a patient
    assert _ids(store, "Observation", [("subject", ward)]) == [of_ward]
    assert _ids(store, "Observation", [("patient:missing", "true")]) == sorted([of_ward, of_none])
    assert _ids(store, "Observation", [("patient:missing", "false")]) == [of_ada]
    assert _ids(store, "Observation", [("patient.name", "lovelace")]) == [of_ada]
    assert _ids(store, "Observation", [("patient:Patient.name", "lovelace")]) == [of_ada]
    assert _ids(store, "Patient", [("_has:Observation:patient:code", "27113001")]) == [ada]
    assert _ids(store, "Group", [("_has:Observation:patient:code", "27113001")]) == []
    assert _ids(store, "Group", [("_has:Observation:subject:code", "27113001")]) == [ward]
    included = store.search(parse_search("Observation", [("_include", "Observation:patient")])).included
    assert [(r.type, r.id) for r in included] == [("Patient", ada)]
    revincluded = store.search(parse_search("Patient", [("_revinclude", "Observation:patient")])).included
    assert [r.id for r in revincluded] == [of_ada]
    assert store.search(parse_search("Group", [("_revinclude", "Observation:patient")])).included == []
    wildcard = store.search(parse_search("Observation", [("_id", of_ward), ("_include", "Observation:*")])).included
    assert [(r.type, r.id) for r in wildcard] == [("Group", ward)]
    by_patient = store.search(parse_search("Observation", [("_sort", "patient")])).matches
    assert by_patient[0].id == of_ada  # resources without a value sort last


def test_encounter_practitioner_is_participant_narrowed(store: Any) -> None:
    with store.session() as s:
        doctor = s.create({"resourceType": "Practitioner", "name": [{"family": "Who"}]}).resource.id
        carer = s.create({"resourceType": "RelatedPerson", "patient": {"reference": "Patient/x"}}).resource.id

        def encounter(individual: str) -> str:
            return s.create({"resourceType": "Encounter", "status": "finished",
                             "class": {"code": "AMB"}, "participant": [{"individual": {"reference": individual}}]}
                            ).resource.id  # fmt: skip

        seen_by_doctor = encounter(f"Practitioner/{doctor}")
        with_carer = encounter(f"RelatedPerson/{carer}")
    assert _ids(store, "Encounter", [("practitioner", doctor)]) == [seen_by_doctor]
    assert _ids(store, "Encounter", [("practitioner", carer)]) == []
    assert _ids(store, "Encounter", [("participant", carer)]) == [with_carer]
    assert _ids(store, "Encounter", [("practitioner.name", "who")]) == [seen_by_doctor]


def test_an_untyped_reference_with_a_declared_type_is_a_view_value(store: Any) -> None:
    with store.session() as s:
        typed = s.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                          "subject": {"reference": "urn:oid:1.2.3", "type": "Patient"}}).resource.id  # fmt: skip
    assert _ids(store, "Observation", [("patient", "urn:oid:1.2.3")]) == [typed]
    assert _ids(store, "Observation", [("subject", "urn:oid:1.2.3")]) == [typed]


def test_upgrade_drops_view_rows_and_searches_alike(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    store = SQLiteStore(str(db))
    try:
        assert _view_row_count(store) == 0
        patient = _ids(store, "Patient", [])[0]
        assert len(_ids(store, "Observation", [("patient", patient)])) == 3
        assert _ids(store, "Observation", [("patient", patient)]) == _ids(store, "Observation", [("subject", patient)])
    finally:
        store.close()


def _reopened(store: Any) -> Any:
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    from gpbridge.store.postgres import PostgresStore

    return PostgresStore(store.dsn)


def test_upgrade_types_an_untyped_source_row_from_its_view_row(store: Any) -> None:
    """Before v11 an untyped reference with Reference.type had an untyped source row and a typed
    view row; the upgrade gives the source row the type before the view row goes."""
    with store.session() as s:
        oid = s.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                        "subject": {"reference": "urn:oid:1.2.3", "type": "Patient"}}).resource.id  # fmt: skip
    source, view = store.pids[("Observation", "subject")], store.pids[("Observation", "patient")]
    sql = store.dialect_obj.sql
    with store._write_cursor() as cur:  # as version 10 wrote it
        cur.execute(sql("UPDATE ix_reference SET ttype = '' WHERE pid = ?"), [source])
        cur.execute(sql("SELECT rid, comp FROM ix_reference WHERE pid = ?"), [source])
        rid, comp = cur.fetchone()
        cur.execute(sql("INSERT INTO ix_reference (rid, pid, ttype, tid, comp) VALUES (?, ?, 'Patient', ?, ?)"),
                    [rid, view, "urn:oid:1.2.3", comp])
        cur.execute("DELETE FROM schema_version WHERE version >= 11")
    store.close()
    upgraded = _reopened(store)
    try:
        with upgraded._read_cursor() as cur:
            cur.execute(sql("SELECT pid, ttype, tid FROM ix_reference WHERE rid = ?"), [rid])
            assert cur.fetchall() == [(source, "Patient", "urn:oid:1.2.3")]
        assert _ids(upgraded, "Observation", [("patient", "urn:oid:1.2.3")]) == [oid]
    finally:
        upgraded.close()
