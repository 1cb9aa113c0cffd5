"""Linkage on the write path, end to end: REST, a transaction Bundle and an HL7 v2 adapter all
reach the same person; reviews, conflicts, deletion, merge and unmerge keep history; lookups by
NHS number still see one source record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from gpbridge.adapters.hl7v2.importer import import_hl7v2
from gpbridge.api.app import create_app
from gpbridge.config import Settings
from gpbridge.identity import golden as gold
from gpbridge.records.patient_record import find_patients
from gpbridge.store import open_store
from gpbridge.store.base import Store

NHS = "https://fhir.nhs.uk/Id/nhs-number"
NUMBER = "9434765919"
FHIR = "application/fhir+json"
VERIFIED = [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
             "valueCodeableConcept": {"coding": [{
                 "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
                 "code": "01"}]}}]
POSTGRES_DSN = Settings.from_env().test_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(database=f"sqlite:///{tmp_path}/linked.db", insecure_dev=True)
    if not POSTGRES_DSN:
        pytest.skip("PostgreSQL tests need GPBRIDGE_TEST_POSTGRES (a DSN); .ci/run sets it")
    from gpbridge.store.postgres import PostgresStore

    fresh = PostgresStore(POSTGRES_DSN)
    fresh.drop_all()
    fresh.close()
    return Settings(database=POSTGRES_DSN, insecure_dev=True)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    store = open_store(settings.database, settings)
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as http:
        yield http
    store.close()


def store_of(client: TestClient) -> Store:
    store: Store = client.app.state.api.store  # type: ignore[attr-defined]
    return store


def margaret(given: str = "Margaret", birth: str = "1950-03-04", *, nhs: str | None = NUMBER,
             verified: bool = True, postcode: str = "LS6 3AB", family: str = "Smith",
             gender: str = "female") -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient", "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender, "birthDate": birth,
        "address": [{"use": "home", "line": ["12 Church Lane"], "postalCode": postcode}]}
    if nhs:
        patient["identifier"] = [{"system": NHS, "value": nhs, **({"extension": VERIFIED} if verified else {})}]
    return patient


def create(client: TestClient, patient: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = client.post("/fhir/Patient", content=orjson.dumps(patient),
                           headers={"content-type": FHIR, "prefer": "return=representation", **headers})
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def read(client: TestClient, reference: str) -> dict[str, Any]:
    response = client.get(f"/fhir/{reference}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def person_of(client: TestClient, patient_id: str) -> str | None:
    return gold.person_of_source(read(client, f"Patient/{patient_id}"))


def open_reviews(client: TestClient) -> list[dict[str, Any]]:
    queue = client.get("/identity/review").json()
    return [e["resource"] for e in queue.get("entry", ()) if e["search"]["mode"] == "match"]


def adt_a28(control_id: str, mrn: str, family: str, given: str, birth: str, sex: str) -> bytes:
    """An HL7 v2 "add person" without an NHS number: only the hospital's own number (MRN)."""
    segments = [
        f"MSH|^~\\&|PAS|RR8|GPBRIDGE|GPB|20240101120000||ADT^A28|{control_id}|P|2.4",
        "EVN|A28|20240101120000",
        f"PID|1||{mrn}^^^RR8^MR||{family}^{given}^^^MRS^^L||{birth}|{sex}|||12 Church Lane^^Leeds^^LS6 3AB^GBR^H",
    ]
    return ("\r".join(segments) + "\r").encode()


def test_one_person_from_rest_a_transaction_and_hl7v2(client: TestClient, settings: Settings) -> None:
    rest = create(client, margaret())
    person = person_of(client, rest["id"])
    assert person is not None

    # a transaction Bundle from another system: a nickname and no NHS number
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": "urn:uuid:7a0c1c7e-2b1e-4d55-8d7e-5f6f0c6a9b01",
        "resource": margaret("Peggy", nhs=None), "request": {"method": "POST", "url": "Patient"}}]}
    response = client.post("/fhir", content=orjson.dumps(bundle), headers={"content-type": FHIR})
    assert response.status_code == 200, response.text
    from_bundle = response.json()["entry"][0]["response"]["location"].split("/")[1]
    assert person_of(client, from_bundle) == person

    # an HL7 v2 ADT^A28 through the adapter (its own transaction)
    result = import_hl7v2(store_of(client), settings, adt_a28("A1", "H777", "SMITH", "MARGARET", "19500304", "F"))
    assert result.ok, result.error
    from_hl7 = client.get("/fhir/Patient", params={"identifier": "H777"}).json()["entry"][0]["resource"]
    assert gold.person_of_source(from_hl7) == person

    golden = read(client, f"Patient/{person}")
    assert gold.is_golden(golden)
    assert set(gold.members(golden)) == {rest["id"], from_bundle, from_hl7["id"]}
    assert {n["given"][0] for n in golden["name"]} == {"Margaret", "Peggy", "MARGARET"}
    assert open_reviews(client) == []

    # the national number still finds exactly one Patient: conditional create and references work
    found = client.get("/fhir/Patient", params={"identifier": f"{NHS}|{NUMBER}"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [rest["id"]]
    again = client.post("/fhir/Patient", content=orjson.dumps(margaret()),
                        headers={"content-type": FHIR, "if-none-exist": f"identifier={NHS}|{NUMBER}"})
    assert again.status_code == 200 and again.json()["id"] == rest["id"]
    conditional = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {"resourceType": "Flag", "status": "active", "code": {"text": "hearing loop"},
                     "subject": {"reference": f"Patient?identifier={NHS}|{NUMBER}"}},
        "request": {"method": "POST", "url": "Flag"}}]}
    response = client.post("/fhir", content=orjson.dumps(conditional), headers={"content-type": FHIR})
    assert response.status_code == 200, response.text
    # lookups by NHS number see the sources and, after them, the person
    assert [p["id"] for p in find_patients(store_of(client), NUMBER)] == [rest["id"], person]


def test_a_typo_goes_to_review_and_a_clashing_number_is_flagged(client: TestClient) -> None:
    first = create(client, margaret())
    person = person_of(client, first["id"])
    # one digit of the date of birth and the postcode differ, no NHS number: perhaps her, perhaps not
    typo = create(client, margaret(birth="1950-03-05", nhs=None, postcode="WF1 2AB"))
    assert person_of(client, typo["id"]) not in (None, person)
    (review,) = open_reviews(client)
    assert review["for"]["reference"] == f"Patient/{typo['id']}"
    assert review["focus"]["reference"] == f"Patient/{person}"

    # the same verified number on clearly someone else: flagged, never merged
    other = create(client, margaret("John", "1980-01-01", family="Brown", gender="male", postcode="M1 1AA"))
    assert person_of(client, other["id"]) not in (None, person)
    conflicts = [t for t in open_reviews(client) if t["code"]["coding"][0]["code"] == "nhs-number-conflict"]
    assert [t["for"]["reference"] for t in conflicts] == [f"Patient/{other['id']}"]
    assert conflicts[0]["priority"] == "urgent"
    assert gold.members(read(client, f"Patient/{person}")) == [first["id"]]


def test_update_delete_merge_and_unmerge_keep_history(client: TestClient) -> None:
    first = create(client, margaret())
    person = str(person_of(client, first["id"]))
    second = create(client, margaret("Peggy", nhs=None))
    assert person_of(client, second["id"]) == person

    # an update of a linked source: the person learns the new name, the source keeps its link
    changed = {**read(client, f"Patient/{second['id']}"), "name": [{"family": "Smith", "given": ["Meg"]}]}
    changed.pop("link")  # a client that drops the managed link does not unlink the record
    response = client.put(f"/fhir/Patient/{second['id']}", content=orjson.dumps(changed),
                          headers={"content-type": FHIR})
    assert response.status_code == 200, response.text
    assert person_of(client, second["id"]) == person
    assert "Meg" in {n["given"][0] for n in read(client, f"Patient/{person}")["name"]}

    # deleting a source: the person forgets it in a new version; history still has it
    assert client.delete(f"/fhir/Patient/{second['id']}").status_code in (200, 204)
    assert gold.members(read(client, f"Patient/{person}")) == [first["id"]]
    history = client.get(f"/fhir/Patient/{person}/_history").json()
    assert any(second["id"] in gold.members(e["resource"]) for e in history["entry"] if "resource" in e)

    # a review accepted merges the people; undoing it restores both, each step a new version
    typo = create(client, margaret(birth="1950-03-05", nhs=None, postcode="WF1 2AB"))
    other_person = str(person_of(client, typo["id"]))
    (task,) = open_reviews(client)
    assert client.post(f"/identity/review/{task['id']}/accept").status_code == 200
    assert person_of(client, typo["id"]) == person
    retired = read(client, f"Patient/{other_person}")
    assert retired["active"] is False and gold.replaced_by(retired) == person
    assert client.post(f"/identity/review/{task['id']}/undo").status_code == 200
    assert person_of(client, typo["id"]) == other_person
    assert read(client, f"Patient/{other_person}")["active"] is True
    assert gold.members(read(client, f"Patient/{person}")) == [first["id"]]
    versions = client.get(f"/fhir/Patient/{typo['id']}/_history").json()["entry"]
    assert [gold.person_of_source(e["resource"]) for e in reversed(versions)] == [other_person, person, other_person]


def test_a_rolled_back_write_leaves_no_person_behind(client: TestClient) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": margaret(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation"}, "request": {"method": "POST", "url": "Observation"}}]}
    response = client.post("/fhir", content=orjson.dumps(bundle), headers={"content-type": FHIR})
    assert response.status_code >= 400  # the Observation is invalid: nothing is stored
    assert client.get("/fhir/Patient", params={"_summary": "count"}).json()["total"] == 0


def test_linkage_switched_off_writes_no_person(tmp_path: Path) -> None:
    settings = Settings(database=f"sqlite:///{tmp_path}/off.db", insecure_dev=True, identity_linkage=False)
    store = open_store(settings.database, settings)
    with TestClient(create_app(settings, store)) as http:
        created = create(http, margaret())
        assert "link" not in created
        assert http.get("/fhir/Patient", params={"_summary": "count"}).json()["total"] == 1
    store.close()


def test_a_crowd_sharing_every_key_stops_growing_its_blocks(tmp_path: Path) -> None:
    """Placeholder demographics on many people: once a search comes back full, newcomers are not
    filed under the crowd's keys, so each write's candidate search stays bounded."""
    from gpbridge.identity.blocking import blocking_keys
    from gpbridge.identity.linkage import MAX_CANDIDATES
    from gpbridge.identity.profile import profile_of
    from gpbridge.search.parse import parse_search
    from gpbridge.store import interactions as ops
    from nhs_helpers import nhs

    settings = Settings(database=f"sqlite:///{tmp_path}/crowd.db")
    store = open_store(settings.database, settings)
    crowd = MAX_CANDIDATES + 15
    for i in range(crowd):  # the same name, birth date and address; each their own NHS number
        with store.session() as session:
            ops.create(session, margaret(nhs=nhs(i), verified=False), settings=settings)
    key = next(k for k in blocking_keys(profile_of(margaret(nhs=None))) if k.startswith("BG"))
    query = parse_search("Patient", [("identifier", f"{gold.BLOCKING_KEY_SYSTEM}|{key}"), ("_summary", "count")])
    filed = store.search(query).total
    assert filed is not None and MAX_CANDIDATES <= filed <= MAX_CANDIDATES + 1
    people = store.search(parse_search("Patient", [("_tag", f"{gold.IDENTITY_SYSTEM}|golden"),
                                                   ("_summary", "count")])).total
    assert people == crowd  # different numbers, so different people: none merged
    from gpbridge.identity.rebuild import rebuild_links

    summary = rebuild_links(store, settings=settings)  # a batch relink keeps the crowd out too
    assert summary.people == crowd and summary.goldens_written == 0
    assert store.search(query).total == filed
    store.close()
