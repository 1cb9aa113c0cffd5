"""The collector pause around a structured record never leaves the collector off, nor turns it on,
and the serialised record the HTTP route sends is the record."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

import orjson
import pytest
from records_helpers import ALL_SECTIONS, DEMO_NHS, gpc_body

from gpbridge.fhir.outcome import FhirError
from gpbridge.records.access import TRUSTED
from gpbridge.records.gc_pause import cycle_collection_paused
from gpbridge.records.structured import structured_record, structured_record_json
from gpbridge.store.base import Store


def test_paused_inside_and_resumed_after_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cycle_collection_paused():
        assert not gc.isenabled()
        with cycle_collection_paused():  # an overlapping request shares the pause
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner one did not resume what it did not pause
        raise RuntimeError("the request failed")
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with cycle_collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_serialised_record_is_the_record_and_the_collector_runs_after(demo_store: Store) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = gpc_body(DEMO_NHS, *ALL_SECTIONS)
    as_dict = structured_record(demo_store, body, base_url="https://gpbridge.test/fhir", now=when, access=TRUSTED)
    as_json = orjson.loads(structured_record_json(demo_store, body, base_url="https://gpbridge.test/fhir", now=when, access=TRUSTED))
    assert gc.isenabled()
    assert len(as_json["entry"]) > 100
    del as_dict["id"], as_json["id"]  # a fresh Bundle id per response
    assert as_json == as_dict
    with pytest.raises(FhirError):
        structured_record_json(demo_store, gpc_body("9999999999"), access=TRUSTED)
    assert gc.isenabled()
