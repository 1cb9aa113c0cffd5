"""The PDS-compatible API: every response validated against the PDS OpenAPI spec (see pds_fixtures),
the sandbox's example requests answered in the shapes and codes of its recorded responses, errors
with PDS's Spine codes, restricted patients, wildcard and fuzzy search, headers and audit."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from pds_fixtures import PdsClient, make_client, patient, seed

SPINE = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"
JANE = [("family", "Smith"), ("gender", "female"), ("birthdate", "eq2010-10-22")]


@pytest.fixture(scope="module")
def spec(shared_data: Path) -> Any:
    from pds_fixtures import load_spec

    return load_spec(shared_data)


def _mock(shared: Path, name: str) -> dict[str, Any]:
    data = json.loads((shared / "pds" / "sandbox-mocks" / name).read_text())
    return data["entry"][0]["resource"] if data.get("resourceType") == "Bundle" else data


def _stub(shared: Path, folder: str, name: str) -> dict[str, Any]:
    return json.loads((shared / "pds" / "karate-mock-stubs" / folder / name).read_text())


@pytest.fixture
def sandbox(tmp_path: Path, spec: Any, shared_data: Path) -> PdsClient:
    """A store holding the sandbox's patients, as a GP hub would hold them (full data)."""
    client, store, settings = make_client(tmp_path, spec)
    restricted = _mock(shared_data, "Sensitive_PatientSearch.json")
    # The store holds the restricted patient's full record; PDS withholds it on the way out.
    restricted["telecom"] = [{"system": "email", "value": "janet.smythe@example.com", "use": "home"},
                             {"system": "phone", "value": "01632960587", "use": "home"}]
    restricted["address"] = [{"use": "home", "line": ["1 Secret Lane"], "postalCode": "LS1 6AE"}]
    seed(store, settings, [
        _mock(shared_data, "Patient.json"),
        _mock(shared_data, "Patient-Jayne-Smyth.json"),
        _renumbered(_mock(shared_data, "PatientCompoundName.json"), COMPOUND),
        _mock(shared_data, "Minimal_Patient.json"),
        restricted,
    ])
    return client


# The sandbox's compound-name patient has NHS number 9000000015, which fails the Modulus 11 check
# (its check digit would be 7): PDS itself could hold no such number, so the copy gets a valid one.
COMPOUND = "4010232137"


def _renumbered(resource: dict[str, Any], number: str) -> dict[str, Any]:
    resource["id"] = number
    resource["identifier"][0]["value"] = number
    return resource


def paths(value: Any, prefix: str = "") -> set[str]:
    out = {prefix} if prefix else set()
    if isinstance(value, dict):
        for k, v in value.items():
            out |= paths(v, f"{prefix}.{k}")
    elif isinstance(value, list) and value:
        out |= paths(value[0], prefix + "[]")
    return out


def assert_same_outcome(ours: dict[str, Any], recorded: dict[str, Any]) -> None:
    """Same issue code, severity and Spine coding; diagnostics only where PDS has them."""
    mine, theirs = ours["issue"][0], recorded["issue"][0]
    assert mine["code"] == theirs["code"]
    assert mine["severity"] == theirs["severity"]
    assert mine["details"]["coding"][0] | {"display": ""} == theirs["details"]["coding"][0] | {"display": ""}
    assert ("diagnostics" in mine) == ("diagnostics" in theirs)


# -- sandbox scenarios: the recorded requests, the recorded shapes ------------------------------


def test_retrieve_patient_like_the_sandbox(sandbox: PdsClient, shared_data: Path) -> None:
    response = sandbox.get("/Patient/9000000009")
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    body, recorded = response.json(), _mock(shared_data, "Patient.json")
    assert paths(body) <= paths(recorded)  # nothing PDS would not send
    for key in ("id", "gender", "birthDate"):
        assert body[key] == recorded[key]
    assert body["name"][0]["family"] == "Smith" and body["name"][0]["use"] == "usual"
    assert body["generalPractitioner"][0]["identifier"]["value"] == "Y12345"
    assert {t["value"] for t in body["telecom"]} >= {"01632960587", "jane.smith@example.com"}


def test_restricted_patient_is_retrieved_without_location_data(sandbox: PdsClient, shared_data: Path) -> None:
    body = sandbox.get("/Patient/9000000025").json()
    recorded = _mock(shared_data, "Sensitive_Patient.json")
    for withheld in ("address", "telecom", "generalPractitioner", "contact"):
        assert withheld not in body and withheld not in recorded
    assert body["meta"]["security"][0]["code"] == "R"
    assert set(body) <= set(recorded)


def test_minimal_patient(sandbox: PdsClient, shared_data: Path) -> None:
    body = sandbox.get("/Patient/9000000033").json()
    assert body["id"] == "9000000033" and set(body) <= set(_mock(shared_data, "Minimal_Patient.json")) | {"name"}


def test_unknown_patient_is_resource_not_found(sandbox: PdsClient, shared_data: Path) -> None:
    response = sandbox.get("/Patient/9111231130")
    assert response.status_code == 404
    assert_same_outcome(response.json(), _stub(shared_data, "errorResponses", "RESOURCE_NOT_FOUND.json"))


def test_invalid_nhs_number_is_invalid_resource_id(sandbox: PdsClient, shared_data: Path) -> None:
    response = sandbox.get("/Patient/9000000000")
    assert response.status_code == 400
    assert_same_outcome(response.json(), _stub(shared_data, "errorResponses", "INVALID_RESOURCE_ID.json"))


def test_missing_request_id_is_missing_value(sandbox: PdsClient, shared_data: Path) -> None:
    response = sandbox.get("/Patient/9000000009", request_id=False)
    assert response.status_code == 400
    assert_same_outcome(response.json(), _stub(shared_data, "errorResponses", "MISSING_VALUE.json"))
    assert "X-Request-ID" in response.json()["issue"][0]["diagnostics"]


def test_invalid_request_id_is_invalid_value(sandbox: PdsClient, shared_data: Path) -> None:
    response = sandbox.get("/Patient/9000000009", headers={"X-Request-ID": "not-a-uuid"})
    assert response.status_code == 400
    assert_same_outcome(response.json(), _stub(shared_data, "errorResponses", "INVALID_VALUE.json"))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (JANE + [("email", "jane.smith@example.com"), ("phone", "01632960587")], ["9000000009"]),
        (JANE + [("email", "deb.trotter@example.com"), ("phone", "0121111111")], []),
        ([("family", "Sm*"), ("gender", "female"), ("birthdate", "eq2010-10-22")], ["9000000009", "9000000017"]),
        ([("family", "Sm*"), ("gender", "female"), ("birthdate", "eq2010-10-22"), ("email", "jane.smith@example.com"),
          ("phone", "01632960587")], ["9000000009"]),
        ([("family", "Sm*"), ("gender", "female"), ("birthdate", "eq2010-10-22"), ("email", "jane.smith@example.com"),
          ("phone", "01632960587"), ("_max-results", "1")], ["9000000009"]),
        ([("family", "Smith"), ("gender", "female"), ("birthdate", "ge2010-10-21"), ("birthdate", "le2010-10-23"),
          ("email", "jane.smith@example.com"), ("phone", "01632960587")], ["9000000009"]),
        ([("family", "Smith"), ("given", "Jane"), ("gender", "female"), ("birthdate", "eq2010-10-22"),
          ("email", "jane.smith@example.com"), ("phone", "01632960587"), ("_fuzzy-match", "true")], ["9000000009"]),
        # The sandbox's mock answers one record; real fuzzy matching also finds the homophone
        # Jayne Smyth (same date of birth), scored below the exact match.
        ([("family", "Smith"), ("given", "Jane"), ("gender", "female"), ("birthdate", "eq2010-10-22"),
          ("_fuzzy-match", "true")], ["9000000009", "9000000017"]),
        ([("family", "Smith"), ("given", "John Paul"), ("given", "James"), ("gender", "male"),
          ("birthdate", "eq2010-10-22"), ("email", "johnp.smith@example.com"), ("phone", "01632960587")],
         [COMPOUND]),
    ],
    ids=["phone-email", "phone-email-negative", "wildcard", "wildcard-phone-email", "max-results-1", "date-range",
         "fuzzy-phone-email", "fuzzy", "compound-name"],
)
def test_sandbox_search_scenarios(sandbox: PdsClient, shared_data: Path, params: list[tuple[str, str]],
                                  expected: list[str]) -> None:
    response = sandbox.get("/Patient", params)
    assert response.status_code == 200
    body = response.json()
    assert [e["resource"]["id"] for e in body["entry"]] == expected
    assert body["total"] == len(expected)
    recorded = json.loads((shared_data / "pds" / "sandbox-mocks" / "PatientSearch.json").read_text())
    assert set(body) == set(recorded)
    for entry in body["entry"]:
        assert set(entry) == set(recorded["entry"][0])
        assert paths(entry["resource"]) <= paths(recorded["entry"][0]["resource"])
        # search returns usual/nickname/temp names and the home address only
        assert all(n["use"] in ("usual", "nickname", "temp") for n in entry["resource"]["name"])


def test_restricted_patient_search_omits_location(sandbox: PdsClient, shared_data: Path) -> None:
    params = [("family", "Smythe"), ("given", "Janet"), ("gender", "female"), ("birthdate", "eq2005-06-16"),
              ("email", "janet.smythe@example.com"), ("phone", "01632960587")]
    body = sandbox.get("/Patient", params).json()
    assert [e["resource"]["id"] for e in body["entry"]] == ["9000000025"]
    resource = body["entry"][0]["resource"]
    recorded = _mock(shared_data, "Sensitive_PatientSearch.json")
    for withheld in ("address", "telecom", "generalPractitioner"):
        assert withheld not in resource and withheld not in recorded
    # naming a postcode must not reveal that a restricted patient lives there
    located = sandbox.get("/Patient", params[:4] + [("address-postalcode", "LS1 6AE")]).json()
    assert located["total"] == 0


@pytest.mark.parametrize(
    ("params", "code", "status"),
    [
        ([("family", "Sm*"), ("gender", "female"), ("invalidParam", "123"), ("birthdate", "eq2010-10-22")],
         "ADDITIONAL_PROPERTIES", 400),
        ([("email", "j.smith@example.com"), ("phone", "0163")], "MISSING_VALUE", 400),
        ([("family", "Smith"), ("birthdate", "22-10-2010")], "INVALID_VALUE", 400),
        ([("family", "Smith"), ("birthdate", "eq2010-10-22"), ("death-date", "2010")], "INVALID_VALUE", 400),
        ([("family", "Smith"), ("birthdate", "eq2010-10-22"), ("gender", "mal")], "INVALID_VALUE", 400),
        ([("family", "Smith"), ("birthdate", "eq2010-10-22"), ("_max-results", "51")], "INVALID_VALUE", 400),
        ([("family", "Smith"), ("birthdate", "eq2010-10-22"), ("_max-results", "0")], "INVALID_VALUE", 400),
        ([("given", "Jane"), ("birthdate", "eq2010-10-22")], "INVALID_SEARCH_DATA", 400),
        ([("family", "S*"), ("birthdate", "eq2010-10-22")], "INVALID_SEARCH_DATA", 400),
        ([("family", "Sm*"), ("given", "Jane"), ("birthdate", "eq2010-10-22"), ("_fuzzy-match", "true")],
         "INVALID_SEARCH_DATA", 400),
        ([("family", "Smith"), ("birthdate", "eq2010-10-22"), ("_fuzzy-match", "true")], "INVALID_SEARCH_DATA", 400),
        ([("family", "Smith"), ("birthdate", "eq2010-10-22"), ("address-postcode", "LS1"),
          ("address-postalcode", "LS1")], "INVALID_SEARCH_DATA", 400),
        ([("_fuzzy-match", "true")], "UNSUPPORTED_SERVICE", 400),
    ],
    ids=["unknown-param", "email-phone-only", "bad-date", "bad-death-date", "bad-gender", "max-51", "max-0",
         "no-family", "early-wildcard", "fuzzy-wildcard", "fuzzy-too-few", "two-postcodes", "nothing"],
)
def test_search_errors(sandbox: PdsClient, shared_data: Path, params: list[tuple[str, str]], code: str,
                       status: int) -> None:
    response = sandbox.get("/Patient", params)
    assert response.status_code == status
    issue = response.json()["issue"][0]
    assert issue["details"]["coding"][0]["system"] == SPINE
    assert issue["details"]["coding"][0]["code"] == code
    stub = shared_data / "pds" / "karate-mock-stubs" / "errorResponses" / f"{code}.json"
    if stub.exists():
        recorded = json.loads(stub.read_text())
        assert issue["code"] == recorded["issue"][0]["code"]
        assert issue["severity"] == recorded["issue"][0]["severity"]


# -- our own population: fuzzy, wildcards, history, scores, limits ------------------------------


@pytest.fixture
def town(tmp_path: Path, spec: Any) -> PdsClient:
    client, store, settings = make_client(tmp_path, spec)
    seed(store, settings, [
        {"resourceType": "Organization", "id": "practice-a", "name": "Practice A",
         "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "B86001"}]},
        patient("p1", "9434765919", "Margaret", "Smythe", "1950-03-04", postcode="LS6 3AB",
                generalPractitioner=[{"reference": "Organization/practice-a"}]),
        patient("p2", "9434765870", "Peggy", "Smith", "1950-03-04", postcode="LS6 3AB"),
        patient("p3", "4010232137", "Margaret", "Jones", "1950-03-04", postcode="LS7 1AA",
                name=[{"use": "official", "family": "Jones", "given": ["Margaret"]},
                      {"use": "old", "family": "Smith", "given": ["Margaret"]}]),
        patient("p4", "9000000009", "Thomas", "Adam", "1960-01-01", gender="male"),
        patient("p5", None, "No", "Number", "1950-03-04"),
    ])
    return client


def ids(response: Any) -> list[str]:
    return [e["resource"]["id"] for e in response.json()["entry"]]


def test_non_fuzzy_search_matches_current_names_only(town: PdsClient) -> None:
    assert ids(town.get("/Patient", [("family", "Smith"), ("birthdate", "1950-03-04")])) == ["9434765870"]


def test_history_search_finds_a_previous_surname_with_a_lower_score(town: PdsClient) -> None:
    body = town.get("/Patient", [("family", "Smith"), ("birthdate", "1950-03-04"), ("_history", "true")]).json()
    scores = {e["resource"]["id"]: e["search"]["score"] for e in body["entry"]}
    assert scores["9434765870"] == 1.0 and 0 < scores["4010232137"] < 1.0
    assert [e["search"]["score"] for e in body["entry"]] == sorted(scores.values(), reverse=True)
    # the current name is returned, not the historic one the search matched on
    hist = next(e for e in body["entry"] if e["resource"]["id"] == "4010232137")
    assert hist["resource"]["name"][0]["family"] == "Jones"


def test_fuzzy_search_matches_homophones_and_nicknames(town: PdsClient) -> None:
    body = town.get("/Patient", [("family", "Smith"), ("given", "Margaret"), ("birthdate", "eq1950-03-04"),
                                 ("_fuzzy-match", "true")]).json()
    found = {e["resource"]["id"]: e["search"]["score"] for e in body["entry"]}
    assert set(found) == {"9434765919", "9434765870", "4010232137"}  # Smythe, Peggy Smith, née Smith
    assert all(score < 1.0 for score in found.values())


def test_fuzzy_search_matches_transposed_names(town: PdsClient) -> None:
    assert ids(town.get("/Patient", [("family", "Thomas"), ("given", "Adam"), ("birthdate", "1960-01-01"),
                                     ("_fuzzy-match", "true")])) == ["9000000009"]


def test_wildcards_in_family_and_postcode(town: PdsClient) -> None:
    assert ids(town.get("/Patient", [("family", "Smy*"), ("birthdate", "1950-03-04")])) == ["9434765919"]
    found = ids(town.get("/Patient", [("family", "Sm*"), ("birthdate", "1950-03-04"), ("address-postalcode", "LS6*")]))
    assert set(found) == {"9434765919", "9434765870"}


def test_exact_match_excludes_partial_scores(town: PdsClient) -> None:
    params = [("family", "Sm*"), ("birthdate", "1950-03-04")]
    assert len(ids(town.get("/Patient", params))) == 2
    assert ids(town.get("/Patient", [("family", "Smith"), ("birthdate", "1950-03-04"), ("_history", "true"),
                                     ("_exact-match", "true")])) == ["9434765870"]


def test_general_practitioner_is_an_ods_code(town: PdsClient) -> None:
    params = [("family", "Smythe"), ("birthdate", "1950-03-04")]
    assert ids(town.get("/Patient", params + [("general-practitioner", "B86001")])) == ["9434765919"]
    assert ids(town.get("/Patient", params + [("general-practitioner", "Y00000")])) == []
    body = town.get("/Patient/9434765919").json()
    assert body["generalPractitioner"][0]["identifier"]["value"] == "B86001"


def test_too_many_matches(town: PdsClient, shared_data: Path) -> None:
    response = town.get("/Patient", [("family", "Sm*"), ("birthdate", "1950-03-04"), ("_max-results", "1")])
    assert response.status_code == 200
    assert_same_outcome(response.json(), _stub(shared_data, "searchResponses", "TOO_MANY_MATCHES.json"))


def test_birthdate_range(town: PdsClient) -> None:
    params = [("family", "Adam"), ("birthdate", "ge1959-12-31"), ("birthdate", "le1960-01-02")]
    assert ids(town.get("/Patient", params)) == ["9000000009"]
    assert ids(town.get("/Patient", [("family", "Adam"), ("birthdate", "ge1960-01-02")])) == []


def test_request_and_correlation_ids_are_echoed_and_audited(town: PdsClient) -> None:
    request_id, correlation = str(uuid.uuid4()), "trace-123"
    response = town.get("/Patient/9434765919", headers={"X-Request-ID": request_id, "X-Correlation-ID": correlation})
    assert response.headers["x-request-id"] == request_id
    assert response.headers["x-correlation-id"] == correlation
    record = town.audit.records[-1]
    assert (record.request_id, record.correlation_id, record.interaction) == (request_id, correlation, "read")
    assert record.resource_id == "9434765919"
    error = town.get("/Patient/9434765918", headers={"X-Request-ID": request_id})
    assert error.headers["x-request-id"] == request_id  # echoed on errors too


def test_access_denied_when_the_policy_says_no(town: PdsClient, shared_data: Path, monkeypatch: Any) -> None:
    from gpbridge.security import policy

    monkeypatch.setattr(policy, "_decide", lambda *a: policy.Decision(False, "no role allows this"))
    response = town.get("/Patient/9434765919")
    assert response.status_code == 401  # no credentials were sent: PDS's 401 ACCESS_DENIED
    assert_same_outcome(response.json(), _stub(shared_data, "errorResponses", "ACCESS_DENIED.json"))
    assert town.audit.records[-1].allowed is False


def test_invalidated_patient(tmp_path: Path, spec: Any, shared_data: Path) -> None:
    client, store, settings = make_client(tmp_path, spec)
    redacted = patient("gone", "9434765919", "Ann", "Other", "1970-01-01")
    redacted["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                      "code": "REDACTED"}]}
    seed(store, settings, [redacted])
    response = client.get("/Patient/9434765919")
    assert response.status_code == 404
    assert_same_outcome(response.json(), _stub(shared_data, "errorResponses", "INVALIDATED_RESOURCE.json"))
    assert client.get("/Patient", [("family", "Other"), ("birthdate", "1970-01-01")]).json()["total"] == 0


def test_rate_limit_is_too_many_requests(tmp_path: Path, spec: Any) -> None:
    # one request per 100 s: the first passes, the next within the test cannot
    client, store, settings = make_client(tmp_path, spec, pds_rate_limit=0.01)
    assert client.get("/Patient/9434765919").status_code == 404
    response = client.get("/Patient/9434765919")
    assert response.status_code == 429
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "TOO_MANY_REQUESTS"


def test_every_response_was_checked_against_the_spec(town: PdsClient) -> None:
    town.get("/Patient/9434765919")
    town.get("/Patient", [("family", "Smith"), ("birthdate", "1950-03-04")])
    assert town.validated == 2


def test_linked_sources_answer_as_one_person(tmp_path: Path, spec: Any) -> None:
    from gpbridge.store import interactions as ops

    client, store, settings = make_client(tmp_path, spec)
    gp_record = patient("gp-1", "9434765919", "Margaret", "Smith", "1950-03-04", postcode="LS6 3AB")
    hospital = patient("hosp-7", None, "Peggy", "Smith", "1950-03-04", postcode="LS6 3AB",
                       telecom=[{"system": "phone", "value": "0113 496 0000", "use": "home"}])
    hospital["identifier"] = [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}]
    for record in (gp_record, hospital):
        with store.session() as session:  # the write path links them (interactions' identity hook)
            ops.update(session, "Patient", record["id"], record, settings=settings)
    body = client.get("/Patient/9434765919").json()
    assert {n["given"][0] for n in body["name"]} == {"Margaret", "Peggy"}  # the person, not one source
    assert body["telecom"][0]["value"] == "0113 496 0000"
    found = client.get("/Patient", [("family", "Smith"), ("birthdate", "1950-03-04")]).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["9434765919"]  # one entry per person


def test_date_of_death_in_utc_and_searchable(tmp_path: Path, spec: Any) -> None:
    client, store, settings = make_client(tmp_path, spec)
    seed(store, settings, [patient("d1", "9434765919", "Ada", "Lovelace", "1915-12-10",
                                   deceasedDateTime="2020-06-01T10:00:00+01:00")])
    body = client.get("/Patient/9434765919").json()
    assert body["deceasedDateTime"] == "2020-06-01T09:00:00+00:00"  # PDS sends UTC
    params = [("family", "Lovelace"), ("birthdate", "1915-12-10")]
    assert ids(client.get("/Patient", params + [("death-date", "eq2020-06-01")])) == ["9434765919"]
    assert ids(client.get("/Patient", params + [("death-date", "le2019-01-01")])) == []
