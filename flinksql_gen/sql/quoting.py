"""Quoting and escaping: the only way values from YAML reach SQL text.

Identifiers are wrapped in backticks with embedded backticks doubled; string literals in
single quotes with embedded quotes doubled; numbers are rendered from parsed numeric
values only. Control characters that Flink's lexer would not accept raw inside a literal
are rendered with Flink's unicode escape form (U&'\\000A').
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import lru_cache

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NEEDS_ESCAPE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


# What may end a `--` comment, for Flink's lexer or for an editor, plus `${` (so a file name can
# never hold a secret reference that `secrets.resolve` would fill in).
_COMMENT_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]|\$\{")


def comment_text(text: str) -> str:
    """User text that is safe inside a `--` line comment: line breaks and control characters are
    shown as \\uXXXX escapes, so the text can never end the comment and start a statement."""
    return _COMMENT_UNSAFE.sub(lambda m: "$\\{" if m.group() == "${" else f"\\u{ord(m.group()):04X}", text)


def has_control_character(text: str) -> bool:
    """A character Flink's lexer refuses raw, even inside backticks (U+0000-U+001F, U+007F)."""
    return _CONTROL.search(text) is not None


@lru_cache(maxsize=4096)  # the same names are quoted many times per pipeline
def quote_identifier(name: str) -> str:
    if not isinstance(name, str) or name == "":
        raise ValueError("an identifier must be a non-empty string")
    if has_control_character(name):
        raise ValueError("an identifier cannot contain control characters (Flink's lexer refuses them)")
    return "`" + name.replace("`", "``") + "`"


def _needs_unicode_escape(text: str) -> bool:
    return _NEEDS_ESCAPE.search(text) is not None


def quote_string(value: str) -> str:
    """A SQL string literal whose value is exactly `value`."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("a string literal cannot contain a NUL character")
    if not _needs_unicode_escape(value):
        return "'" + value.replace("'", "''") + "'"
    # U&'...' with backslash escapes for every character outside printable ASCII-safe ones.
    out = []
    for c in value:
        code = ord(c)
        if c == "'":
            out.append("''")
        elif c == "\\":
            out.append("\\\\")
        elif code < 32 or code == 127:
            out.append(f"\\{code:04X}")
        else:
            out.append(c)
    return "U&'" + "".join(out) + "'"


@lru_cache(maxsize=4096)  # option keys and values recur in every table of every pipeline
def option_string(value: str) -> str:
    """A connector option value: a plain quoted literal (control characters are refused)."""
    if _needs_unicode_escape(value) or "\x00" in value:
        raise ValueError("connector option values cannot contain control characters")
    return "'" + value.replace("'", "''") + "'"


def set_statement(key: str, value: str) -> str:
    """The one form of a SET statement, `SET 'key' = 'value'` (no trailing semicolon). Key and value
    are option strings: control characters are refused (the planner reports them at their YAML line)."""
    return f"SET {option_string(key)} = {option_string(value)}"


def list_option(values: list[str]) -> str:
    """A list-valued connector option (e.g. key.fields), as Flink's StructuredOptionsSplitter reads
    it: ';'-separated, an element holding ';', a quote or edge spaces wrapped in double quotes with
    inner double quotes doubled. Verified on Flink 2.0 with key fields named `"`, `a;b`, `it's`, `x"y`."""
    def element(v: str) -> str:
        if v and v == v.strip() and not any(c in v for c in ";'\""):
            return v
        return '"' + v.replace('"', '""') + '"'

    return ";".join(element(v) for v in values)


def number_literal(value: int | float | Decimal) -> str:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        text = repr(value)
        # Flink reads 1e+20 as an approximate DOUBLE literal; plain decimals are exact DECIMAL.
        return text
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return format(value, "f")
    raise TypeError(f"expected a number, got {type(value).__name__}")


def literal(value: object) -> str:
    """Any scalar YAML value as a SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float, Decimal)):
        return number_literal(value)
    if isinstance(value, str):
        return quote_string(value)
    raise TypeError(f"cannot write a {type(value).__name__} as a SQL literal")
