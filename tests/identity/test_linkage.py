"""One person across sources: the write-path hook, review, merge/unmerge with history, rebuild, $match."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gpbridge.config import Settings
from gpbridge.identity import golden as gold
from gpbridge.identity import review
from gpbridge.identity.linkage import IdentityConfig, LinkOutcome, link_patient
from gpbridge.identity.match import MATCH_GRADE, match, parse_match_parameters
from gpbridge.identity.rebuild import rebuild_links
from gpbridge.search.parse import parse_search
from gpbridge.store import interactions as ops
from gpbridge.store.base import Store
from gpbridge.store.sqlite import SQLiteStore

NHS = "https://fhir.nhs.uk/Id/nhs-number"
VERIFIED = [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
             "valueCodeableConcept": {"coding": [{"code": "01"}]}}]


POSTGRES_DSN = Settings.from_env().test_postgres
UNLINKED = Settings(identity_linkage=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Linkage writes through the Store interface only, so it must behave the same on both stores."""
    if request.param == "sqlite":
        made: Store = SQLiteStore(str(tmp_path / "identity.db"), Settings())
    else:
        if not POSTGRES_DSN:
            pytest.skip("PostgreSQL linkage tests need GPBRIDGE_TEST_POSTGRES (a DSN); .ci/run sets it")
        from gpbridge.store.postgres import PostgresStore

        fresh = PostgresStore(POSTGRES_DSN)
        fresh.drop_all()
        fresh.close()
        made = PostgresStore(POSTGRES_DSN)
    yield made
    made.close()


def person(pid: str, given: str, family: str, birth: str, postcode: str = "LS6 3AB", *, nhs: str | None = None,
           verified: bool = False, gender: str = "female", line: str = "12 Church Lane",
           old_family: str | None = None) -> dict[str, Any]:
    names: list[dict[str, Any]] = [{"use": "official", "family": family, "given": [given]}]
    if old_family:
        names.append({"use": "old", "family": old_family, "given": [given]})
    out: dict[str, Any] = {"resourceType": "Patient", "id": pid, "name": names, "gender": gender, "birthDate": birth,
                           "address": [{"use": "home", "line": [line], "postalCode": postcode}]}
    if nhs:
        out["identifier"] = [{"system": NHS, "value": nhs, **({"extension": VERIFIED} if verified else {})}]
    return out


def ingest(store: Store, patient: dict[str, Any]) -> LinkOutcome:
    """What the wired write path does (``interactions.update`` calls ``link_patient``): link, then
    store the Patient with its new link, in one session."""
    with store.session() as session:
        outcome = link_patient(session, patient, settings=store.settings)
        # the hook is called directly above, to see its outcome: switched off for the write itself
        ops.update(session, "Patient", patient["id"], patient, settings=UNLINKED)
    return outcome


def read(store: Store, pid: str) -> dict[str, Any]:
    return dict(orjson.loads(store.read("Patient", pid).content or b"{}"))


def open_tasks(store: Store) -> list[dict[str, Any]]:
    query = parse_search("Task", [("status", "requested")])
    return [orjson.loads(s.content or b"{}") for s in store.search(query).matches]


def test_first_record_makes_a_person_that_links_back(store: Store) -> None:
    out = ingest(store, person("a", "Margaret", "Smith", "1950-03-04", nhs="9434765919", verified=True))
    assert out.action == "new"
    golden = read(store, out.person)
    assert gold.is_golden(golden) and gold.members(golden) == ["a"]
    assert gold.person_of_source(read(store, "a")) == out.person
    assert read(store, "a")["link"] == [{"other": {"reference": f"Patient/{out.person}"}, "type": "seealso"}]


@pytest.mark.parametrize(
    "variant",
    [
        person("b", "Margret", "Smith", "1950-03-04"),  # typo in the given name
        person("b", "Peggy", "Smith", "1950-03-04"),  # nickname
        person("b", "Margaret", "Smtih", "1950-03-04"),  # transposed letters in the family name
        person("b", "Margaret", "Smith", "1950-04-03"),  # day and month transposed
        person("b", "Margaret", "Smith", "1905-03-04"),  # mistyped year digit
        person("b", "Margaret", "Jones", "1950-03-04", postcode="WF1 2AB", old_family="Smith"),  # married, moved
        person("b", "Margaret", "Smith", "1950-03-04", postcode="LS6 3AD", nhs="9434765919"),  # unverified number
    ],
    ids=["typo", "nickname", "family-swap", "dob-day-month", "dob-digit", "married-name", "unverified-nhs"],
)
def test_variants_of_one_person_link(store: Store, variant: dict[str, Any]) -> None:
    first = ingest(store, person("a", "Margaret", "Smith", "1950-03-04", nhs="9434765919", verified=True))
    out = ingest(store, variant)
    assert out.action == "linked", out.reason
    assert out.person == first.person
    assert sorted(gold.members(read(store, first.person))) == ["a", "b"]


def test_different_people_do_not_link(store: Store) -> None:
    first = ingest(store, person("a", "Margaret", "Smith", "1950-03-04"))
    twin = ingest(store, person("b", "Elizabeth", "Smith", "1950-03-04", postcode="LS6 3AB"))
    stranger = ingest(store, person("c", "John", "Brown", "1971-09-12", postcode="WF1 2AB", gender="male"))
    assert first.person != twin.person and stranger.action == "new"
    assert twin.action == "review"  # a twin is queued for a human, never auto-linked


def test_same_person_with_a_different_verified_number_is_flagged_not_merged(store: Store) -> None:
    first = ingest(store, person("a", "Margaret", "Smith", "1950-03-04", nhs="9434765919", verified=True))
    out = ingest(store, person("b", "Margaret", "Smith", "1950-03-04", nhs="4010232137", verified=True))
    assert out.action == "conflict" and out.person != first.person and out.candidate == first.person
    task = open_tasks(store)[0]
    assert task["code"]["coding"][0]["code"] == "nhs-number-conflict"
    assert task["for"]["reference"] == "Patient/b" and task["focus"]["reference"] == f"Patient/{first.person}"
    assert gold.members(read(store, first.person)) == ["a"]


def test_one_number_on_clearly_different_people_is_flagged(store: Store) -> None:
    first = ingest(store, person("a", "Margaret", "Smith", "1950-03-04", nhs="9434765919", verified=True))
    out = ingest(store, person("b", "Peter", "Green", "1981-11-30", postcode="WF1 2AB", nhs="9434765919",
                               verified=True, gender="male"))
    assert out.action == "conflict" and out.person != first.person
    assert "clearly different" in out.reason
    assert open_tasks(store)[0]["code"]["coding"][0]["code"] == "nhs-number-conflict"


def test_an_update_keeps_the_link_and_teaches_the_person(store: Store) -> None:
    first = ingest(store, person("a", "Margaret", "Smith", "1950-03-04"))
    moved = person("a", "Margaret", "Smith", "1950-03-04", postcode="WF1 2AB", line="3 Mill Lane")
    out = ingest(store, moved)
    assert out.action == "linked" and out.person == first.person
    postcodes = {a["postalCode"] for a in read(store, first.person)["address"]}
    assert postcodes == {"LS6 3AB", "WF1 2AB"}  # old address kept: a later record from it still matches


def _review_case(store: Store) -> tuple[LinkOutcome, LinkOutcome, dict[str, Any]]:
    first = ingest(store, person("a", "Margaret", "Smith", "1950-03-04"))
    # Same names, a date of birth one digit out, another address, no NHS number: a human should decide.
    second = ingest(store, person("b", "Margaret", "Smith", "1950-03-05", postcode="WF1 2AB", line="3 Mill Lane"))
    assert second.action == "review", second.reason
    (task,) = open_tasks(store)
    return first, second, task


def test_review_item_shows_what_a_reviewer_needs(store: Store) -> None:
    first, second, task = _review_case(store)
    inputs = {i["type"]["text"]: i for i in task["input"]}
    assert 0.3 <= inputs["match-probability"]["valueDecimal"] < 0.95
    assert "given=exact" in inputs["comparison"]["valueString"]
    assert "location=different" in inputs["comparison"]["valueString"]
    assert inputs["source-person"]["valueReference"]["reference"] == f"Patient/{second.person}"


def test_accept_merges_and_undo_restores_with_history(store: Store) -> None:
    first, second, task = _review_case(store)
    with store.session() as session:
        done = review.accept(session, store.settings, task["id"], reviewer="dr-who", note="same person, moved")
    assert done["status"] == "completed" and done["owner"]["display"] == "dr-who"
    survivor, retired = read(store, first.person), read(store, second.person)
    assert sorted(gold.members(survivor)) == ["a", "b"]
    assert retired["active"] is False
    assert retired["link"] == [{"other": {"reference": f"Patient/{first.person}"}, "type": "replaced-by"}]
    assert gold.person_of_source(read(store, "b")) == first.person

    rebuilt = rebuild_links(store)  # the reviewer's decision survives a rebuild
    assert (rebuilt.goldens_written, rebuilt.sources_repointed, rebuilt.reviews_opened) == (0, 0, 0)
    assert sorted(gold.members(read(store, first.person))) == ["a", "b"]

    with store.session() as session:
        undone = review.undo(store, session, store.settings, task["id"], reviewer="dr-who", note="different people")
    assert undone["status"] == "cancelled"
    assert gold.members(read(store, first.person)) == ["a"]
    restored = read(store, second.person)
    assert restored["active"] is True and gold.members(restored) == ["b"]
    assert gold.person_of_source(read(store, "b")) == second.person
    # nothing was lost: each step is a version
    versions, _ = store.history("Patient", second.person)
    assert [v.version for v in versions] == [3, 2, 1]
    assert orjson.loads(store.vread("Patient", second.person, 2).content or b"{}")["active"] is False
    assert orjson.loads(store.vread("Patient", "b", 2).content or b"{}")["link"][0]["other"]["reference"] == \
        f"Patient/{first.person}"


def test_reject_keeps_people_apart_and_a_decided_item_cannot_be_decided_again(store: Store) -> None:
    from gpbridge.fhir.outcome import FhirError

    first, second, task = _review_case(store)
    with store.session() as session:
        review.reject(session, store.settings, task["id"], reviewer="dr-who")
    assert gold.members(read(store, first.person)) == ["a"]
    with pytest.raises(FhirError) as raised, store.session() as session:
        review.accept(session, store.settings, task["id"], reviewer="dr-who")
    assert raised.value.status == 409
    assert rebuild_links(store).reviews_opened == 0  # the rebuild honours the rejection


def test_rebuild_relinks_and_is_stable(store: Store) -> None:
    records = [
        person("a", "Margaret", "Smith", "1950-03-04", nhs="9434765919", verified=True),
        person("b", "Peggy", "Smith", "1950-03-04"),
        person("c", "John", "Brown", "1971-09-12", postcode="WF1 2AB", gender="male"),
        person("d", "Jon", "Brown", "1971-09-12", postcode="WF1 2AB", gender="male"),
    ]
    with store.session() as session:  # stored before linkage existed: no links yet
        for r in records:
            ops.update(session, "Patient", r["id"], r, settings=store.settings)
    summary = rebuild_links(store)
    assert (summary.records, summary.people) == (4, 2)
    person_of = {r["id"]: gold.person_of_source(read(store, r["id"])) for r in records}
    assert person_of["a"] == person_of["b"] != person_of["c"] == person_of["d"]
    again = rebuild_links(store)
    assert (again.goldens_written, again.sources_repointed, again.people_retired) == (0, 0, 0)
    assert {r["id"]: gold.person_of_source(read(store, r["id"])) for r in records} == person_of


def test_match_operation_scores_candidates(store: Store) -> None:
    first = ingest(store, person("a", "Margaret", "Smith", "1950-03-04", nhs="9434765919", verified=True))
    ingest(store, person("c", "John", "Brown", "1971-09-12", postcode="WF1 2AB", gender="male"))
    query = person("q", "Maggie", "Smith", "1950-03-04")
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": query},
                                                               {"name": "count", "valueInteger": 5}]}
    patient, only_certain, count = parse_match_parameters(parameters)
    bundle = match(store, patient, IdentityConfig(), only_certain=only_certain, count=count)
    assert [e["resource"]["id"] for e in bundle["entry"]] == [first.person]
    search = bundle["entry"][0]["search"]
    assert search["score"] > 0.95 and search["extension"] == [{"url": MATCH_GRADE, "valueCode": "certain"}]
    weak = person("q", "Margaret", "Smith", "1950-03-04", postcode="WF9 9ZZ", line="1 Elsewhere")
    weak["birthDate"] = "1950-03-05"
    certain_only = match(store, weak, IdentityConfig(), only_certain=True)
    assert all(e["search"]["extension"][0]["valueCode"] == "certain" for e in certain_only["entry"])


def test_match_rejects_bad_parameters() -> None:
    from gpbridge.fhir.outcome import FhirError

    for bad in ({"resourceType": "Patient"}, {"resourceType": "Parameters", "parameter": []},
                {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 0}]}):
        with pytest.raises(FhirError):
            parse_match_parameters(bad)


def test_golden_patients_are_not_linked_again(store: Store) -> None:
    out = ingest(store, person("a", "Margaret", "Smith", "1950-03-04"))
    with store.session() as session:
        assert link_patient(session, read(store, out.person), settings=store.settings).action == "skipped"


def test_linkage_can_be_switched_off(store: Store) -> None:
    settings = Settings(identity_linkage=False)
    with store.session() as session:
        assert link_patient(session, person("a", "A", "B", "1990-01-01"), settings=settings).action == "skipped"


def test_golden_patients_and_review_tasks_pass_validation(store: Store) -> None:
    """They are written through the session (see linkage.write_golden), so check they would pass."""
    first, second, task = _review_case(store)
    ingest(store, person("c", "Margaret", "Smith", "1950-03-04", old_family="Jones", nhs="9434765919", verified=True))
    for resource in (read(store, first.person), read(store, second.person), task):
        ops.validate_for_write(resource, Settings(validation="strict"))


def test_two_records_of_one_person_written_at_once_make_one_person(store: Store) -> None:
    # The first session links (no one found: a new person) and holds its transaction open; the
    # second, started meanwhile, must wait for it and then join that person, not make a twin.
    import threading
    import time

    linked = threading.Event()
    outcomes: dict[str, LinkOutcome] = {}
    finished: dict[str, float] = {}

    def first() -> None:
        with store.session() as session:
            outcomes["a"] = link_patient(session, person("a", "Margaret", "Smith", "1950-03-04"),
                                         settings=store.settings)
            ops.update(session, "Patient", "a", person("a", "Margaret", "Smith", "1950-03-04"), settings=UNLINKED)
            linked.set()
            time.sleep(0.5)  # the window in which a second writer would miss this person
        finished["a"] = time.monotonic()

    def second() -> None:
        assert linked.wait(10)
        outcomes["b"] = ingest(store, person("b", "Margaret", "Smith", "1950-03-04", line="12 Church Ln"))
        finished["b"] = time.monotonic()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes["a"].action == "new"
    assert outcomes["b"].action == "linked" and outcomes["b"].person == outcomes["a"].person
    assert finished["b"] >= finished["a"]
    assert sorted(gold.members(read(store, outcomes["a"].person))) == ["a", "b"]
