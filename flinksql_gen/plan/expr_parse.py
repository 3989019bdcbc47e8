"""The expression language of definitions, parsed into a tree (never spliced into SQL as text).

    revenue_drop:   sum(amount) FILTER (WHERE status = 'paid')
    failed_ratio:   failed_orders / orders
    slow:           latency_ms > 250 AND endpoint LIKE '/api/%'
    p95_latency:    percentile(latency_ms, 0.95)

Grammar (SQL-like; keywords are case-insensitive):

    expr     := or
    or       := and (OR and)*
    and      := not (AND not)*
    not      := NOT not | compare
    compare  := sum [cmp sum | IS [NOT] NULL | [NOT] IN (expr, ...) | [NOT] LIKE expr
                     | [NOT] BETWEEN sum AND sum]
    sum      := product ((+ | - | ||) product)*
    product  := unary ((* | / | %) unary)*
    unary    := - unary | + unary | primary
    primary  := number | 'string' | TRUE | FALSE | NULL | name | `quoted name`
              | CASE (WHEN expr THEN expr)+ [ELSE expr] END
              | name ( [DISTINCT] [* | expr (, expr)*] ) [FILTER (WHERE expr)]
              | ( expr )

Every node carries the character offset where it starts, so errors point into the YAML value.
`plan/expr_render.py` checks names and types against a schema and renders SQL from the tree,
quoting every name and literal itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

MAX_LENGTH = 4000  # an expression is a formula, not a program
MAX_DEPTH = 60


class ExprError(ValueError):
    """A problem in an expression, at character `offset` of its text."""

    def __init__(self, message: str, offset: int, hint: str = ""):
        super().__init__(message)
        self.message, self.offset, self.hint = message, offset, hint


class ExprSyntaxError(ExprError):
    """The text is not an expression of the grammar above."""


# ---------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Literal(Node):
    value: int | float | Decimal | str | bool | None


@dataclass(frozen=True)
class Column(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-", "+", "NOT"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / % || = <> < <= > >= AND OR LIKE
    left: Node
    right: Node


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negated: bool


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True)
class Between(Node):
    operand: Node
    low: Node
    high: Node
    negated: bool


@dataclass(frozen=True)
class Case(Node):
    whens: tuple[tuple[Node, Node], ...]
    otherwise: Node | None


@dataclass(frozen=True)
class Call(Node):
    name: str  # lower case
    args: tuple[Node, ...]
    star: bool = False
    distinct: bool = False
    filter: Node | None = None


# ---------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>`(?:[^`]|``)+`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|==|\|\||[-+*/%(),=<>])
    """,
    re.VERBOSE,
)
KEYWORDS = frozenset(
    ["AND", "OR", "NOT", "IS", "NULL", "IN", "LIKE", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END", "TRUE", "FALSE", "DISTINCT", "FILTER", "WHERE"]
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, quoted, name, keyword, op, end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise ExprSyntaxError(f"the expression is {len(text)} characters long, over the {MAX_LENGTH} limit", 0)
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            char = text[pos]
            hint = "write text in single quotes, names as they are or in `backticks`"
            if char == '"':
                hint = "text is written in single quotes: 'failed'"
            raise ExprSyntaxError(f"unexpected character {char!r}", pos, hint)
        kind = m.lastgroup or ""
        if kind != "space":
            value = m.group()
            if kind == "name" and value.upper() in KEYWORDS:
                kind, value = "keyword", value.upper()
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# ---------------------------------------------------------------------------- the parser

_COMPARE = {"=": "=", "==": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _at(self, kind: str, *texts: str) -> bool:
        return self.tok.kind == kind and (not texts or self.tok.text in texts)

    def _accept(self, kind: str, *texts: str) -> Token | None:
        return self._next() if self._at(kind, *texts) else None

    def _expect(self, kind: str, text: str) -> Token:
        if not self._at(kind, text):
            raise ExprSyntaxError(f"expected {text!r}, found {self._describe()}", self.tok.pos)
        return self._next()

    def _describe(self) -> str:
        return "the end of the expression" if self.tok.kind == "end" else repr(self.tok.text)

    def parse(self) -> Node:
        node = self.expr()
        if self.tok.kind != "end":
            raise ExprSyntaxError(f"unexpected {self._describe()}", self.tok.pos,
                                  "combine conditions with AND / OR, values with + - * /")  # fmt: skip
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprSyntaxError(f"nested more than {MAX_DEPTH} levels deep", self.tok.pos)
        try:
            return self._or()
        finally:
            self.depth -= 1

    def _or(self) -> Node:
        node = self._and()
        while tok := self._accept("keyword", "OR"):
            node = Binary(tok.pos, "OR", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while tok := self._accept("keyword", "AND"):
            node = Binary(tok.pos, "AND", node, self._not())
        return node

    def _not(self) -> Node:
        if tok := self._accept("keyword", "NOT"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprSyntaxError(f"nested more than {MAX_DEPTH} levels deep", tok.pos)
            try:
                return Unary(tok.pos, "NOT", self._not())
            finally:
                self.depth -= 1
        return self._compare()

    def _compare(self) -> Node:
        left = self._sum()
        if tok := self._accept("op", *_COMPARE):
            return Binary(tok.pos, _COMPARE[tok.text], left, self._sum())
        if tok := self._accept("keyword", "IS"):
            negated = bool(self._accept("keyword", "NOT"))
            self._expect("keyword", "NULL")
            return IsNull(tok.pos, left, negated)
        negated_tok = self._accept("keyword", "NOT")
        if tok := self._accept("keyword", "IN"):
            self._expect("op", "(")
            items = [self.expr()]
            while self._accept("op", ","):
                items.append(self.expr())
            self._expect("op", ")")
            return InList(tok.pos, left, tuple(items), negated_tok is not None)
        if tok := self._accept("keyword", "LIKE"):
            node: Node = Binary(tok.pos, "LIKE", left, self._sum())
            return Unary(negated_tok.pos, "NOT", node) if negated_tok else node
        if tok := self._accept("keyword", "BETWEEN"):
            low = self._sum()
            self._expect("keyword", "AND")
            return Between(tok.pos, left, low, self._sum(), negated_tok is not None)
        if negated_tok is not None:
            raise ExprSyntaxError("expected IN, LIKE or BETWEEN after NOT", self.tok.pos)
        return left

    def _sum(self) -> Node:
        node = self._product()
        while tok := self._accept("op", "+", "-", "||"):
            node = Binary(tok.pos, tok.text, node, self._product())
        return node

    def _product(self) -> Node:
        node = self._unary()
        while tok := self._accept("op", "*", "/", "%"):
            node = Binary(tok.pos, tok.text, node, self._unary())
        return node

    def _unary(self) -> Node:
        if tok := self._accept("op", "-", "+"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprSyntaxError(f"nested more than {MAX_DEPTH} levels deep", tok.pos)
            try:
                return Unary(tok.pos, tok.text, self._unary())
            finally:
                self.depth -= 1
        return self._primary()

    def _primary(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self._next()
            return Literal(tok.pos, _number(tok.text))
        if tok.kind == "string":
            self._next()
            return Literal(tok.pos, tok.text[1:-1].replace("''", "'"))
        if tok.kind == "quoted":
            self._next()
            return self._after_name(tok, tok.text[1:-1].replace("``", "`"), quoted=True)
        if tok.kind == "keyword" and tok.text in ("TRUE", "FALSE", "NULL"):
            self._next()
            return Literal(tok.pos, {"TRUE": True, "FALSE": False, "NULL": None}[tok.text])
        if tok.kind == "keyword" and tok.text == "CASE":
            return self._case()
        if tok.kind == "name":
            self._next()
            return self._after_name(tok, tok.text, quoted=False)
        if self._accept("op", "("):
            node = self.expr()
            self._expect("op", ")")
            return node
        raise ExprSyntaxError(f"expected a value, a column or a function, found {self._describe()}", tok.pos)

    def _after_name(self, tok: Token, name: str, quoted: bool) -> Node:
        if quoted or not self._at("op", "("):
            return Column(tok.pos, name)
        self._next()  # (
        distinct = bool(self._accept("keyword", "DISTINCT"))
        star = False
        args: list[Node] = []
        if self._accept("op", "*"):
            star = True
        elif not self._at("op", ")"):
            args.append(self.expr())
            while self._accept("op", ","):
                args.append(self.expr())
        self._expect("op", ")")
        filter_ = None
        if self._accept("keyword", "FILTER"):
            self._expect("op", "(")
            self._expect("keyword", "WHERE")
            filter_ = self.expr()
            self._expect("op", ")")
        return Call(tok.pos, name.lower(), tuple(args), star, distinct, filter_)

    def _case(self) -> Node:
        start = self._next()
        whens = []
        while self._accept("keyword", "WHEN"):
            cond = self.expr()
            self._expect("keyword", "THEN")
            whens.append((cond, self.expr()))
        if not whens:
            raise ExprSyntaxError("CASE needs at least one WHEN ... THEN ...", self.tok.pos)
        otherwise = self.expr() if self._accept("keyword", "ELSE") else None
        self._expect("keyword", "END")
        return Case(start.pos, tuple(whens), otherwise)


def _number(text: str) -> int | float | Decimal:
    if re.fullmatch(r"\d+", text):
        return int(text)
    if "e" in text.lower():
        return float(text)
    return Decimal(text)


def parse_expression(text: str) -> Node:
    """The tree of one expression; raises ExprSyntaxError with the offset of the problem."""
    if not text.strip():
        raise ExprSyntaxError("the expression is empty", 0)
    return _Parser(text).parse()
