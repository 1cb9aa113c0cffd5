"""``SearchQuery`` -> SQL over the index tables, the same shapes for SQLite and PostgreSQL.

Shape of a query at one level (alias ``a`` over ``resource``)::

    SELECT ... FROM resource a
    WHERE a.rid IN (SELECT x.rid FROM ix_<kind> x WHERE x.comp IN (...) AND x.pid = ? AND ...)  -- drives
      AND EXISTS (SELECT 1 FROM ix_<kind> y WHERE y.rid = a.rid AND y.pid = ? AND ...)  -- the others
      AND a.type = ? AND a.deleted = 0

The most selective clause (by a fixed ranking: ids and references first, broad dates last)
drives; every other clause is a correlated EXISTS that seeks the index table's clustered key
(rid, pid, ...), so cost follows the driving set, not the table size. On SQLite the search
indexes lead with the patient compartment, so the driver names the compartments its rows can be
in (``compartments_of``; none on PostgreSQL). Chains and ``_has`` nest the same builder on
another alias.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpbridge.fhir.outcome import bad_request
from gpbridge.search import params as registry
from gpbridge.search.derived import derived_params, reference_views
from gpbridge.search.query import (
    Clause,
    CompositeValue,
    DateValue,
    Include,
    NumberValue,
    PagePosition,
    QuantityValue,
    ReferenceValue,
    SearchQuery,
    StringValue,
    TokenValue,
    UriValue,
)
from gpbridge.search.text import normalise
from gpbridge.store import compartment
from gpbridge.store.base import SearchResult, StoredResource

TOP = "\U0010ffff"  # sorts after every character: the upper bound of a prefix range
MAX_INCLUDED = 1000
# Placeholders a clause may spend repeating a compartment list in each OR alternative.
MAX_REPEATED_COMPARTMENTS = 2000
INDEX_TABLE = {
    "token": "ix_token",
    "string": "ix_string",
    "date": "ix_date",
    "number": "ix_number",
    "quantity": "ix_quantity",
    "reference": "ix_reference",
    "uri": "ix_uri",
    "composite": "ix_composite",
}
# Lower is more selective: the lowest-ranked positive clause drives the query.
RANK = {"_id": 0, "reference": 1, "chain": 2, "token": 3, "has": 4, "string": 5, "uri": 6,
        "quantity": 7, "number": 8, "date": 9, "_lastUpdated": 10}


@dataclass
class Condition:
    sql: str  # a boolean expression over the level's alias
    params: list[Any]
    rank: int = 99
    # when the condition can drive: "<alias>.rid IN (<driver_sql>)"
    driver_sql: str | None = None
    driver_params: list[Any] = field(default_factory=list)


class SqlBuilder:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.dialect = store.dialect_obj
        self.pids: dict[tuple[str, str], int] = store.pids
        self._n = 0
        self._compartments: tuple[str, list[Any]] = ("", [])  # a level's, while its clauses are built
        self.driven: dict[str, bool] = {}  # alias -> whether a clause drives its level

    def alias(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def pid_filter(self, x: str, types: list[str], code: str) -> tuple[str, list[Any]]:
        """The condition on ``{x}``'s index rows that answer ``code`` on ``types``."""
        return pid_filter(self.pids, x, types, code)

    # -- one level -----------------------------------------------------------------------------
    def level(self, query: SearchQuery, a: str) -> tuple[str, list[Any]]:
        """WHERE-clause body (without 'WHERE') and params for resources matching ``query`` at alias ``a``."""
        types = self.types_of(query)
        outer = self._compartments
        self._compartments = self.compartments_of(query, types)
        try:
            conds = [self.condition(c, types, a) for c in query.clauses]
        finally:
            self._compartments = outer
        drivers = sorted((c for c in conds if c.driver_sql is not None), key=lambda c: c.rank)
        parts: list[str] = []
        params: list[Any] = []
        driver = drivers[0] if drivers else None
        self.driven[a] = driver is not None
        if driver is not None:
            parts.append(f"{a}.rid IN ({driver.driver_sql})")
            params.extend(driver.driver_params)
        for c in conds:
            if c is driver:
                continue
            parts.append(c.sql)
            params.extend(c.params)
        # With a driver, stop the planner from scanning by type instead: a condition on an
        # expression over the column cannot use the column's index ("+a.type" in SQLite,
        # "(a.type || '')" in PostgreSQL). PostgreSQL otherwise takes the (type, deleted, lu) index
        # whenever its statistics are stale, as during a bulk load, and probes every resource of
        # the type: 5 ms instead of 0.15 ms for one NHS number among 300 patients, and growing.
        column = f"{a}.type"
        if driver is not None:
            column = f"+{a}.type" if self.dialect.name == "sqlite" else f"({a}.type || '')"
        if len(types) == 1:
            parts.append(f"{column} = ?")
            params.append(types[0])
        elif query.type is not None or query.types:
            parts.append(f"{column} IN ({','.join('?' * len(types))})")
            params.extend(types)
        parts.append(f"{a}.deleted = 0")
        return " AND ".join(parts), params

    def compartments_of(self, query: SearchQuery, types: list[str]) -> tuple[str, list[Any]]:
        """The compartments a level's resources can be in, as a condition on ``{x}.comp`` to put
        in front of a driving clause (``"{x}.comp = ? AND "``), or nothing where the search
        indexes do not lead with the compartment (``Dialect.compartment_indexes``). It only
        narrows what the query requires anyway (``store.compartment``).
        """
        if not self.dialect.compartment_indexes:
            return "", []
        home = compartment.HOME_PARAMETER
        if not any(registry.param(t, home) for t in types):  # outside the Patient compartment
            return "{x}.comp = ? AND ", [compartment.NONE]
        # A reference view's values still decide the compartment (search.derived), so a
        # derived ``patient`` narrows it as a stored one does.
        if len(types) == 1 and (types[0], home) in self.pids:
            for clause in (c for c in query.clauses if c.param == home and c.kind == "reference"):
                if clause.modifier not in (None, "Patient"):
                    continue
                ids = [v.id for v in clause.values if isinstance(v, ReferenceValue) and v.url is None
                       and v.type in (None, "Patient") and v.id is not None]
                if ids and len(ids) == len(clause.values):
                    comps = sorted({compartment.key(i) for i in ids} | {compartment.SEVERAL})
                    return f"{{x}}.comp IN ({','.join('?' * len(comps))}) AND ", comps
        return "{x}.comp IN (SELECT comp FROM compartment) AND ", []

    @staticmethod
    def _own_compartments(clause: Clause) -> list[list[Any]] | None:
        """For a ``patient=`` clause naming patients by id, each value's own compartments (its
        patient's, and the one for resources in several); None for any other clause."""
        if clause.param != compartment.HOME_PARAMETER or clause.kind != "reference":
            return None
        if clause.modifier not in (None, "Patient"):
            return None
        own: list[list[Any]] = []
        for v in clause.values:
            if not isinstance(v, ReferenceValue) or v.url is not None or v.type not in (None, "Patient") or v.id is None:
                return None
            own.append(sorted({compartment.key(v.id), compartment.SEVERAL}))
        return own

    @staticmethod
    def types_of(query: SearchQuery) -> list[str]:
        if query.type is not None:
            return [query.type]
        if query.types:
            return list(query.types)
        return sorted(registry.spec.resource_types())

    # -- clauses ---------------------------------------------------------------------------------
    def condition(self, clause: Clause, types: list[str], a: str) -> Condition:
        if clause.kind == "chain":
            return self._chain(clause, types, a)
        if clause.kind == "has":
            return self._has(clause, types, a)
        if clause.param == "_id":
            return self._id(clause, a)
        if clause.param == "_lastUpdated":
            return self._last_updated(clause, a)
        x = self.alias("x")
        if clause.kind == "reference" and clause.modifier == "identifier":
            pid_sql, pid_params = self.pid_filter(x, types, clause.param + ":identifier")
            table = "ix_token"
        else:
            pid_sql, pid_params = self.pid_filter(x, types, clause.param)
            table = INDEX_TABLE[clause.kind]
        if clause.modifier == "missing":
            missing = clause.values[0].missing  # type: ignore[union-attr]
            exists = f"EXISTS (SELECT 1 FROM {table} {x} WHERE {x}.rid = {a}.rid AND {pid_sql})"
            return Condition(("NOT " if missing else "") + exists, pid_params)
        negate = clause.modifier in ("not", "not-in")
        ors: list[str] = []
        seek_ors: list[str] = []
        params: list[Any] = []
        # In the per-candidate EXISTS, SQLite must seek the clustered key (rid, pid) and filter the
        # values there; left alone it may pick the (pid, code, ...) search index instead and scan
        # every row with that value for each candidate (measured: 78 ms vs 0.1 ms at 1M resources).
        # A unary '+' on the value columns takes them out of index selection, as for '+a.type'.
        seek = "+" + x if self.dialect.name == "sqlite" else x
        value_params: list[list[Any]] = []
        drives = True
        for v in clause.values:
            sql, p, broad = self._value(clause, v, x)
            if broad:  # 'ne': a value outside a range, too wide to drive; checked per candidate
                drives = False
            ors.append(sql)
            seek_ors.append(sql if seek == x else self._value(clause, v, seek)[0])
            params.extend(p)
            value_params.append(p)
        seek_where = f"{pid_sql} AND {any_of(seek_ors)}"
        all_params = pid_params + params
        comp_template, comp_params = self._compartments
        if comp_template and table == "ix_token" and clause.param in compartment.GLOBAL_PARAMETERS:
            comp_template, comp_params = "{x}.comp = ? AND ", [compartment.NONE]  # filed under none
        comp_sql = comp_template.format(x=x)
        if len(ors) > 1:
            # Driving with OR: the pid goes inside each alternative, so every alternative is an index
            # seek of its own (SQLite's MULTI-INDEX OR, PostgreSQL's BitmapOr). "pid = ? AND (a OR b)"
            # made SQLite read every row of the parameter instead: identity linkage's search for a
            # record's blocking keys walked all Patients' identifiers, growing with the database.
            # The compartments go inside too, but not all of them into every alternative: a
            # clinician's population search names ~500 patients, and 500 x 500 placeholders broke
            # SQLite's limit (250,000 here). Each patient alternative carries its own compartment;
            # any other long list falls back to "any compartment", which narrows nothing needed.
            own = self._own_compartments(clause) if comp_params else None
            if own is None and len(comp_params) * len(ors) > MAX_REPEATED_COMPARTMENTS:
                comp_sql, comp_params = f"{x}.comp IN (SELECT comp FROM compartment) AND ", []
            driver_params: list[Any] = []
            alternatives: list[str] = []
            for sql, p in zip(ors, value_params, strict=True):
                if own is not None:
                    one = own[len(alternatives)]
                    alternatives.append(f"({x}.comp IN ({','.join('?' * len(one))}) AND {pid_sql} AND {sql})")
                    driver_params.extend(one)
                else:
                    alternatives.append(f"({comp_sql}{pid_sql} AND {sql})")
                    driver_params.extend(comp_params)
                driver_params.extend(pid_params)
                driver_params.extend(p)
            where = any_of(alternatives)
        else:
            where, driver_params = f"{comp_sql}{pid_sql} AND {ors[0]}", comp_params + all_params
        exists = f"EXISTS (SELECT 1 FROM {table} {x} WHERE {x}.rid = {a}.rid AND {seek_where})"
        if negate:
            return Condition("NOT " + exists, all_params)
        if not drives:
            return Condition(exists, all_params)
        rank = RANK.get(clause.kind, 50)
        if clause.kind == "token" and clause.modifier == "text":
            rank = 8
        return Condition(exists, all_params, rank, f"SELECT {x}.rid FROM {table} {x} WHERE {where}", driver_params)

    def _value(self, clause: Clause, v: Any, x: str) -> tuple[str, list[Any], bool]:
        """SQL on one index row ``{x}`` matching value ``v``, its params, and whether the
        condition is too broad to drive the query (``ne``)."""
        kind = clause.kind
        if kind == "token" or (kind == "reference" and clause.modifier == "identifier"):
            if isinstance(v, StringValue):  # :text
                return (f"({x}.text LIKE ? ESCAPE '\\' OR {x}.text LIKE ? ESCAPE '\\')",
                        [_like(v.text) + "%", "% " + _like(v.text) + "%"], False)
            if clause.modifier in ("below", "above"):
                return self._subsumption(clause.modifier, v, x)
            if clause.modifier in ("in", "not-in"):
                return self._in_value_set(v, x)
            return _token_sql(v, x)
        if kind == "string":
            assert isinstance(v, StringValue)
            if clause.modifier == "exact":
                return f"({x}.norm = ? AND {x}.exact = ?)", [normalise(v.text), v.text], False
            if clause.modifier == "contains":
                return f"{x}.norm LIKE ? ESCAPE '\\'", ["%" + _like(v.text) + "%"], False
            return f"({x}.norm >= ? AND {x}.norm < ?)", [v.text, v.text + TOP], False
        if kind == "date":
            assert isinstance(v, DateValue)
            return _range_sql(v.prefix, f"{x}.lo", f"{x}.hi", v.lo, v.hi)
        if kind in ("number", "quantity"):
            assert isinstance(v, NumberValue | QuantityValue)
            sql, p, broad = _point_sql(v.prefix, f"{x}.value", v.value, v.lo, v.hi)
            if isinstance(v, QuantityValue):
                if v.code is not None:
                    sql += f" AND {x}.code = ?"
                    p.append(v.code)
                if v.system is not None:
                    sql += f" AND {x}.system = ?"
                    p.append(v.system)
                sql = f"({sql})"
            return sql, p, broad
        if kind == "reference":
            assert isinstance(v, ReferenceValue)
            if v.url is not None:
                return f"{x}.tid = ?", [v.url], False
            if v.type is not None:
                return f"({x}.tid = ? AND {x}.ttype = ?)", [v.id, v.type], False
            return f"{x}.tid = ?", [v.id], False
        if kind == "composite":
            assert isinstance(v, CompositeValue)
            return _composite_sql(v, x)
        if kind == "uri":
            assert isinstance(v, UriValue)
            if clause.modifier == "below":
                return f"({x}.uri >= ? AND {x}.uri < ?)", [v.uri, v.uri + TOP], False
            if clause.modifier == "above":
                prefixes = _uri_prefixes(v.uri)
                return f"{x}.uri IN ({','.join('?' * len(prefixes))})", prefixes, False
            return f"{x}.uri = ?", [v.uri], False
        raise bad_request(f"search parameter '{clause.param}' of type {kind} is not supported")

    def _subsumption(self, modifier: str, v: TokenValue, x: str) -> tuple[str, list[Any], bool]:
        """``:below`` / ``:above``: codes in the is-a closure of the terminology tables."""
        from gpbridge.terminology.closure import ancestors_sql, descendants_sql

        closure = descendants_sql if modifier == "below" else ancestors_sql
        sql, params = closure(self.dialect, v.system or "", v.code or "")
        return f"({x}.system = ? AND {x}.code IN ({sql}))", [v.system, *params], False

    def _in_value_set(self, v: UriValue, x: str) -> tuple[str, list[Any], bool]:
        """``:in`` / ``:not-in``: membership of a value set's expansion (404/422 when it has none)."""
        from gpbridge.terminology.service import expand_value_set_codes

        sql, params = expand_value_set_codes(self.store, v.uri)
        return (f"EXISTS (SELECT 1 FROM ({sql}) vs WHERE vs.system = {x}.system AND vs.code = {x}.code)",
                params, False)

    def _id(self, clause: Clause, a: str) -> Condition:
        if clause.modifier == "missing":
            return Condition("1 = 0" if clause.values[0].missing else "1 = 1", [])  # type: ignore[union-attr]
        ids = [v.code for v in clause.values if isinstance(v, TokenValue) and v.code]
        sql, params = _in(f"{a}.id", ids)
        if clause.modifier == "not":
            return Condition(f"NOT ({sql})", params)
        return Condition(sql, params, RANK["_id"])

    def _last_updated(self, clause: Clause, a: str) -> Condition:
        if clause.modifier == "missing":
            return Condition("1 = 0" if clause.values[0].missing else "1 = 1", [])  # type: ignore[union-attr]
        ors, params = [], []
        for v in clause.values:
            assert isinstance(v, DateValue)
            sql, p, _ = _point_range_sql(v.prefix, f"{a}.lu", v.lo, v.hi)
            ors.append(sql)
            params.extend(p)
        return Condition(any_of(ors), params)

    def _chain(self, clause: Clause, types: list[str], a: str) -> Condition:
        x = self.alias("x")
        pid_sql, pid_params = self.pid_filter(x, types, clause.param)
        ors, params = [], []
        for sub in clause.values:
            b = self.alias("b")
            where, p = self.level(sub, b)
            ors.append(f"({x}.ttype = ? AND {x}.tid IN (SELECT {b}.id FROM resource {b} WHERE {where}))")
            params.extend([sub.type, *p])
        where = f"{pid_sql} AND {any_of(ors)}"
        all_params = pid_params + params
        comp_template, comp_params = self._compartments
        return Condition(
            f"EXISTS (SELECT 1 FROM ix_reference {x} WHERE {x}.rid = {a}.rid AND {where})", all_params,
            RANK["chain"], f"SELECT {x}.rid FROM ix_reference {x} WHERE {comp_template.format(x=x)}{where}",
            comp_params + all_params,
        )

    def _has(self, clause: Clause, types: list[str], a: str) -> Condition:
        assert clause.has is not None
        source_type, ref_param = clause.has
        sub: SearchQuery = clause.values[0]
        x, b = self.alias("x"), self.alias("b")
        pid_sql, pid_params = self.pid_filter(x, [source_type], ref_param)
        where, p = self.level(sub, b)
        type_sql, type_params = _in(f"{x}.ttype", types)
        inner = (f"SELECT {x}.tid FROM ix_reference {x} WHERE {pid_sql} AND {type_sql} "
                 f"AND {x}.rid IN (SELECT {b}.rid FROM resource {b} WHERE {where})")
        params = [*pid_params, *type_params, *p]
        return Condition(f"{a}.id IN ({inner})", params, RANK["has"])

    # -- sorting --------------------------------------------------------------------------------
    def sort_terms(self, query: SearchQuery, a: str) -> list[SortTerm]:
        """The ORDER BY keys before ``{a}.rid``: the ``_sort`` keys, or lastUpdated by default."""
        terms: list[SortTerm] = []
        types = self.types_of(query)
        for key in query.sort:
            if key.param == "_id":
                terms.append(SortTerm(f"{a}.id", [], key.descending, False, "text"))
                continue
            if key.param == "_lastUpdated":
                terms.append(SortTerm(f"{a}.lu", [], key.descending, False, "number"))
                continue
            definition = registry.param(types[0], key.param) or {}
            kind = definition.get("type")
            column = {"date": "hi" if key.descending else "lo", "string": "norm", "token": "code",
                      "number": "value", "quantity": "value", "reference": "tid", "uri": "uri"}.get(kind or "")
            if column is None:
                raise bad_request(f"cannot sort by '{key.param}'", "_sort")
            agg = "MAX" if key.descending else "MIN"
            x = self.alias("s")
            pid_sql, pid_params = self.pid_filter(x, types, key.param)
            table = INDEX_TABLE[str(kind)]
            expr = f"(SELECT {agg}({x}.{column}) FROM {table} {x} WHERE {x}.rid = {a}.rid AND {pid_sql})"
            terms.append(SortTerm(expr, pid_params, key.descending, True, ""))
        if not query.sort:
            terms.append(SortTerm(f"{a}.lu", [], False, False, "number"))
        return terms

    def order_by(self, query: SearchQuery, a: str, reverse: bool = False) -> tuple[str, list[Any]]:
        return order_sql(self.sort_terms(query, a), a, reverse)


@dataclass
class SortTerm:
    """One ORDER BY key: a column of the resource row, or a search parameter's MIN/MAX."""

    expr: str
    params: list[Any]
    descending: bool
    nullable: bool  # a parameter's value: NULL for a resource without one, sorted last
    column: str  # "text" / "number": a plain column of the row (its index may be used); "" otherwise


def order_sql(terms: list[SortTerm], a: str, reverse: bool = False) -> tuple[str, list[Any]]:
    """ORDER BY ``terms`` then ``{a}.rid``; ``reverse``: the exact opposite order (for a page
    fetched backwards). A parameter's key sorts resources without a value last, in both
    directions, by an explicit ``IS NULL`` key: SQLite and PostgreSQL place NULLs differently."""
    keys: list[str] = []
    params: list[Any] = []
    for t in terms:
        direction = " DESC" if t.descending != reverse else ""
        if t.nullable:
            keys.append(f"({t.expr} IS NULL){' DESC' if reverse else ''}, {t.expr}{direction}")
            params.extend(t.params + t.params)
        else:
            keys.append(f"{t.expr}{direction}")
            params.extend(t.params)
    keys.append(f"{a}.rid{' DESC' if reverse else ''}")
    return ", ".join(keys), params


def position_sql(terms: list[SortTerm], position: PagePosition, a: str, sqlite: bool,
                 driven: bool) -> tuple[str, list[Any]]:
    """The rows strictly after (``position.forward``) or before a boundary row in the order of
    ``order_sql(terms)``: lexicographic over (keys..., rid), NULLs last as ORDER BY has them.

    With a driving clause, the row's columns are written so no index can use them (``+a.lu``,
    ``(a.lu + 0)``), as ``a.type`` is: the driver keeps driving and the position only filters its
    rows. Without one, a leading column is a range (``a.lu >= ? AND (a.lu > ? OR ...)``) that the
    ``(type, deleted, lu)`` index seeks.
    """
    after = position.forward

    def column(expr: str, kind: str) -> str:
        if not driven or not kind:
            return expr
        if sqlite:
            return "+" + expr
        return f"({expr} || '')" if kind == "text" else f"({expr} + 0)"

    sql = f"{column(a + '.rid', 'number')} {'>' if after else '<'} ?"
    params: list[Any] = [position.rid]
    for t, value in reversed(list(zip(terms, position.keys, strict=True))):
        e, p = column(t.expr, t.column), t.params
        op = ">" if after != t.descending else "<"
        if not t.nullable:
            sql = f"({e} {op}= ? AND ({e} {op} ? OR {sql}))"
            params = [*p, value, *p, value, *params]
        elif value is None:  # the boundary row has no value: it is among the last
            if after:
                sql = f"({e} IS NULL AND {sql})"
                params = [*p, *params]
            else:
                sql = f"({e} IS NOT NULL OR ({e} IS NULL AND {sql}))"
                params = [*p, *p, *params]
        elif after:  # every row without a value comes after one with a value
            sql = f"({e} IS NULL OR {e} {op} ? OR ({e} = ? AND {sql}))"
            params = [*p, *p, value, *p, value, *params]
        else:
            sql = f"({e} {op} ? OR ({e} = ? AND {sql}))"
            params = [*p, value, *p, value, *params]
    return sql, params


# -- SQL fragments ----------------------------------------------------------------------------------
def pid_filter(pids: dict[tuple[str, str], int], x: str, types: list[str], code: str) -> tuple[str, list[Any]]:
    """The condition on ``{x}``'s index rows that answer ``code`` on ``types`` (``1 = 0``: none can).

    A union's rows are its sources' (``search.derived.derived_params``); a reference view's are its
    source's rows whose target type is one of the view's (``reference_views``).
    """
    unions, views = derived_params(), reference_views()
    plain: list[int] = []
    narrowed: list[tuple[int, tuple[str, ...]]] = []
    for t in types:
        view = views.get((t, code))
        if view is not None:
            if (p := pids.get((t, view.source))) is not None:
                narrowed.append((p, view.targets))
            continue
        for c in unions.get((t, code), (code,)):
            if (p := pids.get((t, c))) is not None:
                plain.append(p)
    if not narrowed:
        return _in(f"{x}.pid", plain)
    terms: list[str] = []
    params: list[Any] = []
    if plain:
        plain_sql, plain_params = _in(f"{x}.pid", plain)
        terms.append(plain_sql)
        params.extend(plain_params)
    for pid, targets in narrowed:
        type_sql, type_params = _in(f"{x}.ttype", list(targets))
        terms.append(f"({x}.pid = ? AND {type_sql})")
        params.extend([pid, *type_params])
    return (terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"), params


def _in(column: str, values: list[Any]) -> tuple[str, list[Any]]:
    if not values:
        return "1 = 0", []
    if len(values) == 1:
        return f"{column} = ?", [values[0]]
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _token_sql(v: TokenValue, x: str) -> tuple[str, list[Any], bool]:
    if v.code is None:
        return f"{x}.system = ?", [v.system or ""], False
    if v.system is None:
        return f"{x}.code = ?", [v.code], False
    return f"({x}.code = ? AND {x}.system = ?)", [v.code, v.system], False


def _composite_sql(v: CompositeValue, x: str) -> tuple[str, list[Any], bool]:
    """First component (a token) on system1/code1; the second by its type on the *2 columns."""
    first, second = v.parts[0], v.parts[1] if len(v.parts) > 1 else None
    parts: list[str] = []
    params: list[Any] = []
    if isinstance(first, TokenValue):
        if first.code is not None:
            parts.append(f"{x}.code1 = ?")
            params.append(first.code)
        if first.system is not None:
            parts.append(f"{x}.system1 = ?")
            params.append(first.system)
    broad = False
    if isinstance(second, TokenValue):
        if second.code is not None:
            parts.append(f"{x}.code2 = ?")
            params.append(second.code)
        if second.system is not None:
            parts.append(f"{x}.system2 = ?")
            params.append(second.system)
    elif isinstance(second, NumberValue | QuantityValue):
        sql, p, broad = _point_sql(second.prefix, f"{x}.lo2", second.value, second.lo, second.hi)
        parts.append(sql)
        params.extend(p)
        if isinstance(second, QuantityValue):
            if second.code is not None:
                parts.append(f"{x}.code2 = ?")
                params.append(second.code)
            if second.system is not None:
                parts.append(f"{x}.system2 = ?")
                params.append(second.system)
    elif isinstance(second, DateValue):
        sql, p, broad = _range_sql(second.prefix, f"{x}.lo2", f"{x}.hi2", second.lo, second.hi)
        parts.append(sql)
        params.extend(p)
    elif isinstance(second, StringValue):
        parts.append(f"({x}.text2 >= ? AND {x}.text2 < ?)")
        params.extend([second.text, second.text + TOP])
    elif isinstance(second, ReferenceValue):
        parts.append(f"{x}.code2 = ?")
        params.append(second.url or second.id)
    elif isinstance(second, UriValue):
        parts.append(f"{x}.text2 = ?")
        params.append(second.uri)
    return "(" + " AND ".join(parts or ["1 = 1"]) + ")", params, broad


def _range_sql(prefix: str, lo_col: str, hi_col: str, qlo: float, qhi: float) -> tuple[str, list[Any], bool]:
    """Range-valued index rows [lo, hi) against the search range [qlo, qhi), per FHIR prefixes.

    ``ne`` is a row the search range does not fully contain, not the absence of an ``eq`` row: a
    resource without the element has no row and so never matches (``:missing=true`` finds it).
    The third item is True for ``ne`` only: a complement range must not drive the query.
    """
    if prefix == "eq":
        return f"({lo_col} >= ? AND {hi_col} <= ?)", [qlo, qhi], False
    if prefix == "ne":
        return f"({lo_col} < ? OR {hi_col} > ?)", [qlo, qhi], True
    if prefix == "gt":
        return f"{hi_col} > ?", [qhi], False
    if prefix == "lt":
        return f"{lo_col} < ?", [qlo], False
    if prefix == "ge":
        return f"{hi_col} > ?", [qlo], False
    if prefix == "le":
        return f"{lo_col} < ?", [qhi], False
    if prefix == "sa":
        return f"{lo_col} >= ?", [qhi], False
    if prefix == "eb":
        return f"{hi_col} <= ?", [qlo], False
    # ap: overlaps the search range widened by 10% of its distance from now (at least a day)
    import time

    gap = max(abs(time.time() - qlo) * 0.1, 86400.0)
    return f"({lo_col} < ? AND {hi_col} > ?)", [qhi + gap, qlo - gap], False


def _point_range_sql(prefix: str, col: str, qlo: float, qhi: float) -> tuple[str, list[Any], bool]:
    """A point value (e.g. lastUpdated) against the search range [qlo, qhi); True for ``ne``."""
    if prefix == "ne":
        return f"({col} < ? OR {col} >= ?)", [qlo, qhi], True
    if prefix in ("eq", "ap"):
        return f"({col} >= ? AND {col} < ?)", [qlo, qhi], False
    if prefix in ("gt", "sa"):
        return f"{col} >= ?", [qhi], False
    if prefix in ("lt", "eb"):
        return f"{col} < ?", [qlo], False
    if prefix == "ge":
        return f"{col} >= ?", [qlo], False
    return f"{col} < ?", [qhi], False  # le


def _point_sql(prefix: str, col: str, value: float, lo: float, hi: float) -> tuple[str, list[Any], bool]:
    """A number/quantity value against the search value with its implicit precision range; for
    ``ne`` a value outside it (True: too broad to drive, as in ``_range_sql``)."""
    if prefix == "ne":
        return f"({col} < ? OR {col} >= ?)", [lo, hi], True
    if prefix == "eq":
        return f"({col} >= ? AND {col} < ?)", [lo, hi], False
    if prefix in ("gt", "sa"):
        return f"{col} > ?", [value], False
    if prefix in ("lt", "eb"):
        return f"{col} < ?", [value], False
    if prefix == "ge":
        return f"{col} >= ?", [value], False
    if prefix == "le":
        return f"{col} <= ?", [value], False
    margin = abs(value) * 0.1  # ap: within 10%
    return f"({col} >= ? AND {col} <= ?)", [value - margin, value + margin], False


def _uri_prefixes(uri: str) -> list[str]:
    out = [uri]
    cut = uri.rstrip("/")
    while "/" in cut and not cut.endswith(":/"):
        cut = cut.rsplit("/", 1)[0]
        if cut.endswith(":/") or cut.endswith(":"):
            break
        out.append(cut)
    return out


def any_of(terms: list[str]) -> str:
    """The OR of ``terms`` (parenthesised unless one), nested as a balanced tree: SQLite's parser
    makes a flat chain one level deeper per term and refuses past depth 1,000 (a population
    search ORs ~500 patients); the planner flattens nested ORs, so plans are unchanged."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({any_of(terms[:middle])} OR {any_of(terms[middle:])})"


# -- execution ----------------------------------------------------------------------------------
def execute(cur: Any, store: Any, query: SearchQuery) -> SearchResult:
    d = store.dialect_obj
    b = SqlBuilder(store)
    where, params = b.level(query, "a")
    wants_total = query.total != "none" or query.summary == "count"
    if query.summary == "count" or query.count == 0:
        return SearchResult([], _count(cur, d, where, params) if wants_total else None, [], list(query.ignored))
    terms = b.sort_terms(query, "a")
    position = query.page
    backwards = position is not None and not position.forward
    order, order_params = order_sql(terms, "a", backwards)
    page_where, page_params = where, params
    if position is not None:  # keyset paging: one more condition, ANDed; the query's stay as they are
        at_sql, at_params = position_sql(terms, position, "a", d.name == "sqlite", b.driven.get("a", False))
        page_where, page_params = f"{where} AND {at_sql}", [*params, *at_params]
    # The boundary rows' sort keys come back with the page, for the next and previous links; one
    # row more than the page says whether there is another page in the direction fetched.
    key_columns = "".join(f", {t.expr}" for t in terms)
    key_params: list[Any] = []
    for t in terms:
        key_params.extend(t.params)
    cur.execute(
        d.sql(f"SELECT a.rid, a.type, a.id, a.version, h.last_updated, h.method, h.content{key_columns} "
              f"FROM resource a JOIN history h ON h.rid = a.rid AND h.version = a.version "
              f"WHERE {page_where} ORDER BY {order} LIMIT ? OFFSET ?"),
        [*key_params, *page_params, *order_params, query.count + 1, 0 if position is not None else query.offset],
    )
    rows = cur.fetchall()
    more = len(rows) > query.count
    rows = rows[:query.count]
    if backwards:
        rows.reverse()
    total: int | None = None
    if wants_total:
        # A first page that holds everything is the whole result: no COUNT needed (same snapshot).
        if query.offset == 0 and position is None and not more:
            total = len(rows)
        else:
            total = _count(cur, d, where, params)
    next_page, previous_page = _neighbours(query, rows, len(terms), more)
    matches = [_stored(store, row[:7]) for row in rows]
    included: list[StoredResource] = []
    if query.include or query.revinclude:
        included = _includes(cur, store, query, [(row[0], row[1], row[2]) for row in rows])
    return SearchResult(matches, total, included, list(query.ignored), next_page, previous_page)


def _neighbours(query: SearchQuery, rows: list[tuple], n_keys: int,
                more: bool) -> tuple[PagePosition | None, PagePosition | None]:
    """Where the next and previous pages start: after this page's last row, before its first.
    ``more``: another row lay beyond the page in the direction it was fetched."""
    position = query.page
    forward = position is None or position.forward
    has_next = more if forward else True
    has_previous = (position is not None or query.offset > 0) if forward else more
    if rows:
        first, last = rows[0], rows[-1]
        after_last = PagePosition(True, tuple(last[7:7 + n_keys]), int(last[0]))
        before_first = PagePosition(False, tuple(first[7:7 + n_keys]), int(first[0]))
        return (after_last if has_next else None), (before_first if has_previous else None)
    if position is None:
        return None, None  # an offset past the end: the offset links still serve
    # An empty page from a cursor (its rows were deleted meanwhile): the other way starts at the
    # cursor's own row, inclusive. rid is the last key and a whole number, so "before (k, r + 1)"
    # is "at or before (k, r)".
    if position.forward:
        return None, PagePosition(False, position.keys, position.rid + 1)
    return PagePosition(True, position.keys, position.rid - 1), None


def _count(cur: Any, d: Any, where: str, params: list[Any]) -> int:
    cur.execute(d.sql(f"SELECT COUNT(*) FROM resource a WHERE {where}"), params)
    return int(cur.fetchone()[0])


def _stored(store: Any, row: tuple) -> StoredResource:
    _rid, type_, id_, version, last_updated, method, content = row
    return StoredResource(type_, id_, version, last_updated, False, store.content_bytes(content), method)


def _fetch(cur: Any, store: Any, where: str, params: list[Any]) -> list[tuple]:
    d = store.dialect_obj
    cur.execute(
        d.sql(f"SELECT a.rid, a.type, a.id, a.version, h.last_updated, h.method, h.content "
              f"FROM resource a JOIN history h ON h.rid = a.rid AND h.version = a.version "
              f"WHERE {where} AND a.deleted = 0"),
        params,
    )
    return cur.fetchall()


def _includes(cur: Any, store: Any, query: SearchQuery, page: list[tuple[int, str, str]]) -> list[StoredResource]:
    d = store.dialect_obj
    seen = {rid for rid, _, _ in page}
    out: list[tuple] = []
    frontier = page
    first = True
    while frontier and len(out) < MAX_INCLUDED:
        found: list[tuple] = []
        for inc in query.include:
            if first or inc.iterate:
                found.extend(_forward(cur, store, inc, frontier))
        for inc in query.revinclude:
            if first or inc.iterate:
                found.extend(_reverse(cur, store, inc, frontier))
        new = []
        for row in found:
            if row[0] not in seen:
                seen.add(row[0])
                new.append(row)
        out.extend(new)
        frontier = [(r[0], r[1], r[2]) for r in new]
        first = False
        if not any(i.iterate for i in (*query.include, *query.revinclude)):
            break
    del d
    return [_stored(store, row) for row in out[:MAX_INCLUDED]]


def _reference_filter(store: Any, type_: str, code: str) -> tuple[str, list[Any]]:
    """``x``'s ix_reference rows for ``type_.code``; ``*``: every reference parameter's (a view's
    rows are its source's, so views are left out)."""
    if code == "*":
        views = reference_views()
        pids = [store.pids[(type_, c)] for c, p in registry.params_for(type_).items()
                if p["type"] == "reference" and (type_, c) in store.pids and (type_, c) not in views]
        return _in("x.pid", pids)
    return pid_filter(store.pids, "x", [type_], code)


def _forward(cur: Any, store: Any, inc: Include, frontier: list[tuple[int, str, str]]) -> list[tuple]:
    d = store.dialect_obj
    by_type: dict[str, list[int]] = {}
    for rid, type_, _ in frontier:
        if inc.source_type in ("*", type_):
            by_type.setdefault(type_, []).append(rid)
    targets: set[tuple[str, str]] = set()
    for type_, rids in by_type.items():
        pid_sql, pid_params = _reference_filter(store, type_, inc.param)
        if not pid_params:
            continue
        rid_sql, rid_params = _in("x.rid", rids)
        cur.execute(d.sql(f"SELECT x.ttype, x.tid FROM ix_reference x WHERE {rid_sql} AND {pid_sql}"),
                    rid_params + pid_params)
        for ttype, tid in cur.fetchall():
            if ttype and (inc.target_type is None or inc.target_type == ttype):
                targets.add((ttype, tid))
    rows: list[tuple] = []
    by_target: dict[str, list[str]] = {}
    for ttype, tid in targets:
        by_target.setdefault(ttype, []).append(tid)
    for ttype, ids in by_target.items():
        id_sql, id_params = _in("a.id", ids)
        rows.extend(_fetch(cur, store, f"a.type = ? AND {id_sql}", [ttype, *id_params]))
    return rows


def _reverse(cur: Any, store: Any, inc: Include, frontier: list[tuple[int, str, str]]) -> list[tuple]:
    d = store.dialect_obj
    if inc.source_type == "*":
        return []
    pid_sql, pid_params = _reference_filter(store, inc.source_type, inc.param)
    if not pid_params:
        return []
    by_type: dict[str, list[str]] = {}
    for _rid, type_, id_ in frontier:
        if inc.target_type in (None, type_):
            by_type.setdefault(type_, []).append(id_)
    rows: list[tuple] = []
    for type_, ids in by_type.items():
        id_sql, id_params = _in("x.tid", ids)
        # any compartment: the referring resources may belong to any patient (store.compartment)
        comps = "x.comp IN (SELECT comp FROM compartment) AND " if store.dialect_obj.compartment_indexes else ""
        where = f"a.rid IN (SELECT x.rid FROM ix_reference x WHERE {comps}{pid_sql} AND x.ttype = ? AND {id_sql})"
        rows.extend(_fetch(cur, store, where, [*pid_params, type_, *id_params]))
    del d
    return rows
