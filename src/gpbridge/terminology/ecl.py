"""A subset of SNOMED CT Expression Constraint Language, compiled to a code set.

Supported: focus concepts (``73211009``, with an optional ``|term|``), ``*``, the hierarchy
operators ``<<`` ``<`` ``>>`` ``>`` ``<!`` ``>!`` ``<<!`` ``>>!``, the compound operators ``OR``,
``AND`` (also ``,``) and ``MINUS`` left to right, and parentheses. That covers the value sets UK
Core and GP data actually use (``<< 73211009 MINUS << 11687002``). Refinements (``:``), member-of
(``^``) and cardinalities are refused with a clear 422, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gpbridge.terminology.codeset import (
    Above,
    AllCodes,
    Below,
    Children,
    Codes,
    CodeSet,
    Minus,
    Parents,
    all_of,
    any_of,
)
from gpbridge.terminology.errors import cannot_expand

_TOKEN = re.compile(r"\s*(<<!|>>!|<<|>>|<!|>!|<|>|\(|\)|\*|\^|:|,|\|[^|]*\||\d+|[A-Za-z]+|\S)")
_HIERARCHY = {"<<", "<", ">>", ">", "<!", ">!", "<<!", ">>!"}
_COMPOUND = {"OR", "AND", ",", "MINUS"}


class _Parser:
    def __init__(self, text: str, system: str, sid: int) -> None:
        self.text = text
        self.system = system
        self.sid = sid
        self.tokens = [t for t in _TOKEN.findall(text) if not (t.startswith("|") and t.endswith("|") and len(t) > 1)]
        self.pos = 0

    def fail(self, why: str) -> Exception:
        return cannot_expand(f"ECL '{self.text}': {why} (supported: << < >> > <! >! and OR/AND/MINUS)")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("ends too soon")
        self.pos += 1
        return token

    def expression(self) -> CodeSet:
        node = self.sub()
        while (op := self.peek()) is not None and op.upper() in _COMPOUND:
            self.take()
            right = self.sub()
            op = op.upper()
            node = any_of([node, right]) if op == "OR" else Minus(node, right) if op == "MINUS" else all_of([node, right])
        return node

    def sub(self) -> CodeSet:
        token = self.take()
        if token == "(":
            node = self.expression()
            if self.take() != ")":
                raise self.fail("a '(' is not closed")
            return node
        operator = None
        if token in _HIERARCHY:
            operator, token = token, self.take()
        if token == "(":
            raise self.fail("a hierarchy operator on a bracketed expression is not supported")
        if token in ("^", ":"):
            raise self.fail(f"'{token}' (member-of / refinement) is not supported")
        if token == "*":
            return AllCodes(self.system, self.sid)
        if not token.isdigit():
            raise self.fail(f"'{token}' is not a concept id")
        nxt = self.peek()
        if nxt in ("^", ":"):
            raise self.fail(f"'{nxt}' (member-of / refinement) is not supported")
        return self.focus(operator, token)

    def focus(self, operator: str | None, code: str) -> CodeSet:
        s, sid = self.system, self.sid
        make: dict[str | None, Callable[[], CodeSet]] = {
            None: lambda: Codes(s, (code,)),
            "<<": lambda: Below(s, sid, code, True),
            "<": lambda: Below(s, sid, code, False),
            ">>": lambda: Above(s, sid, code, True),
            ">": lambda: Above(s, sid, code, False),
            "<!": lambda: Children(s, sid, code),
            ">!": lambda: Parents(s, sid, code),
            "<<!": lambda: any_of([Codes(s, (code,)), Children(s, sid, code)]),
            ">>!": lambda: any_of([Codes(s, (code,)), Parents(s, sid, code)]),
        }
        return make[operator]()


def parse_ecl(text: str, system: str, sid: int) -> CodeSet:
    parser = _Parser(text, system, sid)
    if not parser.tokens:
        raise parser.fail("is empty")
    node = parser.expression()
    if parser.peek() is not None:
        raise parser.fail(f"unexpected '{parser.peek()}'")
    return node
