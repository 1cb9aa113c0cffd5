"""Transaction and batch Bundles on a real store (https://hl7.org/fhir/R4/http.html#transaction)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.store.base import Store
from gpbridge.store.transaction import process_bundle
from identity_helpers import source_patients
from nhs_helpers import nhs

SETTINGS = Settings(insecure_dev=True)
BASE = "http://test/fhir"
NHS = "https://fhir.nhs.uk/Id/nhs-number"



def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put(resource: dict[str, Any], url: str, **request: Any) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "PUT", "url": url, **request}}


def patient(nhs: str = "9000000009", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": NHS, "value": nhs}], **extra}


def observation(subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "271649006"}]},
        "subject": {"reference": subject},
        **extra,
    }


def process(store: Store, b: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(process_bundle(store, b, settings=SETTINGS, base_url=BASE, **kw)))


def read(store: Store, ref: str) -> dict[str, Any]:
    type_, id_ = ref.split("/")[:2]
    return orjson.loads(store.read(type_, id_).content)


def test_transaction_rewrites_urn_uuid_references_everywhere(store: Store) -> None:
    pid = "urn:uuid:6b9a4d7e-0f43-4c5e-9c1a-2f0f4b1e7a10"
    obs = observation(
        pid,
        performer=[{"reference": pid}],
        extension=[{"url": "http://example.org/x", "valueReference": {"reference": pid}},
                   {"url": "http://example.org/provenance", "valueReference": {"reference": "#prov"}}],  # dom-3
        contained=[
            {
                "resourceType": "Provenance",
                "target": [{"reference": pid}],
                "recorded": "2024-01-01T00:00:00Z",
                "agent": [{"who": {"reference": pid}}],
                "id": "prov",
            }
        ],
    )
    out = process(store, bundle("transaction", post(obs, "urn:uuid:obs"), post(patient(), pid)))
    assert out["type"] == "transaction-response"
    obs_resp, pat_resp = (e["response"] for e in out["entry"])  # response order = request order
    assert obs_resp["status"] == pat_resp["status"] == "201 Created"
    pat_ref = "/".join(pat_resp["location"].split("/")[:2])
    assert pat_resp["location"].endswith("/_history/1") and pat_resp["etag"] == 'W/"1"'
    assert pat_resp["lastModified"]
    stored = read(store, obs_resp["location"])
    assert stored["subject"]["reference"] == pat_ref
    assert stored["performer"][0]["reference"] == pat_ref
    assert stored["extension"][0]["valueReference"]["reference"] == pat_ref
    assert stored["contained"][0]["target"][0]["reference"] == pat_ref
    assert stored["contained"][0]["agent"][0]["who"]["reference"] == pat_ref


def test_a_transactions_versions_share_one_last_updated(store: Store) -> None:
    """One commit, one instant: every entry's lastUpdated (response, meta, history) is the same,
    and a later transaction's is later."""
    entries = [post(patient(), "urn:uuid:p"), post(observation("urn:uuid:p")), post(observation("urn:uuid:p"))]
    first = process(store, bundle("transaction", *entries))["entry"]
    second = process(store, bundle("transaction", post({"resourceType": "Group", "type": "person", "actual": True})))["entry"]
    instants = {e["response"]["lastModified"] for e in first}
    assert len(instants) == 1
    assert {read(store, e["response"]["location"])["meta"]["lastUpdated"] for e in first} == instants
    assert second[0]["response"]["lastModified"] > instants.pop()


def test_failing_entry_rolls_back_everything(store: Store) -> None:
    process(store, bundle("transaction", put(patient(id="keep"), "Patient/keep")))
    bad = bundle(
        "transaction",
        put(patient(id="keep", gender="male"), "Patient/keep"),
        post(patient(nhs(1))),
        post({"resourceType": "Patient", "bogusElement": 1}),
        post(patient(nhs(2))),
    )
    with pytest.raises(FhirError) as err:
        process(store, bad)
    assert err.value.status == 400
    assert any(e.startswith("Bundle.entry[2]") for i in err.value.issues for e in i.expression)
    assert source_patients(store) == 1
    assert store.read("Patient", "keep").version == 1
    assert "gender" not in read(store, "Patient/keep")


def test_processing_order_delete_post_put_get(store: Store) -> None:
    process(store, bundle("transaction", put(patient(id="old"), "Patient/old")))
    out = process(
        store,
        bundle(
            "transaction",
            {"request": {"method": "GET", "url": "Patient/new"}},
            put(patient(nhs(5), id="new"), "Patient/new"),
            {"request": {"method": "DELETE", "url": "Patient/old"}},
        ),
    )
    get, put_resp, delete = out["entry"]
    assert delete["response"]["status"] == "204 No Content"
    assert put_resp["response"]["status"] == "201 Created"
    assert get["response"]["status"] == "200 OK" and get["resource"]["id"] == "new"


def test_conditional_reference_resolved_by_search(store: Store) -> None:
    process(store, bundle("transaction", put(patient("9000000009", id="p9"), "Patient/p9")))
    out = process(store, bundle("transaction", post(observation(f"Patient?identifier={NHS}|9000000009"))))
    assert read(store, out["entry"][0]["response"]["location"])["subject"]["reference"] == "Patient/p9"


def test_conditional_reference_to_patient_created_earlier_in_bundle(store: Store) -> None:
    b = bundle("transaction", post(patient(nhs(111))), post(observation(f"Patient?identifier={NHS}|{nhs(111)}")))
    out = process(store, b)
    pat = "/".join(out["entry"][0]["response"]["location"].split("/")[:2])
    assert read(store, out["entry"][1]["response"]["location"])["subject"]["reference"] == pat


@pytest.mark.parametrize(("existing", "status"), [(0, 422), (2, 412)])
def test_conditional_reference_needs_exactly_one_match(store: Store, existing: int, status: int) -> None:
    for n in range(existing):
        process(store, bundle("transaction", put(patient(nhs(42), id=f"x{n}"), f"Patient/x{n}")))
    with pytest.raises(FhirError) as err:
        process(store, bundle("transaction", post(observation(f"Patient?identifier={NHS}|{nhs(42)}"))))
    assert err.value.status == status
    assert store.count("Observation") == 0


def test_unresolved_urn_uuid_is_rejected(store: Store) -> None:
    with pytest.raises(FhirError) as err:
        process(store, bundle("transaction", post(observation("urn:uuid:nowhere"))))
    assert err.value.status == 400


def test_if_none_exist_in_transaction_maps_full_url_to_existing(store: Store) -> None:
    process(store, bundle("transaction", put(patient(nhs(77), id="p77"), "Patient/p77")))
    pid = "urn:uuid:11111111-2222-3333-4444-555555555555"
    out = process(
        store,
        bundle(
            "transaction",
            post(patient(nhs(77)), pid, ifNoneExist=f"identifier={NHS}|{nhs(77)}"),
            post(observation(pid)),
        ),
    )
    assert out["entry"][0]["response"]["status"] == "200 OK"
    assert out["entry"][0]["response"]["location"] == "Patient/p77/_history/1"
    assert read(store, out["entry"][1]["response"]["location"])["subject"]["reference"] == "Patient/p77"
    assert source_patients(store) == 1


def test_conditional_put_in_transaction(store: Store) -> None:
    pid = "urn:uuid:aaaaaaaa-2222-3333-4444-555555555555"
    b = bundle(
        "transaction",
        {
            "fullUrl": pid,
            "resource": patient(nhs(88)),
            "request": {"method": "PUT", "url": f"Patient?identifier={NHS}|{nhs(88)}"},
        },
        post(observation(pid)),
    )
    first = process(store, b)
    assert first["entry"][0]["response"]["status"] == "201 Created"
    second = process(store, b)
    assert second["entry"][0]["response"]["status"] == "200 OK"
    assert (
        second["entry"][0]["response"]["location"].split("/")[1]
        == first["entry"][0]["response"]["location"].split("/")[1]
    )
    assert source_patients(store) == 1 and store.count("Observation") == 2


def test_if_match_in_transaction(store: Store) -> None:
    process(store, bundle("transaction", put(patient(id="v"), "Patient/v")))
    with pytest.raises(FhirError) as err:
        process(store, bundle("transaction", put(patient(id="v"), "Patient/v", ifMatch='W/"7"')))
    assert err.value.status == 412
    out = process(store, bundle("transaction", put(patient(id="v"), "Patient/v", ifMatch='W/"1"')))
    assert out["entry"][0]["response"]["etag"] == 'W/"2"'


def test_if_none_match_on_get(store: Store) -> None:
    process(store, bundle("transaction", put(patient(id="g"), "Patient/g")))
    out = process(
        store, bundle("batch", {"request": {"method": "GET", "url": "Patient/g", "ifNoneMatch": 'W/"1"'}})
    )
    assert out["entry"][0]["response"]["status"] == "304 Not Modified"


def test_duplicate_full_urls_rejected(store: Store) -> None:
    dup = "urn:uuid:dddddddd-2222-3333-4444-555555555555"
    with pytest.raises(FhirError) as err:
        process(store, bundle("transaction", post(patient(nhs(1)), dup), post(patient(nhs(2)), dup)))
    assert err.value.status == 400 and "Bundle.entry[1].fullUrl" in err.value.issues[0].expression


def test_two_writes_to_one_resource_rejected(store: Store) -> None:
    with pytest.raises(FhirError) as err:
        process(
            store, bundle("transaction", put(patient(id="t"), "Patient/t"), put(patient(id="t"), "Patient/t"))
        )
    assert err.value.status == 400
    assert source_patients(store) == 0


def test_patch_entry_with_binary_json_patch(store: Store) -> None:
    process(store, bundle("transaction", put(patient(id="pp"), "Patient/pp")))
    ops = orjson.dumps([{"op": "add", "path": "/gender", "value": "other"}])
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(ops).decode(),
    }
    out = process(
        store,
        bundle("transaction", {"resource": binary, "request": {"method": "PATCH", "url": "Patient/pp"}}),
    )
    assert out["entry"][0]["response"]["etag"] == 'W/"2"'
    assert read(store, "Patient/pp")["gender"] == "other"


def test_batch_entries_are_independent(store: Store) -> None:
    b = bundle(
        "batch",
        post(patient(nhs(1))),
        post({"resourceType": "Patient", "bogusElement": 1}),
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"request": {"method": "FROB", "url": "Patient"}},
        post(patient(nhs(2))),
    )
    out = process(store, b)
    assert out["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses[0] == statuses[4] == "201 Created"
    assert statuses[1].startswith("400") and statuses[2].startswith("404") and statuses[3].startswith("400")
    assert out["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert source_patients(store) == 2


def test_prefer_representation_returns_resources(store: Store) -> None:
    out = process(store, bundle("transaction", post(patient(nhs(3)))), prefer="representation")
    entry = out["entry"][0]
    assert entry["resource"]["resourceType"] == "Patient" and entry["resource"]["meta"]["versionId"] == "1"
    assert entry["fullUrl"].startswith(BASE + "/Patient/")


def test_search_entry_in_batch(store: Store) -> None:
    process(store, bundle("transaction", put(patient(nhs(12), id="s1"), "Patient/s1")))
    out = process(
        store, bundle("batch", {"request": {"method": "GET", "url": f"Patient?identifier={NHS}|{nhs(12)}"}})
    )
    found = out["entry"][0]["resource"]
    assert found["type"] == "searchset" and found["entry"][0]["resource"]["id"] == "s1"


def test_authorize_entry_is_asked_for_every_entry(store: Store) -> None:
    asked: list[tuple[str, str | None, str | None]] = []

    def gate(interaction: str, type_: str | None, id_: str | None) -> None:
        asked.append((interaction, type_, id_))
        if interaction == "delete":
            raise FhirError.of(403, "forbidden", "no deletes")

    b = bundle("transaction", post(patient(nhs(1))), {"request": {"method": "DELETE", "url": "Patient/x"}})
    with pytest.raises(FhirError) as err:
        process_bundle(store, b, settings=SETTINGS, base_url=BASE, authorize_entry=gate)
    assert err.value.status == 403 and err.value.issues[0].expression == ("Bundle.entry[1]",)
    assert asked == [("create", "Patient", None), ("delete", "Patient", "x")]
    assert source_patients(store) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "type": "collection"},
        {"resourceType": "Bundle", "type": "transaction", "entry": {}},
        bundle("transaction", {"resource": patient()}),
        bundle("transaction", post(patient()) | {"request": {"method": "POST", "url": "Observation"}}),
        bundle("transaction", {"resource": patient(id="a"), "request": {"method": "PUT", "url": "Patient"}}),
        bundle("transaction", {"request": {"method": "GET", "url": "http://elsewhere/fhir/Patient/1"}}),
    ],
)
def test_malformed_bundles_are_400(store: Store, bad: dict[str, Any]) -> None:
    with pytest.raises(FhirError) as err:
        process(store, bad)
    assert err.value.status == 400


def test_nesting_limit_applies_to_bundle_resources(store: Store) -> None:
    deep: dict[str, Any] = {"url": "http://x", "valueString": "leaf"}
    for _ in range(80):
        deep = {"url": "http://x", "extension": [deep]}
    with pytest.raises(FhirError) as err:
        process(store, bundle("transaction", post(patient(extension=[deep]))))
    assert err.value.status == 400


def test_lenient_validation_warnings_come_back_with_their_entry(store: Store) -> None:
    """A single POST returns lenient validation's warnings; a transaction entry must too (R4:
    entry.response.outcome carries the hints and warnings of processing that entry)."""
    lenient = Settings(insecure_dev=True, validation="lenient")
    odd = observation("urn:uuid:p", bogus=1)  # an unknown element: an error under strict, a warning here
    b = bundle("transaction", post(patient(), "urn:uuid:p"), post(odd))
    out = orjson.loads(orjson.dumps(process_bundle(store, b, settings=lenient, base_url=BASE)))
    patient_entry, odd_entry = out["entry"]
    assert odd_entry["response"]["status"] == "201 Created"
    issues = odd_entry["response"]["outcome"]["issue"]
    assert any(i["severity"] == "warning" and "bogus" in i.get("diagnostics", "") for i in issues), issues
    assert "outcome" not in patient_entry["response"]  # nothing to say, and Prefer did not ask
