"""Flink SQL data types as written in YAML (`DOUBLE`, `ARRAY<ROW<name STRING, n INT>>`, ...).

A small recursive-descent parser turns the text into a `FlinkType` tree; `FlinkType.sql()`
renders it back with every ROW field name quoted, so a field name can never break out of
the type. Unknown type names are errors, not pass-through text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from flinksql_gen.sql.quoting import has_control_character, quote_identifier

# name -> (min params, max params)
_SIMPLE = {
    "STRING": (0, 0),
    "BOOLEAN": (0, 0),
    "TINYINT": (0, 0),
    "SMALLINT": (0, 0),
    "INT": (0, 0),
    "INTEGER": (0, 0),
    "BIGINT": (0, 0),
    "FLOAT": (0, 0),
    "DOUBLE": (0, 0),
    "DATE": (0, 0),
    "BYTES": (0, 0),
    "CHAR": (0, 1),
    "VARCHAR": (0, 1),
    "BINARY": (0, 1),
    "VARBINARY": (0, 1),
    "DECIMAL": (0, 2),
    "TIME": (0, 1),
    "TIMESTAMP": (0, 1),
    "TIMESTAMP_LTZ": (0, 1),
}
_ALIASES = {"INTEGER": "INT", "DOUBLE PRECISION": "DOUBLE"}
NUMERIC = {"TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL"}
INTEGRAL = {"TINYINT", "SMALLINT", "INT", "BIGINT"}
TEMPORAL = {"DATE", "TIME", "TIMESTAMP", "TIMESTAMP_LTZ"}
STRINGY = {"STRING", "CHAR", "VARCHAR"}


@dataclass(frozen=True)
class FlinkType:
    name: str
    params: tuple[int, ...] = ()
    element: FlinkType | None = None  # ARRAY element / MAP value
    key: FlinkType | None = None  # MAP key
    fields: tuple[tuple[str, FlinkType], ...] = ()  # ROW fields
    not_null: bool = False

    def sql(self) -> str:
        if self.name == "ARRAY":
            text = f"ARRAY<{self.element.sql()}>"
        elif self.name == "MAP":
            text = f"MAP<{self.key.sql()}, {self.element.sql()}>"
        elif self.name == "ROW":
            text = "ROW<" + ", ".join(f"{quote_identifier(n)} {t.sql()}" for n, t in self.fields) + ">"
        elif self.params:
            text = f"{self.name}({', '.join(str(p) for p in self.params)})"
        else:
            text = self.name
        return text + (" NOT NULL" if self.not_null else "")

    def nullable(self) -> FlinkType:
        return FlinkType(self.name, self.params, self.element, self.key, self.fields, False)

    @property
    def is_numeric(self) -> bool:
        return self.name in NUMERIC

    @property
    def is_integral(self) -> bool:
        return self.name in INTEGRAL

    @property
    def is_string(self) -> bool:
        return self.name in STRINGY

    @property
    def is_temporal(self) -> bool:
        return self.name in TEMPORAL

    def __str__(self) -> str:
        return self.sql()


STRING = FlinkType("STRING")
BIGINT = FlinkType("BIGINT")
DOUBLE = FlinkType("DOUBLE")
BOOLEAN = FlinkType("BOOLEAN")
TIMESTAMP3 = FlinkType("TIMESTAMP", (3,))
TIMESTAMP_LTZ3 = FlinkType("TIMESTAMP_LTZ", (3,))

_TOKEN = re.compile(r"\s*(?:(`(?:[^`]|``)*`)|([A-Za-z_][A-Za-z0-9_]*)|(\d+)|([<>(),]))")


class TypeSyntaxError(ValueError):
    pass


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m:
                raise TypeSyntaxError(f"unexpected character {text[pos:].lstrip()[0]!r} at position {pos + 1}")
            kind = "quoted" if m.group(1) else "word" if m.group(2) else "int" if m.group(3) else "punct"
            self.tokens.append((kind, m.group(m.lastindex), m.start(m.lastindex)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise TypeSyntaxError(f"unexpected end of type, expected {value or 'more'}")
        if value is not None and tok[1].upper() != value:
            raise TypeSyntaxError(f"expected {value!r} at position {tok[2] + 1}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> FlinkType:
        t = self.type_()
        if self.peek() is not None:
            tok = self.peek()
            raise TypeSyntaxError(f"unexpected {tok[1]!r} at position {tok[2] + 1}")
        return t

    def type_(self) -> FlinkType:
        kind, word, pos = self.take()
        if kind != "word":
            raise TypeSyntaxError(f"expected a type name at position {pos + 1}, found {word!r}")
        name = word.upper()
        if name == "DOUBLE" and self.peek() and self.peek()[1].upper() == "PRECISION":
            self.take()
        name = _ALIASES.get(name, name)
        if name == "ARRAY":
            self.take("<")
            element = self.type_()
            self.take(">")
            result = FlinkType("ARRAY", element=element)
        elif name == "MAP":
            self.take("<")
            key = self.type_()
            self.take(",")
            value = self.type_()
            self.take(">")
            result = FlinkType("MAP", key=key, element=value)
        elif name == "ROW":
            result = FlinkType("ROW", fields=self._row_fields())
        elif name in _SIMPLE:
            result = FlinkType(name, self._parameters(name))
        else:
            known = ", ".join(sorted(set(_SIMPLE) - {"INTEGER"} | {"ARRAY<T>", "MAP<K, V>", "ROW<name T, ...>"}))
            raise TypeSyntaxError(f"unknown type {word!r}; known types: {known}")
        if self.peek() and self.peek()[1].upper() == "NOT":
            self.take("NOT")
            self.take("NULL")
            result = FlinkType(result.name, result.params, result.element, result.key, result.fields, True)
        return result

    def _row_fields(self) -> tuple[tuple[str, FlinkType], ...]:
        """`<name T, ...>` of a ROW; names may be backquoted."""
        self.take("<")
        fields: list[tuple[str, FlinkType]] = []
        while True:
            k, fname, fpos = self.take()
            if k == "quoted":
                fname = fname[1:-1].replace("``", "`")
                if has_control_character(fname):
                    raise TypeSyntaxError("ROW field names cannot contain control characters")
            elif k != "word":
                raise TypeSyntaxError(f"expected a field name at position {fpos + 1}, found {fname!r}")
            if fname in (f for f, _ in fields):
                raise TypeSyntaxError(f"ROW field {fname!r} appears twice")
            fields.append((fname, self.type_()))
            if self.peek() and self.peek()[1] == ",":
                self.take(",")
                continue
            self.take(">")
            return tuple(fields)

    def _parameters(self, name: str) -> tuple[int, ...]:
        """The optional `(n, ...)` of a simple type, checked against how many it takes."""
        lo, hi = _SIMPLE[name]
        params: list[int] = []
        if self.peek() and self.peek()[1] == "(":
            self.take("(")
            while True:
                k, num, npos = self.take()
                if k != "int":
                    raise TypeSyntaxError(f"expected a number at position {npos + 1}, found {num!r}")
                params.append(int(num))
                if self.peek() and self.peek()[1] == ",":
                    self.take(",")
                    continue
                self.take(")")
                break
        if not lo <= len(params) <= hi:
            raise TypeSyntaxError(f"{name} takes {hi if lo == hi else f'{lo} to {hi}'} parameter(s), got {len(params)}")
        return tuple(params)


def parse_type(text: str) -> FlinkType:
    if not isinstance(text, str) or not text.strip():
        raise TypeSyntaxError("a type must be a non-empty text such as STRING, DOUBLE or ARRAY<STRING>")
    return _parse_type(text)


@lru_cache(maxsize=1024)  # FlinkType is immutable; the same few types recur in every pipeline
def _parse_type(text: str) -> FlinkType:
    return _Parser(text).parse()
