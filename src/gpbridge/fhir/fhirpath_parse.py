"""A small FHIRPath parser: text -> syntax tree, for the compiler in ``fhirpath_compile``.

It reads the whole FHIRPath expression grammar the compiler might meet (operators with the
specification's precedence, functions, indexers, literals, ``%vars``, ``$this``); deciding what can
be compiled natively is the compiler's job, so the parser rejects only what it cannot read
(e.g. date/quantity literals), which sends the expression to the fhirpathpy fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class FhirPathSyntaxError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class Member:
    base: Node
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    base: Node | None  # None: invoked on the focus ($this)
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Index:
    base: Node
    index: Node


@dataclass(frozen=True, slots=True)
class TypeOp:
    op: str  # "is" | "as"
    base: Node
    type_name: str


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any  # str | int | float | bool | None (None: the empty collection ``{}``)


@dataclass(frozen=True, slots=True)
class Var:
    name: str  # "resource", "context", "this", ...


Node = Ident | Member | Call | Index | TypeOp | Binary | Literal | Var

# Binding powers, FHIRPath spec section 6 (higher binds tighter).
_INFIX = {
    "implies": 1,
    "or": 2,
    "xor": 2,
    "and": 3,
    "in": 4,
    "contains": 4,
    "=": 5,
    "~": 5,
    "!=": 5,
    "!~": 5,
    "<": 6,
    ">": 6,
    "<=": 6,
    ">=": 6,
    "|": 7,
    "is": 8,
    "as": 8,
    "+": 9,
    "-": 9,
    "&": 9,
    "*": 10,
    "/": 10,
    "div": 10,
    "mod": 10,
}

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<num>\d+(?:\.\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<quoted>`(?:[^`\\]|\\.)*`)
    | (?P<ext>%(?:[A-Za-z_][A-Za-z0-9_]*|'(?:[^'\\]|\\.)*'))
    | (?P<special>\$[A-Za-z]+)
    | (?P<op>!=|!~|<=|>=|[=~<>|.()\[\],+\-*/&{}])
    )""",
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", lambda m: _unescape_one(m.group(1)), body)


def _unescape_one(seq: str) -> str:
    if seq.startswith("u") and len(seq) == 5:
        return chr(int(seq[1:], 16))
    return _ESCAPES.get(seq, seq)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FhirPathSyntaxError(f"cannot read {text[pos:]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FhirPathSyntaxError("unexpected end of expression")
        self.pos += 1
        return tok

    def expect(self, value: str) -> None:
        kind, text = self.take()
        if text != value or kind not in ("op",):
            raise FhirPathSyntaxError(f"expected {value!r}, got {text!r}")

    def name(self) -> str:
        kind, text = self.take()
        if kind == "ident":
            return text
        if kind == "quoted":
            return _unescape(text[1:-1])
        raise FhirPathSyntaxError(f"expected a name, got {text!r}")

    def type_name(self) -> str:
        parts = [self.name()]
        while self.peek() == ("op", "."):
            self.take()
            parts.append(self.name())
        return ".".join(parts)

    def expression(self, min_power: int = 0) -> Node:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok is None:
                return left
            kind, text = tok
            if kind == "op" and text == ".":
                self.take()
                name = self.name()
                if self.peek() == ("op", "("):
                    left = Call(left, name, self.arguments())
                else:
                    left = Member(left, name)
                continue
            if kind == "op" and text == "[":
                self.take()
                index = self.expression()
                self.expect("]")
                left = Index(left, index)
                continue
            power = _INFIX.get(text) if kind in ("op", "ident") else None
            if power is None or power <= min_power:
                return left
            self.take()
            if text in ("is", "as"):
                left = TypeOp(text, left, self.type_name())
            else:
                left = Binary(text, left, self.expression(power))

    def arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        if self.peek() == ("op", ")"):
            self.take()
            return ()
        while True:
            args.append(self.expression())
            kind, text = self.take()
            if text == ")":
                return tuple(args)
            if text != ",":
                raise FhirPathSyntaxError(f"expected ',' or ')', got {text!r}")

    def prefix(self) -> Node:
        kind, text = self.take()
        if kind == "str":
            return Literal(_unescape(text[1:-1]))
        if kind == "num":
            return Literal(float(text) if "." in text else int(text))
        if kind == "ext":
            name = text[1:]
            return Var(_unescape(name[1:-1]) if name.startswith("'") else name)
        if kind == "special":
            return Var(text[1:])
        if kind in ("ident", "quoted"):
            name = text if kind == "ident" else _unescape(text[1:-1])
            if kind == "ident" and name in ("true", "false"):
                return Literal(name == "true")
            if self.peek() == ("op", "("):
                return Call(None, name, self.arguments())
            return Ident(name)
        if text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if text == "{":
            self.expect("}")
            return Literal(None)
        if text in ("-", "+"):
            operand = self.expression(10)
            return Binary("*", Literal(-1 if text == "-" else 1), operand)
        raise FhirPathSyntaxError(f"unexpected {text!r}")


def parse(text: str) -> Node:
    """Parse one FHIRPath expression; raises FhirPathSyntaxError on anything unreadable."""
    parser = _Parser(text)
    node = parser.expression()
    if parser.peek() is not None:
        raise FhirPathSyntaxError(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return node


def unparse(node: Node) -> str:
    """Canonical text for a tree: equal texts mean equal expressions (used to share evaluation)."""
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Member):
        return f"{unparse(node.base)}.{node.name}"
    if isinstance(node, Call):
        args = ",".join(unparse(a) for a in node.args)
        call = f"{node.name}({args})"
        return call if node.base is None else f"{unparse(node.base)}.{call}"
    if isinstance(node, Index):
        return f"{unparse(node.base)}[{unparse(node.index)}]"
    if isinstance(node, TypeOp):
        return f"({unparse(node.base)} {node.op} {node.type_name})"
    if isinstance(node, Binary):
        return f"({unparse(node.left)} {node.op} {unparse(node.right)})"
    if isinstance(node, Literal):
        return "{}" if node.value is None else repr(node.value)
    return f"%{node.name}"
