"""Expression trees (plan/expr_parse.py) checked against a schema and rendered as Flink SQL.

Names are looked up in the schema (unknown ones get a did-you-mean), types are checked, and the
SQL is written from the tree: every column through `quote_identifier` (or the scope's
reference function), every literal through `quoting.literal`, every operator parenthesised, and
only functions from the whitelist below. No text of the expression is copied into SQL.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from flinksql_gen.models.types import BIGINT, BOOLEAN, DOUBLE, STRING, FlinkType
from flinksql_gen.plan.expr_parse import (
    Between,
    Binary,
    Call,
    Case,
    Column,
    ExprError,
    InList,
    IsNull,
    Literal,
    Node,
    Unary,
)
from flinksql_gen.plan.plan import Schema
from flinksql_gen.sql.quoting import literal, quote_identifier

NULL = FlinkType("NULL")
INT = FlinkType("INT")


@dataclass(frozen=True)
class Scope:
    """What an expression may refer to, and how a column is written in SQL."""

    schema: Schema
    ref: Callable[[str], str] = quote_identifier
    aggregates: bool = False  # aggregate functions allowed (a metric's aggregates)
    in_aggregate: bool = False  # inside an aggregate's argument: no nesting
    percentile: bool = True  # the engine has PERCENTILE (Flink 2.0+; not Aiven's 1.20)
    # Planner-written SQL every aggregate also filters on (the current slice of a filled window).
    slice_filter: str | None = None


# Aggregates: name -> (min args, max args). count(*) and count(DISTINCT x) are special forms.
AGGREGATES = {
    "count": (0, 1), "count_distinct": (1, 1), "count_if": (1, 1), "sum": (1, 1), "sum_if": (2, 2),
    "avg": (1, 1), "min": (1, 1), "max": (1, 1), "stddev": (1, 1), "variance": (1, 1), "stddev_pop": (1, 1),
    "stddev_samp": (1, 1), "var_pop": (1, 1), "var_samp": (1, 1),
    "percentile": (2, 2), "p50": (1, 1), "p75": (1, 1), "p90": (1, 1), "p95": (1, 1), "p99": (1, 1),
    "listagg": (1, 2), "first_value": (1, 1), "last_value": (1, 1),
}  # fmt: skip
# Functions with a fixed signature: name -> (SQL name, argument kinds, result type (None: the
# first argument's), fewest arguments).
_SIGNATURES: dict[str, tuple[str, tuple[str, ...], FlinkType | None, int]] = {
    **{n: (n.upper(), ("number",), None, 1) for n in ("abs", "ceil", "floor", "sign")},
    **{n: (n.upper(), ("number",), DOUBLE, 1) for n in ("sqrt", "ln", "log10", "exp")},
    "power": ("POWER", ("number", "number"), DOUBLE, 2),
    **{n: (n.upper(), ("text",), STRING, 1) for n in ("lower", "upper", "trim")},
    "char_length": ("CHAR_LENGTH", ("text",), INT, 1),
    "substr": ("SUBSTR", ("text", "number", "number"), STRING, 2),
    "replace": ("REPLACE", ("text", "text", "text"), STRING, 3),
    **{n: (n.upper(), ("time",), BIGINT, 1)
       for n in ("hour", "minute", "second", "dayofweek", "dayofmonth", "month", "year")},
    "date_format": ("DATE_FORMAT", ("time", "text"), STRING, 2),
}  # fmt: skip
_CASTS = {"to_double": DOUBLE, "to_bigint": BIGINT, "to_string": STRING}
SCALAR_FUNCTIONS = sorted([*_SIGNATURES, *_CASTS, "round", "greatest", "least", "coalesce", "nullif", "concat"])


def render_expression(node: Node, scope: Scope) -> tuple[str, FlinkType]:
    """SQL for the expression and its type; raises ExprError at the offending node."""
    sql, typ, unsupported = render_for_target(node, scope)
    if unsupported:
        raise unsupported[0]
    return sql, typ


def render_for_target(node: Node, scope: Scope) -> tuple[str, FlinkType, list[ExprError]]:
    """Like render_expression, but what the target's engine lacks (percentiles on Flink 1.20) is
    returned as a list instead of raised: the SQL is complete, so planning can go on and report
    every other problem of the pipeline too."""
    renderer = _Renderer(scope)
    sql, typ = renderer.render(node)
    return sql, typ, renderer.unsupported


def _family(t: FlinkType) -> str:
    if t.name == "NULL":
        return "null"
    if t.is_numeric:
        return "number"
    if t.is_string:
        return "text"
    if t.name == "BOOLEAN":
        return "boolean"
    if t.is_temporal:
        return "time"
    return t.name.lower()


def _numeric_result(a: FlinkType, b: FlinkType) -> FlinkType:
    if "DOUBLE" in (a.name, b.name) or "FLOAT" in (a.name, b.name):
        return DOUBLE
    if "DECIMAL" in (a.name, b.name):
        scale = max((t.params[1] if len(t.params) > 1 else 0) for t in (a, b) if t.name == "DECIMAL")
        return FlinkType("DECIMAL", (38, scale))
    return BIGINT


class _Renderer:
    def __init__(self, scope: Scope, unsupported: list[ExprError] | None = None):
        self.scope = scope
        self.unsupported: list[ExprError] = [] if unsupported is None else unsupported

    def render(self, node: Node) -> tuple[str, FlinkType]:
        method = getattr(self, f"_{type(node).__name__.lower()}")
        return method(node)

    def _need(self, node: Node, family: str, what: str) -> tuple[str, FlinkType]:
        sql, t = self.render(node)
        if _family(t) not in (family, "null"):
            raise ExprError(f"{what} needs a {family} value, but this is {t.nullable().sql()}", node.pos)
        return sql, t

    # -- leaves

    def _literal(self, node: Literal) -> tuple[str, FlinkType]:
        value = node.value
        if value is None:
            return "NULL", NULL
        if isinstance(value, bool):
            return literal(value), BOOLEAN
        if isinstance(value, int):
            return literal(value), INT if abs(value) < 2**31 else BIGINT
        if isinstance(value, Decimal):
            exponent = value.as_tuple().exponent
            scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
            return literal(value), FlinkType("DECIMAL", (38, scale))
        if isinstance(value, float):
            return literal(value), DOUBLE
        return literal(value), STRING

    def _column(self, node: Column) -> tuple[str, FlinkType]:
        col = self.scope.schema.get(node.name)
        if col is None:
            names = self.scope.schema.names()
            close = difflib.get_close_matches(node.name, names, n=1)
            hint = (f"did you mean {close[0]!r}? " if close else "") + f"columns here: {', '.join(names)}"
            raise ExprError(f"unknown column {node.name!r}", node.pos, hint)
        return self.scope.ref(node.name), col.type.nullable()

    # -- operators

    def _unary(self, node: Unary) -> tuple[str, FlinkType]:
        if node.op == "NOT":
            sql, _ = self._need(node.operand, "boolean", "NOT")
            return f"(NOT {sql})", BOOLEAN
        sql, t = self._need(node.operand, "number", f"unary {node.op}")
        return f"({node.op}{sql})", t

    def _binary(self, node: Binary) -> tuple[str, FlinkType]:
        op = node.op
        if op in ("AND", "OR"):
            left, _ = self._need(node.left, "boolean", op)
            right, _ = self._need(node.right, "boolean", op)
            return f"({left} {op} {right})", BOOLEAN
        if op == "LIKE":
            left, _ = self._need(node.left, "text", "LIKE")
            right, _ = self._need(node.right, "text", "LIKE")
            return f"({left} LIKE {right})", BOOLEAN
        if op == "||":
            parts = [self._as_text(n) for n in (node.left, node.right)]
            return f"({parts[0]} || {parts[1]})", STRING
        if op in ("=", "<>", "<", "<=", ">", ">="):
            left, right = self._comparable(node.left, node.right, node.pos, op)
            return f"({left} {op} {right})", BOOLEAN
        left, lt = self._need(node.left, "number", f"'{op}'")
        right, rt = self._need(node.right, "number", f"'{op}'")
        if op == "/":  # always a real division, and never a division by zero (NULL instead)
            return f"(CAST({left} AS DOUBLE) / NULLIF(CAST({right} AS DOUBLE), 0))", DOUBLE
        if op == "%":
            if not (lt.is_integral or lt.name == "NULL") or not (rt.is_integral or rt.name == "NULL"):
                raise ExprError("'%' needs whole numbers", node.pos, "use to_bigint(...) first")
            return f"MOD({left}, NULLIF({right}, 0))", BIGINT
        return f"({left} {op} {right})", _numeric_result(lt, rt)

    def _as_text(self, node: Node) -> str:
        sql, t = self.render(node)
        return sql if t.is_string else f"CAST({sql} AS STRING)"

    def _comparable(self, a: Node, b: Node, pos: int, what: str) -> tuple[str, str]:
        left, lt = self.render(a)
        right, rt = self.render(b)
        fa, fb = _family(lt), _family(rt)
        if "null" in (fa, fb):
            raise ExprError(f"comparing with NULL is never true: write IS NULL or IS NOT NULL ({what})", pos)
        if fa == fb:
            return left, right
        # A time column compared with a text literal: the literal is read as a time.
        if fa == "time" and fb == "text" and isinstance(b, Literal):
            return left, f"CAST({right} AS {lt.nullable().sql()})"
        if fb == "time" and fa == "text" and isinstance(a, Literal):
            return f"CAST({left} AS {rt.nullable().sql()})", right
        raise ExprError(f"cannot compare {lt.nullable().sql()} with {rt.nullable().sql()}", pos,
                        "quote text values, leave numbers unquoted")  # fmt: skip

    def _isnull(self, node: IsNull) -> tuple[str, FlinkType]:
        sql, _ = self.render(node.operand)
        return f"({sql} IS {'NOT ' if node.negated else ''}NULL)", BOOLEAN

    def _inlist(self, node: InList) -> tuple[str, FlinkType]:
        left = None
        items = []
        for item in node.items:
            left, right = self._comparable(node.operand, item, item.pos, "IN")
            items.append(right)
        return f"({left} {'NOT IN' if node.negated else 'IN'} ({', '.join(items)}))", BOOLEAN

    def _between(self, node: Between) -> tuple[str, FlinkType]:
        left, low = self._comparable(node.operand, node.low, node.low.pos, "BETWEEN")
        _, high = self._comparable(node.operand, node.high, node.high.pos, "BETWEEN")
        return f"({left} {'NOT BETWEEN' if node.negated else 'BETWEEN'} {low} AND {high})", BOOLEAN

    def _case(self, node: Case) -> tuple[str, FlinkType]:
        parts = []
        results: list[tuple[Node, str, FlinkType]] = []
        for cond, value in node.whens:
            cond_sql, _ = self._need(cond, "boolean", "WHEN")
            value_sql, value_t = self.render(value)
            parts.append(f"WHEN {cond_sql} THEN {value_sql}")
            results.append((value, value_sql, value_t))
        if node.otherwise is not None:
            sql, t = self.render(node.otherwise)
            results.append((node.otherwise, sql, t))
        result_t = self._common_type(results)
        else_sql = f" ELSE {results[-1][1]}" if node.otherwise is not None else ""
        return f"(CASE {' '.join(parts)}{else_sql} END)", result_t

    def _common_type(self, results: list[tuple[Node, str, FlinkType]]) -> FlinkType:
        typed = [(n, t) for n, _, t in results if t.name != "NULL"]
        if not typed:
            raise ExprError("every branch is NULL: the type cannot be known", results[0][0].pos)
        first_node, first = typed[0]
        out = first
        for n, t in typed[1:]:
            if _family(t) != _family(first):
                raise ExprError(f"branches have different types: {first.nullable().sql()} and {t.nullable().sql()}",
                                n.pos)  # fmt: skip
            if _family(t) == "number":
                out = _numeric_result(out, t) if out != t else out
            elif t.nullable() != out.nullable():
                out = STRING if _family(t) == "text" else out
        del first_node
        return out.nullable()

    # -- calls

    def _call(self, node: Call) -> tuple[str, FlinkType]:
        if node.name in AGGREGATES:
            return self._aggregate(node)
        if node.star or node.distinct or node.filter is not None:
            raise ExprError(f"{node.name}(...) is not an aggregate: '*', DISTINCT and FILTER do not apply", node.pos)
        return self._scalar(node)

    def _arity(self, node: Call, low: int, high: int) -> None:
        if not low <= len(node.args) <= high:
            count = str(low) if low == high else f"{low} to {high}"
            raise ExprError(f"{node.name}(...) takes {count} argument(s), got {len(node.args)}", node.pos)

    def _scalar(self, node: Call) -> tuple[str, FlinkType]:
        name = node.name
        if name in _SIGNATURES:  # fixed signatures: check each argument's kind, write the call
            sql_name, kinds, result, least = _SIGNATURES[name]
            self._arity(node, least, len(kinds))
            args = [self._need(a, kind, f"{name}(...)") for a, kind in zip(node.args, kinds, strict=False)]
            return f"{sql_name}({', '.join(s for s, _ in args)})", result or args[0][1]
        if name == "round":
            self._arity(node, 1, 2)
            value, t = self._need(node.args[0], "number", "round(...)")
            digits = node.args[1] if len(node.args) == 2 else Literal(node.pos, 0)
            if not isinstance(digits, Literal) or not isinstance(digits.value, int):
                raise ExprError("round(x, digits) needs a whole number of digits", digits.pos)
            return f"ROUND({value}, {literal(digits.value)})", t
        if name in ("greatest", "least", "coalesce"):
            self._arity(node, 1, 64)
            rendered = [(a, *self.render(a)) for a in node.args]
            return f"{name.upper()}({', '.join(s for _, s, _ in rendered)})", self._common_type(rendered)
        if name == "nullif":
            self._arity(node, 2, 2)
            left, right = self._comparable(node.args[0], node.args[1], node.pos, "nullif")
            return f"NULLIF({left}, {right})", self.render(node.args[0])[1]
        if name == "concat":
            self._arity(node, 1, 64)
            return f"CONCAT({', '.join(self._as_text(a) for a in node.args)})", STRING
        if name in _CASTS:
            self._arity(node, 1, 1)
            return f"CAST({self.render(node.args[0])[0]} AS {_CASTS[name].sql()})", _CASTS[name]
        close = difflib.get_close_matches(name, [*SCALAR_FUNCTIONS, *AGGREGATES], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ExprError(f"unknown function {name!r}", node.pos,
                        hint + "functions: " + ", ".join(SCALAR_FUNCTIONS) + "; aggregates: " + ", ".join(AGGREGATES))  # fmt: skip

    def _aggregate(self, node: Call) -> tuple[str, FlinkType]:
        name = node.name
        if not self.scope.aggregates:
            raise ExprError(f"{name}(...) is an aggregate, which is not allowed here", node.pos,
                            "aggregates belong in a metric's `aggregates`; refer to them by name elsewhere")  # fmt: skip
        if self.scope.in_aggregate:
            raise ExprError(f"{name}(...) inside another aggregate", node.pos, "aggregates cannot be nested")
        inner = _Renderer(replace(self.scope, in_aggregate=True), self.unsupported)
        low, high = AGGREGATES[name]
        if node.star:
            if name != "count" or node.args:
                raise ExprError("only count(*) takes '*'", node.pos)
            return self._with_filter(inner, node, "COUNT(*)", BIGINT)
        inner._arity(node, max(low, 1) if name == "count" else low, high)
        if node.distinct and name not in ("count",):
            raise ExprError("DISTINCT applies to count only: count(DISTINCT x)", node.pos)
        args = node.args
        if name in ("count_if", "sum_if"):
            condition = args[-1]
            filtered = Call(node.pos, "count" if name == "count_if" else "sum", args[:-1], star=name == "count_if",
                            filter=condition if node.filter is None else Binary(node.pos, "AND", node.filter, condition))  # fmt: skip
            return self._aggregate(filtered)
        if name == "count_distinct":
            return self._aggregate(replace(node, name="count", distinct=True))
        if name in ("p50", "p75", "p90", "p95", "p99"):
            fraction = Literal(node.pos, Decimal(f"0.{name[1:]}"))
            return self._aggregate(replace(node, name="percentile", args=(args[0], fraction)))
        arg, t = inner.render(args[0])
        if name == "count":
            return self._with_filter(inner, node, f"COUNT({'DISTINCT ' if node.distinct else ''}{arg})", BIGINT)
        if name in ("min", "max", "first_value", "last_value"):
            return self._with_filter(inner, node, f"{name.upper()}({arg})", t.nullable())
        if name == "listagg":
            text = arg if t.is_string else f"CAST({arg} AS STRING)"
            sep = ""
            if len(args) == 2:
                if not isinstance(args[1], Literal) or not isinstance(args[1].value, str):
                    raise ExprError("listagg's separator must be a text literal", args[1].pos)
                sep = f", {literal(args[1].value)}"
            return self._with_filter(inner, node, f"LISTAGG({text}{sep})", STRING)
        if _family(t) != "number":
            raise ExprError(f"{name}(...) needs a number, but this is {t.nullable().sql()}", args[0].pos)
        if name == "sum":
            if t.name == "DECIMAL":
                scale = t.params[1] if len(t.params) > 1 else 0
                return self._with_filter(inner, node, f"SUM({arg})", FlinkType("DECIMAL", (38, scale)))
            return self._with_filter(inner, node, f"SUM({arg})", t.nullable())
        as_double = arg if t.name == "DOUBLE" else f"CAST({arg} AS DOUBLE)"
        if name == "percentile":
            if not self.scope.percentile:
                self.unsupported.append(ExprError(
                    "percentiles need Flink 2.0's PERCENTILE, which this target's Flink lacks", node.pos,
                    "Aiven runs Flink 1.20: compute percentiles on the local, cluster or gateway target"))  # fmt: skip
            fraction = args[1]
            value = fraction.value if isinstance(fraction, Literal) else None
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or not 0 <= value <= 1:
                raise ExprError("percentile(x, p) needs a literal p between 0 and 1, e.g. 0.95", fraction.pos)
            return self._with_filter(inner, node, f"PERCENTILE({as_double}, {literal(value)})", DOUBLE)
        # avg, stddev, variance (and their _pop/_samp forms): in DOUBLE, so integers are not truncated.
        return self._with_filter(inner, node, f"{name.upper()}({as_double})", DOUBLE)

    def _with_filter(self, inner: _Renderer, node: Call, sql: str, t: FlinkType) -> tuple[str, FlinkType]:
        conditions = [inner._need(node.filter, "boolean", "FILTER (WHERE ...)")[0]] if node.filter else []
        if self.scope.slice_filter:
            conditions.append(self.scope.slice_filter)
        if not conditions:
            return sql, t
        condition = conditions[0] if len(conditions) == 1 else f"({' AND '.join(conditions)})"
        return f"{sql} FILTER (WHERE {condition})", t
