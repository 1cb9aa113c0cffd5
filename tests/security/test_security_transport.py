"""Security headers on every response and a per-client rate limit answering 429 TOO_MANY_REQUESTS."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from gpbridge.api.app import create_app
from gpbridge.security.transport import RateLimit, SecurityHeaders, TokenBucket


def _wrapped(settings: Any, store: Any, per_minute: int) -> TestClient:
    return TestClient(SecurityHeaders(RateLimit(create_app(settings, store), per_minute=per_minute)))


def test_security_headers_on_success_and_error(secure_settings: Any, secure_store: Any) -> None:
    with _wrapped(secure_settings, secure_store, 0) as http:
        for url in ("/fhir/metadata", "/fhir/Patient/pa", "/nowhere"):
            headers = http.get(url).headers
            assert headers["strict-transport-security"].startswith("max-age=")
            assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"


def test_rate_limit_is_per_client(secure_settings: Any, secure_store: Any, bearer: Any) -> None:
    noisy, quiet = bearer(user="clinician-a"), bearer(user="clinician-b")
    with _wrapped(secure_settings, secure_store, 60) as http:
        statuses = [http.get("/fhir/metadata", headers=noisy).status_code for _ in range(15)]
        assert statuses[:10] == [200] * 10 and statuses[-1] == 429
        limited = http.get("/fhir/metadata", headers=noisy)
        issue = limited.json()["issue"][0]
        assert issue["details"]["coding"][0]["code"] == "TOO_MANY_REQUESTS"
        assert int(limited.headers["retry-after"]) >= 1
        assert http.get("/fhir/metadata", headers=quiet).status_code == 200


def test_bucket_refills() -> None:
    bucket = TokenBucket(60, burst=1)
    assert bucket.take("k", now=0.0) == 0
    assert bucket.take("k", now=0.1) > 0
    assert bucket.take("k", now=1.2) == 0


def test_commands(secure_settings: Any, secure_store: Any, tmp_path: Any) -> None:
    from joserfc import jwk

    from gpbridge.security.commands import audit_verify_command, register_client_command

    key = jwk.RSAKey.generate_key(2048, private=True)
    pem = tmp_path / "public.pem"
    pem.write_bytes(key.as_pem(private=False))
    message = register_client_command(secure_settings, "app-9", pem, ("system/Patient.read",), kid="k9")
    assert "kid k9" in message
    code, text = audit_verify_command(secure_settings)
    assert code == 0 and "chain intact" in text
