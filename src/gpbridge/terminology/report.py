"""What a loader did: counts per kind of row, time taken and anything the operator should know."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class LoadReport:
    what: str  # "SNOMED CT RF2", "Read v2 map", ...
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def finish(self) -> LoadReport:
        self.seconds = time.perf_counter() - self._started
        return self

    def summary(self) -> str:
        parts = ", ".join(f"{v:,} {k}" for k, v in self.counts.items())
        return f"{self.what}: {parts} in {self.seconds:.1f}s"
