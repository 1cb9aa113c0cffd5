"""The parsed form of a FHIR search: what ``search.parse`` produces and ``search.sql`` consumes.

A query is an AND of ``Clause``s; each clause is an OR of values of one search parameter.
Values are already typed (token, date range, quantity, reference, ...), so the SQL layer never
parses strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TokenValue:
    system: str | None  # None: any system; "" : no system (``|code``)
    code: str | None  # None: any code (``system|``)


@dataclass(frozen=True, slots=True)
class StringValue:
    text: str


@dataclass(frozen=True, slots=True)
class DateValue:
    prefix: str  # eq ne lt gt le ge sa eb ap
    lo: float  # epoch seconds, inclusive start of the value's precision range
    hi: float  # epoch seconds, exclusive end


@dataclass(frozen=True, slots=True)
class NumberValue:
    prefix: str
    value: float
    lo: float  # implicit precision range (e.g. 100 -> [99.5, 100.5))
    hi: float


@dataclass(frozen=True, slots=True)
class QuantityValue:
    prefix: str
    value: float
    lo: float
    hi: float
    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    type: str | None  # target type when known
    id: str | None  # target id (local references)
    url: str | None = None  # absolute or canonical URL when not a local reference


@dataclass(frozen=True, slots=True)
class UriValue:
    uri: str


@dataclass(frozen=True, slots=True)
class MissingValue:
    missing: bool


@dataclass(frozen=True, slots=True)
class CompositeValue:
    parts: tuple[Any, ...]  # one typed value per component


@dataclass(slots=True)
class Clause:
    """One parameter occurrence: ``name[:modifier]=v1,v2`` (values ORed)."""

    param: str  # search parameter code, e.g. "code", "_id", "subject"
    kind: str  # token | string | date | number | quantity | reference | uri | composite | chain | has
    modifier: str | None
    # typed values; for kind "chain" one SearchQuery per candidate target type, for kind "has" the
    # SearchQuery on the referring type
    values: list[Any]
    # reverse chaining: ``_has:Observation:patient:code=...``
    has: tuple[str, str] | None = None  # (source type, reference parameter on the source type)


@dataclass(frozen=True, slots=True)
class SortKey:
    param: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Include:
    source_type: str  # the type whose reference parameter is followed ("*" for any)
    param: str  # reference search parameter code ("*" for all)
    target_type: str | None = None
    iterate: bool = False


@dataclass(frozen=True, slots=True)
class PagePosition:
    """A keyset paging position (``_page``): the rows strictly after (``forward``) or before a
    boundary row, in the query's order. ``keys`` are that row's sort-key values as the ORDER BY
    computes them (None: no value, which sorts last), ``rid`` the final tie-break."""

    forward: bool
    keys: tuple[Any, ...]
    rid: int


@dataclass(slots=True)
class SearchQuery:
    type: str | None  # None: system-level search across types
    clauses: list[Clause] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int = 50
    offset: int = 0
    page: PagePosition | None = None  # ``_page``: continue from a boundary row instead of an offset
    page_token: str | None = None  # the ``_page`` value as received (for the self link)
    total: str = "accurate"  # none | estimate | accurate
    summary: str | None = None  # true | text | data | count | false
    elements: list[str] = field(default_factory=list)
    include: list[Include] = field(default_factory=list)
    revinclude: list[Include] = field(default_factory=list)
    # parameters that were not understood (reported in an OperationOutcome, or 400 when strict)
    ignored: list[str] = field(default_factory=list)
    # the raw (name, value) pairs that were understood, in order: used to build paging links
    raw: list[tuple[str, str]] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # system search restricted by _type
