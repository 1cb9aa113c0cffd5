"""No lost updates: 32 clients race read → If-Match update on one resource through a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import make_settings

from gpbridge.api.app import create_app
from serving_helpers import serving

CLIENTS = 32
ROUNDS = 8


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serving(create_app(make_settings(tmp_path)), lifespan="on") as root:
        yield f"{root}/fhir"


def test_if_match_loses_no_update(server: str) -> None:
    headers = {"content-type": "application/fhir+json"}
    with httpx.Client() as http:
        r = http.put(
            f"{server}/Patient/race", json={"resourceType": "Patient", "id": "race"}, headers=headers
        )
        assert r.status_code == 201
    successes: list[int] = []
    failures: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def worker(n: int) -> None:
        with httpx.Client(timeout=30) as http:
            start.wait()
            for i in range(ROUNDS):
                current = http.get(f"{server}/Patient/race")
                version = int(current.json()["meta"]["versionId"])
                body = {"resourceType": "Patient", "id": "race", "name": [{"family": f"c{n}-{i}"}]}
                r = http.put(
                    f"{server}/Patient/race", json=body, headers={**headers, "If-Match": f'W/"{version}"'}
                )
                with lock:
                    if r.status_code == 200:
                        new = int(r.json()["meta"]["versionId"])
                        if new != version + 1:
                            errors.append(f"version jumped {version} -> {new}")
                        successes.append(new)
                    elif r.status_code == 412:
                        failures.append(version)
                    else:
                        errors.append(f"{r.status_code} {r.text}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert len(successes) + len(failures) == CLIENTS * ROUNDS
    assert len(set(successes)) == len(successes)  # every success made its own version
    with httpx.Client() as http:
        final = int(http.get(f"{server}/Patient/race").json()["meta"]["versionId"])
    assert final == 1 + len(successes)
    assert sorted(successes) == list(range(2, final + 1))
