"""Store behaviour: the same suite on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import orjson
import pytest

from gpbridge.fhir.outcome import FhirError
from gpbridge.search.parse import parse_search
from gpbridge.store.base import Store

NHS = "https://fhir.nhs.uk/Id/nhs-number"
SCT = "http://snomed.info/sct"


def patient(family: str, nhs: str, birth: str = "1970-05-01", given: str = "Ann", **extra) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs}],
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": birth,
        "address": [{"postalCode": "LS1 4AP", "city": "Leeds"}],
        **extra,
    }


def observation(pid: str, code: str, when: str, value: float | None = None, unit: str = "kg") -> dict:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": SCT, "code": code, "display": f"code {code}"}], "text": "Body weight"},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
    }
    if value is not None:
        obs["valueQuantity"] = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    return obs


def create(store: Store, resource: dict) -> str:
    with store.session() as s:
        return s.create(resource).resource.id


def ids(store: Store, type_: str, params: list[tuple[str, str]]) -> list[str]:
    return [m.id for m in store.search(parse_search(type_, params)).matches]


# -- instance interactions ---------------------------------------------------------------------
def test_create_read_sets_server_meta(store: Store) -> None:
    with store.session() as s:
        written = s.create(patient("Smith", "9000000009")).resource
    got = store.read("Patient", written.id)
    body = orjson.loads(got.content)
    assert body["id"] == written.id and body["resourceType"] == "Patient"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"] == got.last_updated
    assert got.etag == 'W/"1"'


def test_update_versions_and_vread_history(store: Store) -> None:
    pid = create(store, patient("Smith", "9000000009"))
    with store.session() as s:
        result = s.update("Patient", pid, {**patient("Jones", "9000000009"), "id": pid}, if_match=1)
    assert result.resource.version == 2 and not result.created
    assert orjson.loads(store.vread("Patient", pid, 1).content)["name"][0]["family"] == "Smith"
    assert orjson.loads(store.read("Patient", pid).content)["name"][0]["family"] == "Jones"
    versions, total = store.history("Patient", pid)
    assert total == 2 and [v.version for v in versions] == [2, 1]


def test_if_match_mismatch_is_412_and_changes_nothing(store: Store) -> None:
    pid = create(store, patient("Smith", "9000000009"))
    with pytest.raises(FhirError) as exc:
        with store.session() as s:
            s.update("Patient", pid, patient("Jones", "9000000009"), if_match=7)
    assert exc.value.status == 412
    assert store.read("Patient", pid).version == 1


def test_create_on_update_with_client_id(store: Store) -> None:
    with store.session() as s:
        result = s.update("Patient", "pat-1", {**patient("Smith", "9000000009"), "id": "pat-1"})
    assert result.created and result.resource.version == 1
    assert store.read("Patient", "pat-1").id == "pat-1"


def test_delete_is_logical_then_410_and_history_kept(store: Store) -> None:
    pid = create(store, patient("Smith", "9000000009"))
    with store.session() as s:
        deleted = s.delete("Patient", pid)
    assert deleted is not None and deleted.resource.deleted and deleted.resource.version == 2
    with pytest.raises(FhirError) as exc:
        store.read("Patient", pid)
    assert exc.value.status == 410
    assert ids(store, "Patient", [("family", "smith")]) == []
    versions, total = store.history("Patient", pid)
    assert total == 2 and versions[0].deleted
    with store.session() as s:
        assert s.delete("Patient", pid) is None  # deleting again is a no-op
        revived = s.update("Patient", pid, {**patient("Smith", "9000000009"), "id": pid})
    assert revived.created and revived.resource.version == 3


def test_unknown_is_404(store: Store) -> None:
    for call in (lambda: store.read("Patient", "nope"), lambda: store.vread("Patient", "nope", 1),
                 lambda: store.history("Patient", "nope")):
        with pytest.raises(FhirError) as exc:
            call()
        assert exc.value.status == 404


def test_history_since_and_paging(store: Store) -> None:
    first = create(store, patient("A", "9000000009"))
    mark = store.read("Patient", first).last_updated
    for n in range(5):
        create(store, patient(f"B{n}", "9000000017"))
    page, total = store.history("Patient", since=mark, count=2, offset=0)
    assert total == 6 and len(page) == 2  # _since is inclusive
    newest = page[0]
    assert store.history("Patient", since=newest.last_updated)[1] == 1
    assert newest.last_updated.endswith("+00:00")
    all_types, total_all = store.history(None)
    assert total_all == 6 and len(all_types) == 6


# -- atomicity ------------------------------------------------------------------------------------
def test_failed_session_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.session() as s:
            for n in range(20):
                s.create(patient(f"P{n}", "9000000009"))
            s.search(parse_search("Patient", [("family", "p1")]))  # forces a flush mid-session
            raise RuntimeError("boom")
    assert store.count() == 0
    assert ids(store, "Patient", [("family", "p")]) == []


def test_concurrent_if_match_updates_lose_nothing(store: Store) -> None:
    pid = create(store, patient("Smith", "9000000009"))
    successes: list[int] = []
    failures: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            current = store.read("Patient", pid)
            body = orjson.loads(current.content)
            body["name"][0]["given"] = [f"v{current.version}"]
            try:
                with store.session() as s:
                    s.update("Patient", pid, body, if_match=current.version)
                with lock:
                    successes.append(current.version)
            except FhirError as exc:
                assert exc.status in (409, 412)
                with lock:
                    failures.append(exc.status)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.read("Patient", pid).version
    assert final == 1 + len(successes)
    assert len(set(successes)) == len(successes)  # each version was updated exactly once
    assert len(successes) + len(failures) == 160


# -- search ---------------------------------------------------------------------------------------
@pytest.fixture
def population(store: Store) -> dict[str, str]:
    with store.session() as s:
        a = s.create(patient("Smith", "9000000009", given="Ann", birth="1970-05-01")).resource.id
        b = s.create(patient("Smyth", "9000000017", given="Bob", birth="1985-12-24",
                             gender="male")).resource.id
        c = s.create(patient("Élise", "9000000025", given="Zoë", birth="2001")).resource.id
        s.create(observation(a, "27113001", "2020-01-10T09:00:00Z", 70.5))
        s.create(observation(a, "27113001", "2021-06-01", 72))
        s.create(observation(a, "271649006", "2021-06-01", 130, "mm[Hg]"))
        s.create(observation(b, "27113001", "2019-03-03", 88.2))
    return {"a": a, "b": b, "c": c}


def test_search_string_default_exact_contains(store: Store, population: dict[str, str]) -> None:
    assert set(ids(store, "Patient", [("family", "sm")])) == {population["a"], population["b"]}
    assert ids(store, "Patient", [("family:exact", "Smith")]) == [population["a"]]
    assert ids(store, "Patient", [("family:exact", "smith")]) == []
    assert ids(store, "Patient", [("family:contains", "myt")]) == [population["b"]]
    assert ids(store, "Patient", [("family", "elise")]) == [population["c"]]  # accents folded
    assert ids(store, "Patient", [("name", "zoe")]) == [population["c"]]


def test_search_token_forms(store: Store, population: dict[str, str]) -> None:
    a = population["a"]
    assert ids(store, "Patient", [("identifier", f"{NHS}|9000000009")]) == [a]
    assert ids(store, "Patient", [("identifier", "9000000009")]) == [a]
    assert ids(store, "Patient", [("identifier", "|9000000009")]) == []
    assert len(ids(store, "Patient", [("identifier", f"{NHS}|")])) == 3
    assert set(ids(store, "Patient", [("gender:not", "male")])) == {a, population["c"]}
    assert len(ids(store, "Observation", [("code", f"{SCT}|27113001")])) == 3
    assert len(ids(store, "Observation", [("code:text", "body")])) == 4


def test_search_dates_with_prefixes(store: Store, population: dict[str, str]) -> None:
    assert len(ids(store, "Observation", [("date", "2021")])) == 2
    assert len(ids(store, "Observation", [("date", "ge2020-01-10")])) == 3
    assert len(ids(store, "Observation", [("date", "lt2020")])) == 1
    assert len(ids(store, "Observation", [("date", "gt2020-01-10T09:00:00Z")])) == 2
    assert len(ids(store, "Observation", [("date", "2020-01-10T09:00:00+00:00")])) == 1
    assert len(ids(store, "Observation", [("date", "ne2021")])) == 2
    assert len(ids(store, "Observation", [("date", "ge2020"), ("date", "le2020-12-31")])) == 1
    assert ids(store, "Patient", [("birthdate", "eb1980")]) == [population["a"]]
    assert ids(store, "Patient", [("birthdate", "sa2000-06")]) == [population["c"]]  # 2001 starts after June 2000
    assert ids(store, "Patient", [("birthdate", "sa2001")]) == []
    assert set(ids(store, "Patient", [("birthdate", "sa1999")])) == {population["c"]}


def test_search_quantity_and_number_forms(store: Store, population: dict[str, str]) -> None:
    assert len(ids(store, "Observation", [("value-quantity", "70.5")])) == 1
    assert len(ids(store, "Observation", [("value-quantity", "gt71||kg")])) == 2
    assert len(ids(store, "Observation", [("value-quantity", "ge130|http://unitsofmeasure.org|mm[Hg]")])) == 1
    assert len(ids(store, "Observation", [("value-quantity", "ap72")])) == 2  # 70.5 and 72 within 10%


def test_search_reference_forms_chain_and_has(store: Store, population: dict[str, str]) -> None:
    a = population["a"]
    assert len(ids(store, "Observation", [("subject", f"Patient/{a}")])) == 3
    assert len(ids(store, "Observation", [("patient", a)])) == 3
    assert len(ids(store, "Observation", [("subject:Patient", a)])) == 3
    assert len(ids(store, "Observation", [("subject:Patient.identifier", f"{NHS}|9000000009")])) == 3
    assert len(ids(store, "Observation", [("subject.family", "smyth")])) == 1
    assert ids(store, "Patient", [("_has:Observation:patient:code", "271649006")]) == [a]


def test_search_or_and_missing_id(store: Store, population: dict[str, str]) -> None:
    a, b = population["a"], population["b"]
    assert set(ids(store, "Patient", [("_id", f"{a},{b}")])) == {a, b}
    assert set(ids(store, "Patient", [("family", "smith,smyth")])) == {a, b}
    assert ids(store, "Patient", [("family", "sm"), ("given", "bob")]) == [b]
    assert len(ids(store, "Observation", [("value-quantity:missing", "true")])) == 0
    assert ids(store, "Patient", [("death-date:missing", "false")]) == []
    assert len(ids(store, "Patient", [("death-date:missing", "true")])) == 3


def test_search_sort_count_offset_total(store: Store, population: dict[str, str]) -> None:
    q = parse_search("Observation", [("_sort", "-date"), ("_count", "2")])
    result = store.search(q)
    dates = [orjson.loads(m.content)["effectiveDateTime"] for m in result.matches]
    assert result.total == 4 and dates[0].startswith("2021") and len(dates) == 2
    q2 = parse_search("Observation", [("_sort", "-date"), ("_count", "2"), ("_offset", "2")])
    later = [orjson.loads(m.content)["effectiveDateTime"] for m in store.search(q2).matches]
    assert later == ["2020-01-10T09:00:00Z", "2019-03-03"]
    assert store.search(parse_search("Patient", [("_total", "none")])).total is None
    assert store.search(parse_search("Patient", [("_summary", "count")])).matches == []
    families = [orjson.loads(m.content)["name"][0]["family"]
                for m in store.search(parse_search("Patient", [("_sort", "family")])).matches]
    assert families == ["Élise", "Smith", "Smyth"]


def test_include_and_revinclude(store: Store, population: dict[str, str]) -> None:
    result = store.search(parse_search("Observation", [("code", "271649006"), ("_include", "Observation:subject")]))
    assert [m.type for m in result.included] == ["Patient"]
    rev = store.search(parse_search("Patient", [("_id", population["a"]),
                                                ("_revinclude", "Observation:subject")]))
    assert len(rev.included) == 3


def test_last_updated_and_tag(store: Store) -> None:
    tagged = {**patient("Tag", "9000000009"), "meta": {"tag": [{"system": "urn:t", "code": "demo"}]}}
    pid = create(store, tagged)
    assert ids(store, "Patient", [("_tag", "urn:t|demo")]) == [pid]
    assert ids(store, "Patient", [("_lastUpdated", "ge2000-01-01")]) == [pid]
    assert ids(store, "Patient", [("_lastUpdated", "lt2000-01-01")]) == []


def test_update_replaces_index_rows(store: Store) -> None:
    pid = create(store, patient("Smith", "9000000009"))
    with store.session() as s:
        s.update("Patient", pid, {**patient("Jones", "9000000009"), "id": pid})
    assert ids(store, "Patient", [("family", "smith")]) == []
    assert ids(store, "Patient", [("family", "jones")]) == [pid]


def test_system_level_search_by_type(store: Store, population: dict[str, str]) -> None:
    result = store.search(parse_search(None, [("_type", "Patient,Observation"), ("_count", "100")]))
    assert result.total == 7


def test_lock_keys_makes_a_second_session_wait_and_a_deadlock_is_a_retryable_conflict(postgres_store) -> None:
    store = postgres_store
    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with store.session() as session:
            session.lock_keys(["BG1950-03-04S530"])
            held.set()
            threading.Event().wait(0.3)
            order.append("first done")

    def second() -> None:
        held.wait(5)
        with store.session() as session:
            session.lock_keys(["PGLS63ABM626", "BG1950-03-04S530"])  # one key in common: waits
            order.append("second locked")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["first done", "second locked"]

    # Keys taken in two steps in opposite orders: PostgreSQL breaks the deadlock by failing one
    # session, which the client sees as a 409 it can retry (not a 500).
    barrier = threading.Barrier(2)
    errors: list[FhirError] = []

    def crossing(a: str, b: str) -> None:
        try:
            with store.session() as session:
                session.lock_keys([a])
                barrier.wait(5)
                session.lock_keys([b])
        except FhirError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=crossing, args=("x", "y")), threading.Thread(target=crossing, args=("y", "x"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(errors) == 1 and errors[0].status == 409 and "retry" in errors[0].issues[0].diagnostics
