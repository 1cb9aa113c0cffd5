"""Code sets: the algebra a ValueSet compose (or an ECL expression) compiles to.

A code set is a small tree — literal codes, "every code of a system", "X and its descendants",
direct children, a property value, and union / intersection / difference — with two readings:

- ``set_sql``: a SELECT of (system, code) rows, for ``$expand`` paging and for search ``:in``
  (the database does the set algebra with the closure, so a 100k-code SNOMED CT subtree is never
  pulled into Python);
- ``contains``: does one (system, code) belong? Evaluated leaf by leaf with primary-key probes,
  so ``$validate-code`` and the validator's binding checks stay sub-millisecond even for huge sets.

SQL uses ``?`` placeholders (the caller rewrites for the driver). On PostgreSQL, literal text is
cast to ``COLLATE "C"`` so it unions and compares with the byte-wise key columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpbridge.fhir.outcome import FhirError
from gpbridge.store.dialect import Dialect
from gpbridge.terminology.closure import SUBSUMPTION_KINDS

MAX_PARAMS = 30_000  # below SQLite's default limit on bound variables (32,766)


@dataclass(frozen=True, slots=True)
class Codes:
    system: str
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllCodes:
    system: str
    sid: int


@dataclass(frozen=True, slots=True)
class Below:
    """``code`` and (``include_self``) every code that is a kind of it."""

    system: str
    sid: int
    code: str
    include_self: bool = True


@dataclass(frozen=True, slots=True)
class Above:
    """``code`` and (``include_self``) every code it is a kind of."""

    system: str
    sid: int
    code: str
    include_self: bool = True


@dataclass(frozen=True, slots=True)
class Children:
    system: str
    sid: int
    code: str


@dataclass(frozen=True, slots=True)
class Parents:
    system: str
    sid: int
    code: str


@dataclass(frozen=True, slots=True)
class PropertyIn:
    system: str
    sid: int
    property: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KindIs:
    """dm+d class (VTM, VMP, AMP) of the concept."""

    system: str
    sid: int
    kind: str


@dataclass(frozen=True, slots=True)
class ActiveIs:
    system: str
    sid: int
    active: bool


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[CodeSet, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[CodeSet, ...]


@dataclass(frozen=True, slots=True)
class Minus:
    left: CodeSet
    right: CodeSet


CodeSet = Codes | AllCodes | Below | Above | Children | Parents | PropertyIn | KindIs | ActiveIs | AnyOf | AllOf | Minus
EMPTY = Codes("", ())


def any_of(parts: list[CodeSet]) -> CodeSet:
    parts = [p for p in parts if p != EMPTY]
    return EMPTY if not parts else parts[0] if len(parts) == 1 else AnyOf(tuple(parts))


def all_of(parts: list[CodeSet]) -> CodeSet:
    return EMPTY if not parts else parts[0] if len(parts) == 1 else AllOf(tuple(parts))


# -- SQL --------------------------------------------------------------------------------------------
def set_sql(node: CodeSet, dialect: Dialect) -> tuple[str, list[Any]]:
    """``SELECT system, code ...`` for the set, with its parameters (``?`` placeholders)."""
    params: list[Any] = []
    sql = _sql(node, dialect, params)
    if len(params) > MAX_PARAMS:
        raise FhirError.of(422, "too-costly", f"the value set lists too many codes to evaluate ({len(params):,} "
                           "parameters); split it or make it intensional")
    return sql, params


def _lit(dialect: Dialect) -> str:
    return 'CAST(? AS TEXT) COLLATE "C"' if dialect.name == "postgresql" else "CAST(? AS TEXT)"


def _col(expr: str, dialect: Dialect) -> str:
    return f'CAST({expr} AS TEXT) COLLATE "C"' if dialect.name == "postgresql" else expr


def _sql(node: CodeSet, d: Dialect, p: list[Any]) -> str:
    lit = _lit(d)
    if isinstance(node, Codes):
        if not node.codes:
            p.extend(["", ""])
            return f"SELECT {lit} AS system, {lit} AS code WHERE 1 = 0"
        p.append(node.system)
        p.extend(node.codes)
        values = ", ".join("(?)" for _ in node.codes)
        return f"SELECT {lit} AS system, {_col('v.column1', d)} AS code FROM (VALUES {values}) AS v"
    if isinstance(node, AllCodes):
        p.extend([node.system, node.sid])
        return f"SELECT {lit} AS system, code FROM tx_concept WHERE sid = ?"
    if isinstance(node, Below | Above):
        this, other = ("descendant", "ancestor") if isinstance(node, Below) else ("ancestor", "descendant")
        p.extend([node.system, node.sid, node.code])
        sql = f"SELECT {lit} AS system, {this} AS code FROM tx_closure WHERE sid = ? AND {other} = ?"
        if not node.include_self:
            sql += f" AND {this} <> ?"
            p.append(node.code)
        return sql
    if isinstance(node, Children | Parents):
        this, other = ("child", "parent") if isinstance(node, Children) else ("parent", "child")
        p.extend([node.system, node.sid, node.code, *SUBSUMPTION_KINDS])
        marks = ",".join("?" * len(SUBSUMPTION_KINDS))
        return (f"SELECT DISTINCT {lit} AS system, {this} AS code FROM tx_edge "
                f"WHERE sid = ? AND {other} = ? AND kind IN ({marks})")
    if isinstance(node, PropertyIn):
        p.extend([node.system, node.sid, node.property, *node.values])
        marks = ",".join("?" * len(node.values))
        return (f"SELECT DISTINCT {lit} AS system, code FROM tx_property "
                f"WHERE sid = ? AND property = ? AND value IN ({marks})")
    if isinstance(node, KindIs):
        p.extend([node.system, node.sid, node.kind])
        return f"SELECT {lit} AS system, code FROM tx_concept WHERE sid = ? AND kind = ?"
    if isinstance(node, ActiveIs):
        p.extend([node.system, node.sid, int(node.active)])
        return f"SELECT {lit} AS system, code FROM tx_concept WHERE sid = ? AND active = ?"
    if isinstance(node, AnyOf | AllOf):
        op = " UNION " if isinstance(node, AnyOf) else " INTERSECT "
        return op.join(_wrapped(part, d, p, n) for n, part in enumerate(node.parts))
    if isinstance(node, Minus):
        return f"{_wrapped(node.left, d, p, 0)} EXCEPT {_wrapped(node.right, d, p, 1)}"
    raise TypeError(f"not a code set: {node!r}")


def _wrapped(node: CodeSet, d: Dialect, p: list[Any], n: int) -> str:
    # SQLite cannot parenthesise compound SELECTs: nest each operand as a derived table instead.
    return f"SELECT system, code FROM ({_sql(node, d, p)}) AS s{n}"


# -- membership -------------------------------------------------------------------------------------
def contains(node: CodeSet, system: str, code: str, cur: Any, dialect: Dialect) -> bool:
    """Is (system, code) in the set? Each leaf is one indexed probe at most."""
    if isinstance(node, AnyOf):
        return any(contains(part, system, code, cur, dialect) for part in node.parts)
    if isinstance(node, AllOf):
        return all(contains(part, system, code, cur, dialect) for part in node.parts)
    if isinstance(node, Minus):
        return contains(node.left, system, code, cur, dialect) and not contains(node.right, system, code, cur, dialect)
    if node.system != system:
        return False
    if isinstance(node, Codes):
        return code in node.codes
    if isinstance(node, Below | Above):
        if code == node.code:
            return node.include_self and _exists(cur, dialect, "tx_concept", "sid = ? AND code = ?", (node.sid, code))
        ancestor, descendant = (node.code, code) if isinstance(node, Below) else (code, node.code)
        return _exists(cur, dialect, "tx_closure", "sid = ? AND ancestor = ? AND descendant = ?",
                       (node.sid, ancestor, descendant))
    if isinstance(node, Children | Parents):
        child, parent = (code, node.code) if isinstance(node, Children) else (node.code, code)
        marks = ",".join("?" * len(SUBSUMPTION_KINDS))
        return _exists(cur, dialect, "tx_edge", f"sid = ? AND child = ? AND parent = ? AND kind IN ({marks})",
                       (node.sid, child, parent, *SUBSUMPTION_KINDS))
    if isinstance(node, AllCodes):
        return _exists(cur, dialect, "tx_concept", "sid = ? AND code = ?", (node.sid, code))
    if isinstance(node, PropertyIn):
        marks = ",".join("?" * len(node.values))
        return _exists(cur, dialect, "tx_property", f"sid = ? AND code = ? AND property = ? AND value IN ({marks})",
                       (node.sid, code, node.property, *node.values))
    if isinstance(node, KindIs):
        return _exists(cur, dialect, "tx_concept", "sid = ? AND code = ? AND kind = ?", (node.sid, code, node.kind))
    if isinstance(node, ActiveIs):
        return _exists(cur, dialect, "tx_concept", "sid = ? AND code = ? AND active = ?",
                       (node.sid, code, int(node.active)))
    raise TypeError(f"not a code set: {node!r}")


def _exists(cur: Any, dialect: Dialect, table: str, where: str, params: tuple) -> bool:
    cur.execute(dialect.sql(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1"), params)
    return cur.fetchone() is not None
