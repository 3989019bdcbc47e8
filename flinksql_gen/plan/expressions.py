"""Conditions, aggregates and message templates rendered to SQL with type checks."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from flinksql_gen.errors import Problem
from flinksql_gen.load.yaml_loader import PathKey, dotted
from flinksql_gen.models.pipeline import AggregateSpec, Condition
from flinksql_gen.models.types import FlinkType
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.expr_parse import (
    Call,
    Column,
    ExprError,
    Literal,
    Node,
    parse_expression,
)
from flinksql_gen.plan.expr_render import Scope, render_for_target
from flinksql_gen.plan.expr_tree import is_aggregate
from flinksql_gen.plan.plan import Schema
from flinksql_gen.sql.quoting import literal, quote_identifier, quote_string

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
    ctx: PlanContext, spec: AggregateSpec | str, schema: Schema, path: PathKey, slice_filter: str | None = None
) -> tuple[str, FlinkType] | None:
    """SQL of an aggregate over `schema` and its result type. The structured form and the
    shorthand `fn(column)` become the same expression tree as any other aggregate expression."""
    if isinstance(spec, str):
        node = parse_at(ctx, spec, path)
        if node is None:
            return None
        if not is_aggregate(node):
            ctx.error(path, f"{spec!r} has no aggregate function",
                      "aggregates summarise rows, e.g. sum(amount), count(*), p95(latency_ms); "
                      "row-level formulas go in `computed`")  # fmt: skip
            return None
    else:
        args: tuple[Node, ...] = (Column(0, spec.column),) if spec.column is not None else ()
        if spec.separator is not None:
            args += (Literal(0, spec.separator),)
        node = Call(0, spec.fn, args, star=spec.column is None)
        path = (*path, "column") if spec.column is not None else path
    scope = Scope(schema, aggregates=True, percentile=not ctx.aiven, slice_filter=slice_filter)
    return render_at(ctx, node, scope, path)


def render_predicate(
    ctx: PlanContext, cond: Condition | str, schema: Schema, path: PathKey,
    expr: Callable[[str], str] = quote_identifier, aggregates: bool = False,
) -> str | None:  # fmt: skip
    """A filter condition, structured or written as an expression, as a SQL predicate."""
    if isinstance(cond, Condition):
        return render_condition(ctx, cond, schema, path, expr)
    node = parse_at(ctx, cond, path)
    if node is None:
        return None
    scope = Scope(schema, ref=expr, aggregates=aggregates, percentile=not ctx.aiven)
    rendered = render_at(ctx, node, scope, path, want="boolean")
    return rendered[0] if rendered else None


def parse_at(ctx: PlanContext, text: str, path: PathKey) -> Node | None:
    """The tree of an expression at `path`; a syntax error becomes a problem at its character."""
    try:
        return parse_expression(text)
    except ExprError as exc:
        _expression_problem(ctx, path, exc.message, exc.offset, exc.hint)
        return None


def render_at(
    ctx: PlanContext, node: Node, scope: Scope, path: PathKey, want: str | None = None
) -> tuple[str, FlinkType] | None:
    """Render an expression tree; a name or type error becomes a problem at its character."""
    try:
        sql, typ, unsupported = render_for_target(node, scope)
    except ExprError as exc:
        _expression_problem(ctx, path, exc.message, exc.offset, exc.hint)
        return None
    for exc in unsupported:  # reported, but planning goes on (see render_for_target)
        _expression_problem(ctx, path, exc.message, exc.offset, exc.hint)
    if want == "boolean" and typ.name != "BOOLEAN":
        _expression_problem(ctx, path, f"a condition must be true or false, but this is {typ.nullable().sql()}",
                            0, "compare it, e.g. amount > 100")  # fmt: skip
        return None
    return sql, typ


def _expression_problem(ctx: PlanContext, path: PathKey, message: str, offset: int, hint: str) -> None:
    ctx.problems.append(Problem(ctx.positions.in_value(path, offset), dotted(path), message, hint))


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
