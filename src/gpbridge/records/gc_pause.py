"""The cyclic garbage collector paused while one request builds a record.

A structured record parses about a thousand resources into tens of thousands of dicts and lists
that all live until the Bundle is returned. Each time allocations pass the collector's threshold it
walks them all looking for cycles, and JSON trees have none: reference counting frees them. That
walking was a sixth of the request's CPU. Only the caller that found the collector running pauses
it and always resumes it, so it is never left off; overlapping requests share one pause, and
anything cyclic they made is collected once it ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    with _lock:
        owner = gc.isenabled()
        if owner:
            gc.disable()
    try:
        yield
    finally:
        if owner:
            gc.enable()
