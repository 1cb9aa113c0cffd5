"""Shared by the PDS API tests: a small app (the PDS mount + SQLite store) and the OpenAPI checker.

Every response a test gets through ``PdsClient.get`` is validated against the PDS OpenAPI
specification in ../shared/data/pds before the test sees it, so a shape PDS would not send fails
the test that produced it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gpbridge.api.pds import PDS_PREFIX, pds_app
from gpbridge.config import Settings
from gpbridge.security.audit import MemoryAuditSink
from gpbridge.store import interactions as ops
from gpbridge.store.sqlite import SQLiteStore

NHS = "https://fhir.nhs.uk/Id/nhs-number"
VERIFIED = [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
             "valueCodeableConcept": {"coding": [{
                 "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
                 "code": "01", "display": "Number present and verified"}]}}]
SPEC_HOST = "https://sandbox.api.service.nhs.uk"


def load_spec(shared: Path) -> Any:
    openapi_core = pytest.importorskip("openapi_core")
    from openapi_core import Config

    path = shared / "pds" / "personal-demographics.resolved.yaml"
    if not path.exists():
        pytest.skip(f"PDS OpenAPI specification not found at {path}")
    config = Config(extra_media_type_deserializers={"application/fhir+json": json.loads})
    return openapi_core.OpenAPI.from_file_path(str(path), config=config)


class PdsClient:
    def __init__(self, http: TestClient, spec: Any, audit: MemoryAuditSink) -> None:
        self.http = http
        self.spec = spec
        self.audit = audit
        self.validated = 0

    def get(self, path: str, params: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None,
            *, request_id: bool = True) -> Any:
        sent = {"X-Request-ID": str(uuid.uuid4())} if request_id else {}
        sent.update(headers or {})
        response = self.http.get(PDS_PREFIX + path, params=params, headers=sent)
        self.check_contract(path, params or [], sent, response)
        return response

    def check_contract(self, path: str, params: list[tuple[str, str]], headers: dict[str, str], response: Any) -> None:
        from openapi_core.testing import MockRequest, MockResponse
        from werkzeug.datastructures import ImmutableMultiDict

        request = MockRequest(SPEC_HOST, "get", PDS_PREFIX + path, headers=headers, args=ImmutableMultiDict(params))
        media = response.headers["content-type"].split(";")[0]
        mock = MockResponse(data=response.content, status_code=response.status_code, content_type=media,
                            headers=dict(response.headers))
        self.spec.validate_response(request, mock)
        self.validated += 1


def seed(store: SQLiteStore, settings: Settings, resources: list[dict[str, Any]]) -> None:
    with store.session() as session:
        for resource in resources:
            ops.update(session, resource["resourceType"], resource["id"], resource, settings=settings)


def patient(pid: str, nhs: str | None, given: str, family: str, birth: str, *, gender: str = "female",
            postcode: str = "LS1 6AE", restricted: bool = False, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient", "id": pid,
                           "name": [{"use": "official", "family": family, "given": given.split()}],
                           "gender": gender, "birthDate": birth,
                           "address": [{"use": "home", "line": ["1 Trevelyan Square", "Boar Lane"], "city": "Leeds",
                                        "postalCode": postcode}]}
    if nhs:
        out["identifier"] = [{"system": NHS, "value": nhs, "extension": VERIFIED}]
    if restricted:
        out["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                     "code": "R", "display": "restricted"}]}
    out.update(extra)
    return out


def make_client(tmp_path: Path, spec: Any, **extra: Any) -> tuple[PdsClient, SQLiteStore, Settings]:
    # insecure_dev: these tests are about the PDS contract; access decisions are the policy's own
    # suite (the denial test below patches the policy to say no).
    settings = Settings(insecure_dev=True, validation="off", **extra)  # sandbox data is not UK Core-valid
    store = SQLiteStore(str(tmp_path / "pds.db"), settings)
    audit = MemoryAuditSink()
    app = Starlette(routes=[pds_app(settings, store, audit=audit)])
    return PdsClient(TestClient(app, raise_server_exceptions=True), spec, audit), store, settings
