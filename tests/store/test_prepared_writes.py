"""Transactions prepare their writes before the write lock (``store.prepared``): what the database
decides inside the lock must still win, and the stored JSON and index must be what they were."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from test_transaction import NHS, bundle, observation, patient, post, process, put, read

from gpbridge.fhir.outcome import FhirError
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store
from identity_helpers import source_patients
from nhs_helpers import nhs


def found(store: Store, type_: str, **params: str) -> list[str]:
    result = store.search(parse_search(type_, list(params.items())))
    return [f"{m.type}/{m.id}" for m in result.matches]


def test_if_none_exist_match_moves_prepared_references_and_index_rows(store: Store) -> None:
    process(store, bundle("transaction", put(patient(nhs(61), id="p61"), "Patient/p61")))
    pid = "urn:uuid:61616161-2222-3333-4444-555555555555"
    out = process(store, bundle(
        "transaction",
        post(observation(pid)),
        post(patient(nhs(61)), pid, ifNoneExist=f"identifier={NHS}|{nhs(61)}"),
        post(observation(pid, performer=[{"reference": pid}])),
    ))
    first, matched, second = (e["response"] for e in out["entry"])
    assert matched["location"] == "Patient/p61/_history/1"
    assert read(store, first["location"])["subject"]["reference"] == "Patient/p61"
    assert read(store, second["location"])["performer"][0]["reference"] == "Patient/p61"
    # the index follows the stored JSON, not the id provisionally minted before the lock
    assert len(found(store, "Observation", subject="Patient/p61")) == 2
    assert len(found(store, "Observation", performer="Patient/p61")) == 1
    assert source_patients(store) == 1


def test_if_none_exist_without_match_keeps_the_prepared_id(store: Store) -> None:
    pid = "urn:uuid:62626262-2222-3333-4444-555555555555"
    out = process(store, bundle(
        "transaction",
        post(patient(nhs(62)), pid, ifNoneExist=f"identifier={NHS}|{nhs(62)}"),
        post(observation(pid)),
    ))
    pat = "/".join(out["entry"][0]["response"]["location"].split("/")[:2])
    assert out["entry"][0]["response"]["status"] == "201 Created"
    assert found(store, "Observation", subject=pat) == ["/".join(out["entry"][1]["response"]["location"].split("/")[:2])]


def test_conditional_put_match_moves_references_of_prepared_entries(store: Store) -> None:
    process(store, bundle("transaction", put(patient(nhs(63), id="p63"), "Patient/p63")))
    pid = "urn:uuid:63636363-2222-3333-4444-555555555555"
    out = process(store, bundle(
        "transaction",
        {"fullUrl": pid, "resource": patient(nhs(63), gender="female"),
         "request": {"method": "PUT", "url": f"Patient?identifier={NHS}|{nhs(63)}"}},
        post(observation(pid)),
    ))
    assert out["entry"][0]["response"]["location"] == "Patient/p63/_history/2"
    assert read(store, out["entry"][1]["response"]["location"])["subject"]["reference"] == "Patient/p63"
    assert len(found(store, "Observation", subject="Patient/p63")) == 1


def test_invalid_resource_whose_if_none_exist_matches_is_not_written_nor_refused(store: Store) -> None:
    process(store, bundle("transaction", put(patient(nhs(64), id="p64"), "Patient/p64")))
    invalid = patient(nhs(64), bogusElement=True)
    out = process(store, bundle(
        "transaction", post(invalid, "urn:uuid:p64", ifNoneExist=f"identifier={NHS}|{nhs(64)}")))
    assert out["entry"][0]["response"]["status"] == "200 OK"
    assert "bogusElement" not in read(store, "Patient/p64")


def test_failures_keep_the_transaction_order(store: Store) -> None:
    """A DELETE runs first, so its 412 is the answer even though a later entry is invalid too
    (the invalid entry was found before the lock; its error waits for its turn)."""
    process(store, bundle("transaction", put(patient(id="d1"), "Patient/d1")))
    with pytest.raises(FhirError) as err:
        process(store, bundle(
            "transaction",
            post({"resourceType": "Patient", "bogusElement": 1}),
            {"request": {"method": "DELETE", "url": "Patient/d1", "ifMatch": 'W/"7"'}},
        ))
    assert err.value.status == 412
    with pytest.raises(FhirError) as err:
        process(store, bundle("transaction", post({"resourceType": "Patient", "bogusElement": 1})))
    assert err.value.status == 400
    assert any(e.startswith("Bundle.entry[0].resource") for i in err.value.issues for e in i.expression)
    assert source_patients(store) == 1


def test_stored_json_carries_server_meta_first_and_keeps_the_clients_meta(store: Store) -> None:
    tagged: dict[str, Any] = patient(
        nhs(65), id="p65",
        meta={"versionId": "99", "lastUpdated": "2000-01-01T00:00:00Z",
              "tag": [{"system": "http://example.org/tags", "code": "t1"}]},
    )
    process(store, bundle("transaction", put(tagged, "Patient/p65")))
    stored = store.read("Patient", "p65")
    assert stored.content is not None
    body = orjson.loads(stored.content)
    if store.dialect == "sqlite":  # JSONB keeps its own key order
        assert list(body)[:3] == ["resourceType", "id", "meta"]
    assert body["meta"]["versionId"] == "1" and body["meta"]["lastUpdated"] == stored.last_updated
    assert body["meta"]["tag"] == [{"system": "http://example.org/tags", "code": "t1"}]
    assert body["identifier"] == [{"system": NHS, "value": nhs(65)}]
    assert found(store, "Patient", _tag="http://example.org/tags|t1") == ["Patient/p65"]
    process(store, bundle("transaction", put({**tagged, "gender": "male"}, "Patient/p65")))
    assert orjson.loads(store.read("Patient", "p65").content or b"{}")["meta"]["versionId"] == "2"


def test_batch_entries_are_prepared_one_by_one(store: Store) -> None:
    process(store, bundle("transaction", put(patient(nhs(66), id="p66"), "Patient/p66")))
    out = process(store, bundle(
        "batch",
        post(patient(nhs(66)), "urn:uuid:p66", ifNoneExist=f"identifier={NHS}|{nhs(66)}"),
        post(observation("urn:uuid:p66")),  # batch entries do not see each other's fullUrls
        post(observation("Patient/p66")),
    ))
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses[0] == "200 OK" and statuses[1].startswith("400") and statuses[2] == "201 Created"
    assert found(store, "Observation", subject="Patient/p66") == [
        "/".join(out["entry"][2]["response"]["location"].split("/")[:2])]
    assert source_patients(store) == 1


def test_index_rows_written_are_those_the_stored_json_yields(store: Store) -> None:
    """Rows extracted before the lock, from the resource as sent, equal the rows the stored JSON
    (with its server meta and final references) yields: search sees what is stored."""
    from gpbridge.demo.population import generate_population
    from gpbridge.store.index_rows import INDEX_TABLES, stored_rows

    for b in generate_population(2, seed=11):
        process(store, b)
    builder = store.index_builder  # type: ignore[attr-defined]
    with store._read_cursor() as cur:  # type: ignore[attr-defined]  # noqa: SLF001
        cur.execute("SELECT r.rid, r.type, h.content FROM resource r "
                    "JOIN history h ON h.rid = r.rid AND h.version = r.version")
        stored = cur.fetchall()
        assert len(stored) > 50
        for rid, type_, content in stored:
            resource = content if isinstance(content, dict) else orjson.loads(content)
            expected, comp = builder.rows_and_compartment(type_, resource)
            for (table, cols), rows in zip(INDEX_TABLES, expected, strict=True):
                cur.execute(store.dialect_obj.sql(  # type: ignore[attr-defined]
                    f"SELECT {','.join(cols[1:])} FROM {table} WHERE rid = ?"), (rid,))
                if store.dialect_obj.compartment_indexes:  # type: ignore[attr-defined]
                    filed = stored_rows(rid, comp, rows, builder.global_pids() if table == "ix_token" else frozenset())
                else:  # the column keeps its default
                    filed = stored_rows(rid, 0, rows)
                assert sorted(map(tuple, cur.fetchall()), key=repr) == sorted([r[1:] for r in filed], key=repr), (
                    type_, table)


def test_a_linked_patient_is_validated_before_the_write_lock_and_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Identity linkage reads and writes in the session, so a Patient is linked and stored inside
    the write lock; its validation walk needs no database and is done before the lock is taken."""
    import contextlib
    from collections.abc import Iterator

    from gpbridge.store import interactions

    events: list[str] = []
    validate = interactions.validate_for_write

    def counted(resource: dict[str, Any], settings: Any, expected_type: str | None = None) -> Any:
        events.append(f"validate {expected_type}")
        return validate(resource, settings, expected_type)

    open_session = store.session

    @contextlib.contextmanager
    def session() -> Iterator[Any]:
        events.append("lock")
        with open_session() as s:
            yield s

    monkeypatch.setattr(interactions, "validate_for_write", counted)
    monkeypatch.setattr(store, "session", session)
    pid = "urn:uuid:67676767-2222-3333-4444-555555555555"
    out = process(store, bundle(
        "transaction",
        post(patient(nhs(67)), pid, ifNoneExist=f"identifier={NHS}|{nhs(67)}"),
        post(observation(pid)),
    ))
    assert events == ["validate Patient", "validate Observation", "lock"]
    assert out["entry"][0]["response"]["status"] == "201 Created"
    assert source_patients(store) == 1
    linked = read(store, out["entry"][0]["response"]["location"])
    assert any(link["type"] == "seealso" for link in linked.get("link", [])), linked  # linked in the lock
    # a Patient that fails validation still fails the Bundle at its own entry, nothing written
    with pytest.raises(FhirError) as err:
        process(store, bundle("transaction", post(patient(nhs(68), gender="nonsense"), "urn:uuid:p68")))
    assert err.value.status in (400, 422)
    assert any(e.startswith("Bundle.entry[0].resource") for i in err.value.issues for e in i.expression)
    assert source_patients(store) == 1


def _person_of(store: Store, nhs_number: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source Patient with this NHS number and its golden Patient."""
    from gpbridge.identity.golden import person_of_source

    [ref] = found(store, "Patient", identifier=f"{NHS}|{nhs_number}")
    source = read(store, ref)
    person = person_of_source(source)
    assert person is not None, source
    return source, read(store, f"Patient/{person}")


def test_a_new_persons_golden_and_source_are_made_ready_before_the_write_lock(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new Patient's linkage is worked out before the lock on the guess that it starts a new
    person; in the lock only the candidate search and the decision run. A second record of the
    same person proves the guess wrong, and is linked in the lock as before."""
    import contextlib
    from collections.abc import Iterator

    from gpbridge.identity.golden import BLOCKING_KEY_SYSTEM, members

    events: list[str] = []
    open_session, prepare = store.session, store.prepare

    @contextlib.contextmanager
    def session() -> Iterator[Any]:
        events.append("lock")
        with open_session() as s:
            yield s
        events.append("unlock")

    def counted(type_: str, id_: str, resource: dict[str, Any]) -> Any:
        events.append(f"prepare {type_}")
        return prepare(type_, id_, resource)

    monkeypatch.setattr(store, "session", session)
    monkeypatch.setattr(store, "prepare", counted)
    pid = "urn:uuid:69696969-2222-3333-4444-555555555555"
    name = [{"family": "Speculand", "given": ["Ada"]}]
    out = process(store, bundle(
        "transaction",
        post(patient(nhs(69), name=name, birthDate="1970-01-02"), pid, ifNoneExist=f"identifier={NHS}|{nhs(69)}"),
        post(observation(pid)),
    ))
    # golden, source and the Observation made ready before the lock; nothing prepared inside it
    assert events == ["prepare Patient", "prepare Patient", "prepare Observation", "lock", "unlock"]
    source, golden = _person_of(store, nhs(69))
    assert members(golden) == [source["id"]]
    assert out["entry"][0]["response"]["location"].startswith(f"Patient/{source['id']}/")
    keys = [i["value"] for i in golden["identifier"] if i["system"] == BLOCKING_KEY_SYSTEM]
    assert keys and found(store, "Patient", identifier=f"{BLOCKING_KEY_SYSTEM}|{keys[0]}") == [f"Patient/{golden['id']}"]

    # the same person from another source: linked to that golden, made ready in the lock
    events.clear()
    process(store, bundle("transaction", post(patient(nhs(69), name=name, birthDate="1970-01-02",
                                                       gender="female"), "urn:uuid:p69b")))
    # the guess (golden, source) was wrong: the golden is updated and the source made ready in the lock
    assert events == ["prepare Patient", "prepare Patient", "lock", "prepare Patient", "prepare Patient", "unlock"]
    assert source_patients(store) == 2
    sources = found(store, "Patient", identifier=f"{NHS}|{nhs(69)}")
    person = read(store, f"Patient/{golden['id']}")
    assert sorted(members(person)) == sorted(r.split("/")[1] for r in sources)


def test_a_speculated_linkage_stores_what_the_lock_would_have(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same Bundle with the guess made before the lock and without it: the same source and
    golden Patient (ids aside), found by the same searches."""
    from gpbridge.config import Settings
    from gpbridge.identity.golden import BLOCKING_KEY_SYSTEM
    from gpbridge.store import interactions, open_store

    def stored(speculate: bool, name: str) -> tuple[bytes, bytes, list[str]]:
        url = f"sqlite:///{tmp_path}/{name}.db"
        store = open_store(url, Settings(database=url))
        with monkeypatch.context() as m:
            if not speculate:
                m.setattr(interactions, "speculate_create", lambda *a, **k: None)
            process(store, bundle("transaction", post(
                patient(nhs(70), name=[{"family": "Same", "given": ["Sam", "Q"]}], birthDate="1980-03-04",
                        gender="male", address=[{"line": ["1 High St"], "postalCode": "LS1 4AP"}]),
                "urn:uuid:p70", ifNoneExist=f"identifier={NHS}|{nhs(70)}")))
        source, golden = _person_of(store, nhs(70))
        keys = sorted(i["value"] for i in golden["identifier"] if i["system"] == BLOCKING_KEY_SYSTEM)
        assert all(found(store, "Patient", identifier=f"{BLOCKING_KEY_SYSTEM}|{k}") == [f"Patient/{golden['id']}"]
                   for k in keys)
        store.close()
        ids = {source["id"]: "SOURCE", golden["id"]: "GOLDEN"}

        def normal(resource: dict[str, Any]) -> bytes:
            resource = {**resource, "meta": {k: v for k, v in resource["meta"].items()
                                             if k not in ("versionId", "lastUpdated")}}
            text = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS).decode()
            for old, new in ids.items():
                text = text.replace(old, new)
            return text.encode()

        return normal(source), normal(golden), keys

    assert stored(True, "guessed") == stored(False, "in-lock")
