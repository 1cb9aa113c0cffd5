"""Helpers shared by the API tests (imported by conftest and the test modules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from starlette.testclient import TestClient

from gpbridge.config import Settings
from nhs_helpers import nhs as nhs  # re-exported for the API test modules

FHIR_JSON = "application/fhir+json"
NHS = "https://fhir.nhs.uk/Id/nhs-number"


class Client:
    """A TestClient that speaks FHIR JSON by default."""

    def __init__(self, http: TestClient) -> None:
        self.http = http

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = FHIR_JSON,
        raw: bytes | None = None,
    ) -> Any:
        sent = dict(headers or {})
        content = raw
        if body is not None:
            content = orjson.dumps(body)
        if content is not None:
            sent.setdefault("content-type", content_type)
        return self.http.request(method, url, content=content, headers=sent)

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)

    def post(self, url: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", url, body, **kw)

    def put(self, url: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", url, body, **kw)

    def patch(self, url: str, body: Any = None, **kw: Any) -> Any:
        kw.setdefault("content_type", "application/json-patch+json")
        return self.request("PATCH", url, body, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.request("DELETE", url, **kw)


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    # Rate limiting has its own tests (tests/security); here it would only throttle the load tests.
    return Settings(database=f"sqlite:///{tmp_path}/t.db", insecure_dev=True, **{"rate_limit_per_minute": 0, **changes})


def patient(nhs: str | None = "9000000009", **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": "Smith", "given": ["Jo"]}], **extra}
    if nhs:
        res["identifier"] = [{"system": NHS, "value": nhs}]
    return res


def observation(subject: str, code: str = "271649006", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
        "subject": {"reference": subject},
        **extra,
    }


def assert_outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"], body
    return body
