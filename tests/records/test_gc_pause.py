"""The collector pause around a structured record never leaves the collector off, nor turns it on."""

from __future__ import annotations

import gc

import pytest

from gpbridge.records.gc_pause import cycle_collection_paused


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
