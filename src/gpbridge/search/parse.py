"""URL query -> ``SearchQuery``: typed values, modifiers, chains, ``_has`` and result parameters.

Every malformed value is a 400 naming the parameter and what was expected. Parameters that are
unknown for the type (or not supported) are collected in ``query.ignored`` — reported to the
client in the searchset — or rejected with 400 under ``Prefer: handling=strict``.
"""

from __future__ import annotations

import re
from typing import Any

from gpbridge.fhir.outcome import FhirError, Issue, bad_request, error
from gpbridge.search import params as registry
from gpbridge.search.dates import date_range
from gpbridge.search.implied_system import implied_system
from gpbridge.search.query import (
    Clause,
    CompositeValue,
    DateValue,
    Include,
    MissingValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    SearchQuery,
    SortKey,
    StringValue,
    TokenValue,
    UriValue,
)
from gpbridge.search.text import normalise

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_NUMBER = re.compile(r"^[+-]?(\d+)(\.(\d+))?([eE][+-]?\d+)?$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"not", "text", "missing", "in", "not-in", "below", "above", "of-type"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "reference": {"missing", "identifier"},  # plus a resource type name
    "uri": {"missing", "below", "above"},
    "composite": {"missing"},
}
# Token modifiers answered from the terminology tables (is-a closure, value set expansions).
TERMINOLOGY_MODIFIERS = {"in", "not-in", "below", "above"}


def split_values(raw: str) -> list[str]:
    """Split a parameter value on unescaped commas; ``\\,`` ``\\|`` ``\\$`` ``\\\\`` are escapes."""
    if "\\" not in raw:  # the common case: nothing escaped
        return raw.split(",")
    out, cur, i = [], [], 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            cur.append(raw[i:i + 2])
            i += 2
            continue
        if c == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


def _split_unescaped(value: str, sep: str, maxsplit: int = -1) -> list[str]:
    if "\\" not in value:
        return value.split(sep, maxsplit)
    parts, cur, i = [], [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            cur.append(value[i:i + 2])
            i += 2
            continue
        if c == sep and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return re.sub(r"\\([\\,|$])", r"\1", value)


def parse_search(
    type_: str | None,
    params: list[tuple[str, str]],
    *,
    strict: bool = False,
    default_count: int = 50,
    max_count: int = 1000,
    base_url: str = "",
) -> SearchQuery:
    q = SearchQuery(type=type_, count=default_count)
    problems: list[Issue] = []
    search_type = type_ or "Resource"
    for name, value in params:
        try:
            _parse_one(q, search_type, name, value, max_count, base_url, problems)
        except FhirError as exc:
            problems.extend(exc.issues)
    if type_ is None and q.types:
        _retype_system_clauses(q)
    if q.page_token is not None and not problems:
        try:
            _parse_page(q)
        except FhirError as exc:
            problems.extend(exc.issues)
    if problems:
        raise FhirError(400, problems)
    if strict and q.ignored:
        raise FhirError(400, [error("not-supported", f"unknown or unsupported search parameter '{n}'", n)
                              for n in q.ignored])
    return q


def _parse_one(q: SearchQuery, type_: str, name: str, value: str, max_count: int, base_url: str,
               problems: list[Issue]) -> None:
    if name.split(":", 1)[0] in registry.RESULT_PARAMETERS:
        _parse_result_param(q, type_, name, value, max_count)
        return
    if name.startswith("_has:"):
        q.clauses.append(_parse_has(type_, name, value, base_url))
        q.raw.append((name, value))
        return
    base, _, modifier = name.partition(":")
    chain_rest = None
    if "." in base:
        base, _, chain_rest = base.partition(".")
    elif modifier and "." in modifier:
        modifier, _, chain_rest = modifier.partition(".")
    if base in registry.UNSUPPORTED_PARAMETERS:
        q.ignored.append(name)
        return
    definition = registry.param(type_, base)
    if definition is None:
        q.ignored.append(name)
        return
    kind = definition["type"]
    if chain_rest is not None:
        if kind != "reference":
            raise bad_request(f"'{base}' is a {kind} parameter and cannot be chained", name)
        q.clauses.append(_parse_chain(type_, base, modifier or None, chain_rest, value, base_url))
        q.raw.append((name, value))
        return
    modifier = modifier or None
    if modifier is not None:
        allowed = MODIFIERS.get(kind, set())
        is_type_modifier = kind == "reference" and registry.is_resource_type(modifier)
        if modifier not in allowed and not is_type_modifier:
            raise bad_request(f"modifier ':{modifier}' is not valid for {kind} parameter '{base}'", name)
        if modifier == "of-type":
            raise FhirError.of(400, "not-supported", f"modifier ':of-type' on '{base}' is not supported", name)
    q.clauses.append(build_clause(type_, base, kind, modifier, value, definition, base_url, name))
    q.raw.append((name, value))


def build_clause(type_: str, code: str, kind: str, modifier: str | None, value: str,
                 definition: dict[str, Any], base_url: str, label: str) -> Clause:
    if modifier == "missing":
        if value not in ("true", "false"):
            raise bad_request(f"':missing' takes true or false, not '{value}'", label)
        return Clause(code, kind, "missing", [MissingValue(value == "true")])
    values = [v for v in split_values(value)]
    if not any(values):
        raise bad_request(f"search parameter '{label}' has no value", label)
    parser = _VALUE_PARSERS.get(kind)
    if parser is None:
        raise FhirError.of(400, "not-supported", f"search parameter '{code}' of type {kind} is not supported", label)
    typed = [parser(v, modifier, definition, base_url, label) for v in values if v != ""]
    return Clause(code, kind, modifier, typed)


# -- values --------------------------------------------------------------------------------------
def _token(v: str, modifier, definition, base_url, label) -> Any:
    if modifier == "text":
        return StringValue(normalise(_unescape(v)))
    if modifier in ("in", "not-in"):
        return UriValue(_unescape(v))  # a ValueSet canonical URL (url|version allowed)
    if modifier in ("below", "above"):
        parts = _split_unescaped(v, "|", 1)
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise bad_request(f"':{modifier}' on '{label}' needs system|code, e.g. http://snomed.info/sct|73211009",
                              label)
        return TokenValue(_unescape(parts[0]), _unescape(parts[1]))
    parts = _split_unescaped(v, "|", 1)
    if len(parts) == 1:
        return TokenValue(None, _unescape(parts[0]))
    system, code = (_unescape(p) for p in parts)
    if system and system == implied_system(str(definition.get("expression") or "")):
        system = ""  # a code element's values are stored with no system: its binding's is implied
    return TokenValue(system, code or None)


def _string(v: str, modifier, definition, base_url, label) -> StringValue:
    text = _unescape(v)
    return StringValue(text if modifier == "exact" else normalise(text))


def _prefix(v: str) -> tuple[str, str]:
    if len(v) > 2 and v[:2] in PREFIXES and not v[:2].isdigit():
        return v[:2], v[2:]
    return "eq", v


def _date(v: str, modifier, definition, base_url, label) -> DateValue:
    prefix, text = _prefix(v)
    text = text.replace(" ", "+")  # '+' in a query string arrives as a space
    rng = date_range(text)
    if rng is None:
        raise bad_request(
            f"'{v}' is not a valid date for '{label}' (expected [prefix]YYYY[-MM[-DD[Thh:mm[:ss][Z|+hh:mm]]]],"
            " e.g. ge2020-01-31)", label)
    return DateValue(prefix, rng[0], rng[1])


def _number_range(text: str, label: str) -> tuple[float, float, float]:
    m = _NUMBER.match(text)
    if m is None:
        raise bad_request(f"'{text}' is not a number for '{label}'", label)
    value = float(text)
    decimals = len(m.group(3) or "")
    exponent = int(m.group(4)[1:]) if m.group(4) else 0
    half = 0.5 * 10.0 ** (exponent - decimals)
    return value, value - half, value + half


def _number(v: str, modifier, definition, base_url, label) -> NumberValue:
    prefix, text = _prefix(v)
    value, lo, hi = _number_range(text, label)
    return NumberValue(prefix, value, lo, hi)


def _quantity(v: str, modifier, definition, base_url, label) -> QuantityValue:
    prefix, rest = _prefix(v)
    parts = _split_unescaped(rest, "|", 2)
    value, lo, hi = _number_range(parts[0], label)
    system = _unescape(parts[1]) if len(parts) > 1 and parts[1] else None
    code = _unescape(parts[2]) if len(parts) > 2 and parts[2] else None
    if len(parts) == 2 and system is not None:
        raise bad_request(f"quantity '{v}' for '{label}' must be number|system|code or number||code", label)
    return QuantityValue(prefix, value, lo, hi, system, code)


def _reference(v: str, modifier, definition, base_url, label) -> ReferenceValue:
    if modifier == "identifier":
        return _token(v, None, definition, base_url, label)
    text = _unescape(v)
    targets = definition.get("targets") or []
    type_modifier = modifier if modifier and registry.is_resource_type(modifier) else None
    if base_url and text.startswith(base_url.rstrip("/") + "/"):
        text = text[len(base_url.rstrip("/")) + 1:]
    if "://" in text or text.startswith("urn:"):
        return ReferenceValue(None, None, text.split("|", 1)[0] if "|" in text and "://" in text else text)
    parts = text.split("/")
    if len(parts) >= 2 and registry.is_resource_type(parts[-2]) and len(parts) in (2, 4):
        ttype, tid = parts[0], parts[1]
        if type_modifier and type_modifier != ttype:
            raise bad_request(f"'{label}' says :{type_modifier} but the value names a {ttype}", label)
        if targets and ttype not in targets:
            raise bad_request(f"'{label}' cannot refer to a {ttype} (allowed: {', '.join(targets)})", label)
        return ReferenceValue(ttype, tid)
    if len(parts) == 1 and _ID.match(text):
        return ReferenceValue(type_modifier, text)
    raise bad_request(f"'{v}' is not a valid reference for '{label}' (expected Type/id, id or a URL)", label)


def _uri(v: str, modifier, definition, base_url, label) -> UriValue:
    return UriValue(_unescape(v))


def _composite(v: str, modifier, definition, base_url, label) -> CompositeValue:
    components = definition.get("components") or []
    parts = _split_unescaped(v, "$")
    if len(parts) != len(components):
        raise bad_request(f"composite '{label}' needs {len(components)} parts joined by '$', got '{v}'", label)
    typed = []
    for part, comp in zip(parts, components, strict=True):
        parser = _VALUE_PARSERS[comp["type"]]
        typed.append(parser(part, None, comp, base_url, label))
    return CompositeValue(tuple(typed))


_VALUE_PARSERS = {
    "token": _token,
    "string": _string,
    "date": _date,
    "number": _number,
    "quantity": _quantity,
    "reference": _reference,
    "uri": _uri,
    "composite": _composite,
}


# -- chains and _has -------------------------------------------------------------------------------
def _parse_chain(type_: str, code: str, type_modifier: str | None, rest: str, value: str,
                 base_url: str) -> Clause:
    """``subject:Patient.identifier=x`` -> a reference clause whose targets must match a sub-query."""
    targets = registry.reference_targets(type_, code)
    if type_modifier:
        if not registry.is_resource_type(type_modifier):
            raise bad_request(f"'{type_modifier}' is not a resource type (in chain '{code}:{type_modifier}.{rest}')")
        targets = [type_modifier]
    chained_param = rest.split(".", 1)[0].split(":", 1)[0]
    candidates = [t for t in targets if registry.param(t, chained_param) is not None]
    if not candidates:
        raise bad_request(f"no target of '{code}' has a search parameter '{chained_param}'", f"{code}.{rest}")
    # An ambiguous chain (several target types have the parameter) matches any of them, as HAPI does.
    subqueries = [parse_search(t, [(rest, value)], strict=True, base_url=base_url) for t in candidates]
    return Clause(code, "chain", None, subqueries)


def _parse_has(type_: str, name: str, value: str, base_url: str) -> Clause:
    parts = name.split(":", 3)
    if len(parts) != 4:
        raise bad_request(f"'{name}' must be _has:Type:reference-parameter:parameter", name)
    _, source_type, ref_param, rest = parts
    if not registry.is_resource_type(source_type):
        raise bad_request(f"'{source_type}' in '{name}' is not a resource type", name)
    definition = registry.param(source_type, ref_param)
    if definition is None or definition["type"] != "reference":
        raise bad_request(f"'{ref_param}' is not a reference parameter of {source_type}", name)
    sub = parse_search(source_type, [(rest, value)], strict=True, base_url=base_url)
    return Clause("_has", "has", None, [sub], has=(source_type, ref_param))


# -- result parameters --------------------------------------------------------------------------
def _int(name: str, value: str, lo: int, hi: int | None = None) -> int:
    try:
        n = int(value)
    except ValueError:
        raise bad_request(f"'{name}' must be a whole number, not '{value}'", name) from None
    if n < lo:
        raise bad_request(f"'{name}' must be at least {lo}", name)
    return n if hi is None else min(n, hi)


def _parse_result_param(q: SearchQuery, type_: str, name: str, value: str, max_count: int) -> None:
    if name in ("_format", "_pretty"):
        return
    if name == "_count":
        q.count = _int(name, value, 0, max_count)
    elif name == "_offset":
        q.offset = _int(name, value, 0)
    elif name == "_page":
        q.page_token = value  # checked once the whole query (its _sort) is known: _parse_page
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise bad_request(f"_total must be none, estimate or accurate, not '{value}'", name)
        q.total = value
    elif name == "_summary":
        if value not in ("true", "false", "text", "data", "count"):
            raise bad_request(f"_summary must be true, false, text, data or count, not '{value}'", name)
        q.summary = value
        q.raw.append((name, value))
    elif name == "_elements":
        q.elements.extend(e.strip() for e in value.split(",") if e.strip())
        q.raw.append((name, value))
    elif name == "_sort":
        for key in value.split(","):
            key = key.strip()
            if not key:
                continue
            desc = key.startswith("-")
            code = key[1:] if desc else key
            definition = registry.param(type_, code)
            if definition is None or definition["type"] in ("composite", "special"):
                raise bad_request(f"cannot sort {type_} by '{code}': not a sortable search parameter", name)
            q.sort.append(SortKey(code, desc))
        q.raw.append((name, value))
    elif name.startswith(("_include", "_revinclude")):
        base, _, modifier = name.partition(":")
        if modifier not in ("", "iterate", "recurse"):
            raise bad_request(f"'{name}': the only modifier of {base} is :iterate", name)
        target = q.include if base == "_include" else q.revinclude
        target.append(_parse_include(name, value, bool(modifier)))
        q.raw.append((name, value))
    elif name == "_type":
        for t in value.split(","):
            t = t.strip()
            if not registry.is_resource_type(t):
                raise bad_request(f"'_type' names an unknown resource type '{t}'", name)
            q.types.append(t)
        q.raw.append((name, value))
    elif name in ("_contained", "_containedType"):
        q.ignored.append(name)


def _parse_page(q: SearchQuery) -> None:
    """``_page``: a keyset position from a ``next``/``previous`` link (``search.paging``)."""
    from gpbridge.search import paging

    assert q.page_token is not None
    if q.offset:
        raise bad_request("_page and _offset cannot be combined: a _page link already says where the page starts",
                          "_page")
    q.page = paging.decode(q.page_token, q)


def _parse_include(name: str, value: str, iterate: bool) -> Include:
    parts = value.split(":")
    if parts == ["*"]:
        return Include("*", "*", None, iterate)
    if len(parts) not in (2, 3):
        raise bad_request(f"'{name}={value}' must be Type:parameter[:targetType]", name)
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if not registry.is_resource_type(source):
        raise bad_request(f"'{source}' in {name} is not a resource type", name)
    if code != "*":
        definition = registry.param(source, code)
        if definition is None or definition["type"] != "reference":
            raise bad_request(f"'{code}' is not a reference search parameter of {source}", name)
    if target is not None and not registry.is_resource_type(target):
        raise bad_request(f"'{target}' in {name} is not a resource type", name)
    return Include(source, code, target, iterate)


def _retype_system_clauses(q: SearchQuery) -> None:
    """System search with _type: clauses were parsed against Resource; nothing more to do yet."""
    return None
