"""The rows one resource contributes to the search index: what ``Extractor.extract`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class IndexValues:
    # (param, system, code, text); text = Coding.display / CodeableConcept.text / Identifier.type.text.
    # CodeableConcept.text gets its own row (param, None, None, text). Reference.identifier rows use
    # the param key f"{param}:identifier".
    tokens: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    strings: list[tuple[str, str, str]] = field(default_factory=list)  # (param, normalised, exact)
    dates: list[tuple[str, float, float]] = field(default_factory=list)  # (param, lo, hi) hi exclusive
    numbers: list[tuple[str, float]] = field(default_factory=list)
    # (param, system, code, value); a unit other than the code adds (param, None, unit, value)
    quantities: list[tuple[str, str | None, str | None, float]] = field(default_factory=list)
    references: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    uris: list[tuple[str, str]] = field(default_factory=list)
    # (param, (system, code) of the first component, (kind, ...) of the second); with more than two
    # components the third item is ("composite", (kind, ...), (kind, ...), ...).
    composites: list[tuple[str, tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=list)

    def deduplicate(self) -> None:
        """Unions and repeated codings can yield the same row twice; the store wants each once."""
        # Spelled out rather than looped over getattr: this runs for every resource ingested.
        if len(self.tokens) > 1:
            self.tokens = list(dict.fromkeys(self.tokens))
        if len(self.strings) > 1:
            self.strings = list(dict.fromkeys(self.strings))
        if len(self.dates) > 1:
            self.dates = list(dict.fromkeys(self.dates))
        if len(self.numbers) > 1:
            self.numbers = list(dict.fromkeys(self.numbers))
        if len(self.quantities) > 1:
            self.quantities = list(dict.fromkeys(self.quantities))
        if len(self.references) > 1:
            self.references = list(dict.fromkeys(self.references))
        if len(self.uris) > 1:
            self.uris = list(dict.fromkeys(self.uris))
        if len(self.composites) > 1:
            self.composites = list(dict.fromkeys(self.composites))
