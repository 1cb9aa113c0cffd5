"""FHIR interaction semantics on a real store session (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.store import interactions as ops
from gpbridge.store.base import Store
from identity_helpers import source_patients
from nhs_helpers import nhs

SETTINGS = Settings(insecure_dev=True)
NHS = "https://fhir.nhs.uk/Id/nhs-number"



def patient(nhs: str | None = None, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": "Smith"}], **extra}
    if nhs:
        res["identifier"] = [{"system": NHS, "value": nhs}]
    return res


def run(store: Store, fn: Any, *args: Any, **kwargs: Any) -> Any:
    with store.session() as s:
        return fn(s, *args, **kwargs)


def status_of(store: Store, fn: Any, *args: Any, **kwargs: Any) -> int:
    with pytest.raises(FhirError) as err:
        run(store, fn, *args, **kwargs)
    return err.value.status


def test_create_assigns_id_and_ignores_client_id(store: Store) -> None:
    result = run(store, ops.create, patient(id="mine"), settings=SETTINGS)
    assert result.created and result.resource.id != "mine" and result.resource.version == 1


def test_conditional_create_zero_one_many(store: Store) -> None:
    crit = f"identifier={NHS}|9000000009"
    first = run(store, ops.create, patient("9000000009"), settings=SETTINGS, if_none_exist=crit)
    assert first.created
    again = run(store, ops.create, patient("9000000009"), settings=SETTINGS, if_none_exist=crit)
    assert not again.created and again.unchanged and again.resource.id == first.resource.id
    assert source_patients(store) == 1
    run(store, ops.create, patient("9000000009"), settings=SETTINGS)
    assert status_of(store, ops.create, patient("9000000009"), settings=SETTINGS, if_none_exist=crit) == 412


def test_conditional_criteria_may_carry_the_type(store: Store) -> None:
    first = run(store, ops.create, patient(nhs(1)), settings=SETTINGS)
    for crit in (f"Patient?identifier={NHS}|{nhs(1)}", f"?identifier={NHS}|{nhs(1)}"):
        again = run(store, ops.create, patient(nhs(1)), settings=SETTINGS, if_none_exist=crit)
        assert again.resource.id == first.resource.id


def test_conditional_criteria_must_select(store: Store) -> None:
    assert status_of(store, ops.create, patient(), settings=SETTINGS, if_none_exist="_count=1") == 400
    assert status_of(store, ops.create, patient(), settings=SETTINGS, if_none_exist="bogus=1") == 400


def test_update_creates_with_client_id_then_versions(store: Store) -> None:
    created = run(store, ops.update, "Patient", "p1", patient(id="p1"), settings=SETTINGS)
    assert created.created and created.resource.version == 1
    updated = run(store, ops.update, "Patient", "p1", patient(id="p1"), settings=SETTINGS, if_match=1)
    assert not updated.created and updated.resource.version == 2
    assert (
        status_of(store, ops.update, "Patient", "p1", patient(id="p1"), settings=SETTINGS, if_match=1) == 412
    )


@pytest.mark.parametrize(
    ("resource", "status"),
    [
        (patient(), 400),  # no id
        (patient(id="other"), 400),  # id mismatch
        ({"resourceType": "Observation", "id": "p1"}, 400),  # type mismatch
        (patient(id="p1", bogus=True), 400),  # unknown element (structure check)
    ],
)
def test_update_rejects(store: Store, resource: dict[str, Any], status: int) -> None:
    assert status_of(store, ops.update, "Patient", "p1", resource, settings=SETTINGS) == status


def test_conditional_update_zero_one_many(store: Store) -> None:
    crit = [("identifier", f"{NHS}|{nhs(1)}")]
    made = run(store, ops.conditional_update, "Patient", crit, patient(nhs(1)), settings=SETTINGS)
    assert made.created
    again = run(
        store, ops.conditional_update, "Patient", crit, patient(nhs(1), gender="male"), settings=SETTINGS
    )
    assert not again.created and again.resource.id == made.resource.id and again.resource.version == 2
    wrong_id = patient(nhs(1), id="someone-else")
    assert status_of(store, ops.conditional_update, "Patient", crit, wrong_id, settings=SETTINGS) == 400
    run(store, ops.update, "Patient", "dup", patient(nhs(1), id="dup"), settings=SETTINGS)
    assert status_of(store, ops.conditional_update, "Patient", crit, patient(nhs(1)), settings=SETTINGS) == 412


def test_conditional_update_no_match_with_clashing_id_conflicts(store: Store) -> None:
    run(store, ops.update, "Patient", "taken", patient(nhs(5), id="taken"), settings=SETTINGS)
    body = patient(nhs(6), id="taken")
    assert (
        status_of(store, ops.conditional_update, "Patient", f"identifier={NHS}|{nhs(6)}", body, settings=SETTINGS)
        == 409
    )


def test_delete_and_conditional_delete(store: Store) -> None:
    assert run(store, ops.delete, "Patient", "nobody") is None
    run(store, ops.update, "Patient", "a", patient(nhs(7), id="a"), settings=SETTINGS)
    run(store, ops.update, "Patient", "b", patient(nhs(7), id="b"), settings=SETTINGS)
    assert status_of(store, ops.conditional_delete, "Patient", f"identifier={NHS}|{nhs(7)}") == 412
    assert run(store, ops.conditional_delete, "Patient", f"identifier={NHS}|{nhs(8)}") is None
    run(store, ops.delete, "Patient", "a")
    gone = run(store, ops.conditional_delete, "Patient", f"identifier={NHS}|{nhs(7)}")
    assert gone is not None and gone.resource.id == "b"
    assert source_patients(store) == 0


def test_patch_applies_and_version_checks(store: Store) -> None:
    run(store, ops.update, "Patient", "p", patient(id="p"), settings=SETTINGS)
    patch = [{"op": "add", "path": "/gender", "value": "female"}]
    result = run(store, ops.patch, "Patient", "p", patch, settings=SETTINGS, if_match=1)
    assert result.resource.version == 2
    assert orjson.loads(result.resource.content)["gender"] == "female"
    assert status_of(store, ops.patch, "Patient", "p", patch, settings=SETTINGS, if_match=1) == 412
    assert status_of(store, ops.patch, "Patient", "nope", patch, settings=SETTINGS) == 404
    test_fails = [{"op": "test", "path": "/gender", "value": "male"}]
    assert status_of(store, ops.patch, "Patient", "p", test_fails, settings=SETTINGS) == 422
    change_id = [{"op": "replace", "path": "/id", "value": "q"}]
    assert status_of(store, ops.patch, "Patient", "p", change_id, settings=SETTINGS) == 422
    assert status_of(store, ops.patch, "Patient", "p", {"op": "add"}, settings=SETTINGS) == 400
    assert status_of(store, ops.patch, "Patient", "p", [{"path": "/x"}], settings=SETTINGS) == 400
    run(store, ops.delete, "Patient", "p")
    assert status_of(store, ops.patch, "Patient", "p", patch, settings=SETTINGS) == 410


def test_lenient_validation_stores_structurally_odd_resources(store: Store) -> None:
    lenient = Settings(validation="lenient")
    result = run(store, ops.update, "Patient", "odd", patient(id="odd", bogus=1), settings=lenient)
    assert result.created


@pytest.mark.parametrize("value", ['W/"3"', '"3"', "3", ' W/"3" '])
def test_parse_etag(value: str) -> None:
    assert ops.parse_etag(value) == 3


def test_parse_etag_rejects_garbage() -> None:
    with pytest.raises(FhirError) as err:
        ops.parse_etag('W/"abc"')
    assert err.value.status == 400


def test_audit_events_are_never_written_to_the_store(store: Store) -> None:
    # Every path to the store (REST, Bundles, adapters) refuses them: the audit trail is audit_log.
    event = {"resourceType": "AuditEvent", "id": "1", "recorded": "2026-01-01T00:00:00Z"}
    assert status_of(store, ops.create, event, settings=SETTINGS) == 405
    assert status_of(store, ops.update, "AuditEvent", "1", event, settings=SETTINGS) == 405
    assert status_of(store, ops.conditional_update, "AuditEvent", "recorded=2026", event, settings=SETTINGS) == 405
    assert status_of(store, ops.patch, "AuditEvent", "1", [], settings=SETTINGS) == 405
    assert status_of(store, ops.delete, "AuditEvent", "1") == 405
    assert status_of(store, ops.conditional_delete, "AuditEvent", "recorded=2026") == 405
    assert store.count("AuditEvent") == 0
