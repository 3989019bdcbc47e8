"""Conditions, aggregates and message templates rendered to SQL with type checks."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from flinksql_gen.load.yaml_loader import PathKey
from flinksql_gen.models.pipeline import AggregateSpec, Condition
from flinksql_gen.models.types import BIGINT, DOUBLE, STRING, FlinkType
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.plan import Schema
from flinksql_gen.render.quoting import literal, quote_identifier, quote_string

_SQL_OPS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def column_hint(name: str, schema: Schema) -> str:
    names = schema.names()
    close = difflib.get_close_matches(name, names, n=1)
    listing = f"columns here: {', '.join(names)}"
    return f"did you mean {close[0]!r}? {listing}" if close else listing


def require_column(ctx: PlanContext, schema: Schema, name: str, path: PathKey, what: str = "column") -> FlinkType | None:
    col = schema.get(name)
    if col is None:
        ctx.error(path, f"unknown {what} {name!r}", column_hint(name, schema))
        return None
    return col.type


def _value_fits(ctx: PlanContext, col_type: FlinkType, value: object, path: PathKey, column: str) -> bool:
    if isinstance(value, str) and "${" in value:
        ctx.error(path, "environment references (${...}) are only allowed in connection settings")
        return False
    if col_type.is_numeric:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif col_type.name == "BOOLEAN":
        ok = isinstance(value, bool)
    elif col_type.is_string or col_type.is_temporal:
        ok = isinstance(value, str)
    else:
        ctx.error(path, f"column {column!r} has type {col_type}, which cannot be compared with a value")
        return False
    if not ok:
        ctx.error(path, f"{value!r} cannot be compared with column {column!r} of type {col_type}",
                  "quote text values, leave numbers unquoted")  # fmt: skip
    return ok


def _value_sql(col_type: FlinkType, value: object) -> str:
    if col_type.is_temporal:
        return f"CAST({literal(value)} AS {col_type.nullable().sql()})"
    return literal(value)


def render_condition(
    ctx: PlanContext,
    cond: Condition,
    schema: Schema,
    path: PathKey,
    expr: Callable[[str], str] = quote_identifier,
) -> str | None:
    """`cond` as a SQL predicate; `expr` maps a column name to its SQL (e.g. an aggregate)."""
    col_type = require_column(ctx, schema, cond.column, (*path, "column"))
    if col_type is None:
        return None
    lhs = expr(cond.column)
    if cond.op == "is_null":
        return f"{lhs} IS NULL"
    if cond.op == "is_not_null":
        return f"{lhs} IS NOT NULL"
    if cond.op in ("in", "not_in"):
        values = list(cond.value)  # type: ignore[arg-type]
        if not all(_value_fits(ctx, col_type, v, (*path, "value", i), cond.column) for i, v in enumerate(values)):
            return None
        keyword = "IN" if cond.op == "in" else "NOT IN"
        return f"{lhs} {keyword} ({', '.join(_value_sql(col_type, v) for v in values)})"
    if cond.op == "like":
        if not col_type.is_string:
            ctx.error((*path, "op"), f"`like` needs a text column; {cond.column!r} has type {col_type}")
            return None
        return f"{lhs} LIKE {quote_string(cond.value)}"  # type: ignore[arg-type]
    if not _value_fits(ctx, col_type, cond.value, (*path, "value"), cond.column):
        return None
    return f"{lhs} {_SQL_OPS[cond.op]} {_value_sql(col_type, cond.value)}"


def render_aggregate(
    ctx: PlanContext, spec: AggregateSpec, schema: Schema, path: PathKey
) -> tuple[str, FlinkType] | None:
    """SQL of an aggregate over `schema` and its result type."""
    if spec.fn == "count" and spec.column is None:
        return "COUNT(*)", BIGINT
    col_type = require_column(ctx, schema, spec.column or "", (*path, "column"))
    if col_type is None:
        return None
    col = quote_identifier(spec.column or "")
    fn = spec.fn
    if fn == "count":
        return f"COUNT({col})", BIGINT
    if fn == "count_distinct":
        return f"COUNT(DISTINCT {col})", BIGINT
    if fn in ("min", "max"):
        return f"{fn.upper()}({col})", col_type.nullable()
    if fn == "listagg":
        arg = col if col_type.is_string else f"CAST({col} AS STRING)"
        sep = f", {quote_string(spec.separator)}" if spec.separator is not None else ""
        return f"LISTAGG({arg}{sep})", STRING
    if not col_type.is_numeric:
        ctx.error((*path, "column"), f"`{fn}` needs a numeric column; {spec.column!r} has type {col_type}")
        return None
    if fn == "sum":
        if col_type.name == "DECIMAL":
            scale = col_type.params[1] if len(col_type.params) > 1 else 0
            return f"SUM({col})", FlinkType("DECIMAL", (38, scale))
        return f"SUM({col})", col_type.nullable()
    # avg, stddev, variance: computed in DOUBLE so integer inputs are not truncated.
    arg = col if col_type.name == "DOUBLE" else f"CAST({col} AS DOUBLE)"
    return f"{fn.upper()}({arg})", DOUBLE


def parse_message(template: str) -> list[tuple[str, str | None]]:
    """Split `text {column} text` into (text, column) parts; `{{` and `}}` are literal braces.

    A column reference is everything between `{` and the next `}`, so any column name works.
    """
    parts: list[tuple[str, str | None]] = []
    text: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c in "{}" and template[i + 1 : i + 2] == c:
            text.append(c)
            i += 2
        elif c == "{":
            end = template.find("}", i + 1)
            if end < 0:
                raise ValueError(f"unclosed '{{' at position {i + 1}")
            parts.append(("".join(text), template[i + 1 : end]))
            text = []
            i = end + 1
        elif c == "}":
            raise ValueError(f"single '}}' at position {i + 1}")
        else:
            text.append(c)
            i += 1
    if text:
        parts.append(("".join(text), None))
    return parts


def render_message(ctx: PlanContext, template: str, schema: Schema, path: PathKey, prefix: str = "") -> str | None:
    """A message with {column} placeholders as a CONCAT of escaped literals and casted columns."""
    try:
        parsed = parse_message(template)
    except ValueError as exc:
        ctx.error(path, f"message template: {exc}", "write {column} to insert a value, {{ and }} for braces")
        return None
    parts: list[str] = []
    ok = True
    for text, field_name in parsed:
        if text:
            parts.append(quote_string(text))
        if field_name is None:
            continue
        col = schema.get(field_name)
        if col is None:
            ctx.error(path, f"message template: unknown column {field_name!r}", column_hint(field_name, schema))
            ok = False
            continue
        ref = f"{prefix}{quote_identifier(field_name)}"
        value = ref if col.type.is_string else f"CAST({ref} AS STRING)"
        parts.append(f"COALESCE({value}, 'null')")
    if not ok:
        return None
    if not parts:
        return "''"
    return parts[0] if len(parts) == 1 else f"CONCAT({', '.join(parts)})"
