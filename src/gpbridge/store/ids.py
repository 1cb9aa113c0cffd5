"""Server-assigned resource ids: time-ordered UUIDs (the RFC 9562 version 7 layout).

Random (v4) ids scatter every reference to a new resource across the reference index, so each
write dirties a random index page. Time-ordered ids put references to recent resources at the
end of the index, where inserts append — fewer pages written per transaction, same uniqueness
(74 random bits per millisecond), and still opaque, valid FHIR ids.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_seq = 0
# Random bits drawn from the OS a page at a time: one getrandom() call per id was a syscall on
# every resource written. Taken under ``_lock``, so no two ids share bytes.
_POOL_BYTES = 4096
_pool = b""
_pool_at = 0


def _random_bytes(n: int) -> bytes:
    global _pool, _pool_at
    if _pool_at + n > len(_pool):
        _pool, _pool_at = os.urandom(_POOL_BYTES), 0
    start = _pool_at
    _pool_at += n
    return _pool[start:_pool_at]


def new_id() -> str:
    """A new UUIDv7-layout id, monotonic within this process."""
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _seq = (_seq + 1) & 0xFFF
            if _seq == 0:  # 4,096 ids in one millisecond: borrow the next one
                ms += 1
        else:
            _seq = int.from_bytes(_random_bytes(2), "big") & 0x3FF  # leave room to count up
        _last_ms = ms
        seq = _seq
        rand = int.from_bytes(_random_bytes(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand
    # str(uuid.UUID(int=value)), without building the object (this runs for every resource)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
