"""The terminology $operations over HTTP, GET and POST, on their routes under /fhir.

The app here mounts only ``api.operations.terminology.routes()`` (with the same error handlers
as the real app), so these tests do not depend on the app wiring.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gpbridge.api import errors
from gpbridge.api.context import Api
from gpbridge.api.operations import terminology as endpoints
from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.security.audit import MemoryAuditSink

SCT = "http://snomed.info/sct"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def audit() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture(scope="module")
def client(loaded_store: Any, audit: MemoryAuditSink) -> Iterator[TestClient]:
    app = Starlette(routes=endpoints.routes(), exception_handlers={FhirError: errors.fhir_error})
    app.state.api = Api(settings=Settings(insecure_dev=True), store=loaded_store, audit=audit,  # type: ignore[arg-type]
                        inline=bool(getattr(loaded_store, "blocking_ok", False)))
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def values(parameters: dict[str, Any]) -> dict[str, Any]:
    """name -> value (first of each) of a flat Parameters resource."""
    out: dict[str, Any] = {}
    for p in parameters["parameter"]:
        value = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
        out.setdefault(p["name"], value)
    return out


def post(client: TestClient, url: str, *parameter: dict[str, Any]) -> Any:
    body = {"resourceType": "Parameters", "parameter": list(parameter)}
    return client.post(url, json=body, headers={"content-type": FHIR_JSON})


def outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


# -- $lookup ---------------------------------------------------------------------------------------------
def test_lookup_get(client: TestClient) -> None:
    response = client.get("/fhir/CodeSystem/$lookup", params={"system": SCT, "code": "73211009"})
    assert response.status_code == 200 and response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    got = values(body)
    assert got["name"] == "SNOMED CT" and got["display"] == "Diabetes mellitus"
    props = [{q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]}
             for p in body["parameter"] if p["name"] == "property"]
    assert {"code": "parent", "value": "362969004"} in props
    designations = [p for p in body["parameter"] if p["name"] == "designation"]
    fsn = next(d for d in designations if any(q.get("valueString") == "Diabetes mellitus (disorder)" for q in d["part"]))
    assert {"name": "use", "valueCoding": {"system": SCT, "code": "900000000000003001",
                                           "display": "Fully specified name"}} in fsn["part"]


def test_lookup_post_with_coding_and_property(client: TestClient) -> None:
    response = post(client, "/fhir/CodeSystem/$lookup",
                    {"name": "coding", "valueCoding": {"system": SCT, "code": "127013003"}},
                    {"name": "property", "valueCode": "parent"})
    assert response.status_code == 200, response.text
    parts = [p for p in response.json()["parameter"] if p["name"] == "property"]
    assert sorted(p["part"][1]["valueCode"] for p in parts) == ["73211009", "90708001"]


def test_lookup_errors_are_operation_outcomes(client: TestClient) -> None:
    issue = outcome(client.get("/fhir/CodeSystem/$lookup", params={"system": "http://example.org/x", "code": "1"}), 404)
    assert "not known to this server" in issue["diagnostics"] and issue["expression"] == ["system"]
    issue = outcome(client.get("/fhir/CodeSystem/$lookup", params={"system": SCT}), 400)
    assert issue["code"] == "required" and issue["expression"] == ["code"]
    issue = outcome(client.get("/fhir/CodeSystem/$lookup", params={"system": SCT, "code": "1"}), 404)
    assert "'1'" in issue["diagnostics"]
    issue = outcome(client.post("/fhir/CodeSystem/$lookup", content=b"{", headers={"content-type": FHIR_JSON}), 400)
    assert issue["code"] == "structure"
    issue = outcome(post(client, "/fhir/CodeSystem/$lookup", {"value": 1}), 400)
    assert "name" in issue["diagnostics"]


def test_operations_are_authorised_and_audited(client: TestClient, audit: MemoryAuditSink) -> None:
    client.get("/fhir/CodeSystem/$subsumes", params={"system": SCT, "codeA": "73211009", "codeB": "46635009"})
    assert audit.records[-1].interaction == "operation:subsumes"
    assert audit.records[-1].resource_type == "CodeSystem"


# -- $validate-code ----------------------------------------------------------------------------------
def test_code_system_validate_code(client: TestClient) -> None:
    ok = client.get("/fhir/CodeSystem/$validate-code", params={"url": SCT, "code": "44054006", "display": "NIDDM - Non-insulin dependent diabetes mellitus"})
    assert values(ok.json())["result"] is True
    bad = client.get("/fhir/CodeSystem/$validate-code", params={"url": SCT, "code": "44054006", "display": "Asthma"})
    got = values(bad.json())
    assert got["result"] is False and got["display"] == "Type 2 diabetes mellitus" and "Asthma" in got["message"]


def test_value_set_validate_code_with_codeable_concept(client: TestClient) -> None:
    cc = {"coding": [{"system": "http://read.info/readv2", "code": "C10..00"}, {"system": SCT, "code": "46635009"}]}
    response = post(client, "/fhir/ValueSet/$validate-code",
                    {"name": "url", "valueUri": "https://fhir.example.org/ValueSet/diabetes-disorders"},
                    {"name": "codeableConcept", "valueCodeableConcept": cc})
    got = values(response.json())
    assert got["result"] is True and got["display"] == "Type 1 diabetes mellitus"


def test_validate_code_against_an_unknown_system_or_value_set_is_not_found(client: TestClient) -> None:
    # as docs/terminology.md says, and as $lookup and $expand answer
    missing = client.get("/fhir/ValueSet/$validate-code", params={"url": "https://example.org/none", "system": SCT,
                                                                  "code": "1"})
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    unknown = client.get("/fhir/CodeSystem/$validate-code", params={"url": "http://example.org/cs", "code": "1"})
    assert unknown.status_code == 404 and "http://example.org/cs" in unknown.json()["issue"][0]["diagnostics"]
    # one coding the server can check is enough for an answer
    cc = {"coding": [{"system": "http://example.org/cs", "code": "1"}, {"system": SCT, "code": "46635009"}]}
    mixed = post(client, "/fhir/CodeSystem/$validate-code", {"name": "codeableConcept", "valueCodeableConcept": cc})
    assert mixed.status_code == 200 and values(mixed.json())["result"] is True


# -- $subsumes -------------------------------------------------------------------------------------------
def test_subsumes_get_and_post(client: TestClient) -> None:
    got = client.get("/fhir/CodeSystem/$subsumes", params={"system": SCT, "codeA": "73211009", "codeB": "127013003"})
    assert got.json() == {"resourceType": "Parameters", "parameter": [{"name": "outcome", "valueCode": "subsumes"}]}
    posted = post(client, "/fhir/CodeSystem/$subsumes",
                  {"name": "codingA", "valueCoding": {"system": SCT, "code": "46635009"}},
                  {"name": "codingB", "valueCoding": {"system": SCT, "code": "73211009"}})
    assert values(posted.json())["outcome"] == "subsumed-by"


# -- $expand ----------------------------------------------------------------------------------------------
def test_expand_by_url_with_filter_and_paging(client: TestClient) -> None:
    response = client.get("/fhir/ValueSet/$expand", params={"url": f"{SCT}?fhir_vs=isa/73211009", "filter": "type",
                                                            "count": "1"})
    body = response.json()
    assert body["resourceType"] == "ValueSet"
    expansion = body["expansion"]
    assert expansion["total"] == 2 and len(expansion["contains"]) == 1
    assert {"name": "filter", "valueString": "type"} in expansion["parameter"]
    assert expansion["contains"][0]["system"] == SCT


def test_expand_inline_value_set_by_post(client: TestClient) -> None:
    vs = {"resourceType": "ValueSet", "url": "https://example.org/vs/inline", "status": "draft",
          "compose": {"include": [{"system": SCT, "filter": [{"property": "concept", "op": "descendent-of",
                                                              "value": "90708001"}]}]}}
    response = post(client, "/fhir/ValueSet/$expand", {"name": "valueSet", "resource": vs},
                    {"name": "includeDesignations", "valueBoolean": True})
    body = response.json()
    assert body["url"] == "https://example.org/vs/inline"
    [entry] = body["expansion"]["contains"]
    assert entry["code"] == "127013003" and any(d["value"] == "Diabetic nephropathy" for d in entry["designation"])


def test_expand_errors(client: TestClient) -> None:
    issue = outcome(client.get("/fhir/ValueSet/$expand", params={"url": "https://example.org/none"}), 404)
    assert "value set 'https://example.org/none'" in issue["diagnostics"]
    issue = outcome(client.get("/fhir/ValueSet/$expand", params={"url": f"{SCT}?fhir_vs", "count": "x"}), 400)
    assert issue["expression"] == ["count"]
    outcome(client.get("/fhir/ValueSet/$expand"), 400)


# -- $translate ----------------------------------------------------------------------------------------------
def test_translate_read_v2_to_snomed(client: TestClient) -> None:
    response = client.get("/fhir/ConceptMap/$translate", params={"system": "http://read.info/readv2", "code": "C10..00",
                                                                 "targetsystem": SCT})
    body = response.json()
    got = values(body)
    assert got["result"] is True
    match = next(p for p in body["parameter"] if p["name"] == "match")
    assert {"name": "equivalence", "valueCode": "equivalent"} in match["part"]
    assert {"name": "concept", "valueCoding": {"system": SCT, "code": "73211009", "display": "Diabetes mellitus"}} \
        in match["part"]


def test_translate_no_match_and_inline_map(client: TestClient) -> None:
    none = client.get("/fhir/ConceptMap/$translate", params={"system": "http://read.info/readv2", "code": "ZZZZZ00"})
    got = values(none.json())
    assert got["result"] is False and "no map found" in got["message"]
    cm = {"resourceType": "ConceptMap", "url": "https://example.org/cm/inline", "status": "draft",
          "group": [{"source": "https://example.org/a", "target": "https://example.org/b",
                     "element": [{"code": "x", "target": [{"code": "y", "equivalence": "wider"}]}]}]}
    inline = post(client, "/fhir/ConceptMap/$translate", {"name": "conceptMap", "resource": cm},
                  {"name": "system", "valueUri": "https://example.org/a"}, {"name": "code", "valueCode": "x"})
    got = values(inline.json())
    assert got["result"] is True


def test_every_route_answers_get_and_post() -> None:
    paths = {(r.path, tuple(sorted(r.methods or ()))) for r in endpoints.routes()}
    assert ("/fhir/CodeSystem/$lookup", ("GET", "HEAD", "POST")) in paths
    assert len(paths) == 6
