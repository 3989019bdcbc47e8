"""Metrics: a source, unnests, filters, dimensions, aggregates over a window or none."""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from flinksql_gen.models.common import Duration, Name, parse_duration
from flinksql_gen.models.fields import ColumnName, Scalar, Strict

_OPS = {
    "=": "eq", "==": "eq", "eq": "eq",
    "!=": "ne", "<>": "ne", "ne": "ne",
    ">": "gt", "gt": "gt",
    ">=": "ge", "ge": "ge",
    "<": "lt", "lt": "lt",
    "<=": "le", "le": "le",
    "in": "in", "not_in": "not_in", "not in": "not_in",
    "is_null": "is_null", "is_not_null": "is_not_null",
    "like": "like",
}  # fmt: skip
Op = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "is_null", "is_not_null", "like"]
OpInput = Literal[tuple(_OPS)]  # what YAML may say, symbols included (for the JSON Schema)


def normalise_op(value: Any) -> Any:
    return _OPS.get(value.strip().lower(), value) if isinstance(value, str) else value


class Condition(Strict):
    """`column op value`; several conditions are combined with AND."""

    column: ColumnName = Field(description="the column to test (an aggregate or dimension in a having detector)")
    op: Annotated[Op, BeforeValidator(normalise_op, json_schema_input_type=OpInput)] = Field(
        description="eq, ne, gt, ge, lt, le (or = != > >= < <=), in, not_in, is_null, is_not_null, like"
    )
    value: Scalar | list[Scalar] | None = Field(default=None, description="the value to compare with: a list for in/not_in, nothing for is_null/is_not_null")

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op in ("is_null", "is_not_null"):
            if self.value is not None:
                raise ValueError(f"`{self.op}` takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"`{self.op}` needs a non-empty list as value")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"`{self.op}` needs a single value")
        if self.op == "like" and not isinstance(self.value, str):
            raise ValueError("`like` needs a text pattern")
        return self


class Unnest(Strict):
    """Expand an array column into one row per element (CROSS JOIN UNNEST)."""

    array: ColumnName = Field(description="the array column (a source column or an earlier unnest's alias)")
    as_: list[ColumnName] = Field(alias="as", min_length=1, description="names for the element (one per ROW field)")


def _positive(field: str, value: str) -> int:
    millis = parse_duration(value).millis
    if millis <= 0:
        raise ValueError(f"{field} must be longer than 0 (Flink refuses empty windows)")
    return millis


def _whole_multiple(size: str, part_name: str, part: str, kind: str) -> None:
    if _positive("size", size) % _positive(part_name, part):
        raise ValueError(f"size ({size}) must be a whole multiple of {part_name} ({part}), as Flink requires "
                         f"for {kind} windows")  # fmt: skip


# The rules below are Flink's own (checked on its planner, tests/test_check_flink.py): a window's
# size must be positive, and a whole multiple of a hop's slide or a cumulate window's step.
class TumbleWindow(Strict):
    type: Literal["tumble"] = Field(description="window type: fixed, non-overlapping windows of `size`")
    size: Duration = Field(description="window length, e.g. 1m (a bare number is seconds)")

    @model_validator(mode="after")
    def _check(self) -> TumbleWindow:
        _positive("size", self.size)
        return self


class HopWindow(Strict):
    type: Literal["hop"] = Field(description="window type: windows of `size` starting every `slide` (they overlap)")
    size: Duration = Field(description="window length, e.g. 5m (a bare number is seconds)")
    slide: Duration = Field(description="how often a window starts; `size` must be a whole multiple of it")

    @model_validator(mode="after")
    def _check(self) -> HopWindow:
        _whole_multiple(self.size, "slide", self.slide, "hopping")
        return self


class CumulateWindow(Strict):
    type: Literal["cumulate"] = Field(description="window type: windows that grow by `step` up to `size`, then start again")
    size: Duration = Field(description="the maximum window size")
    step: Duration = Field(description="how much the window grows each time; `size` must be a whole multiple of it")

    @model_validator(mode="after")
    def _check(self) -> CumulateWindow:
        _whole_multiple(self.size, "step", self.step, "cumulating")
        return self


Window = Annotated[TumbleWindow | HopWindow | CumulateWindow, Field(discriminator="type")]

AggFn = Literal[
    "count", "count_distinct", "sum", "avg", "min", "max", "listagg",
    "stddev_pop", "stddev_samp", "var_pop", "var_samp",
]  # fmt: skip
_SHORTHAND = re.compile(r"^\s*([a-z_]+)\s*\(\s*(\*|[A-Za-z_][A-Za-z0-9_]*)?\s*\)\s*$")


def _aggregate_shorthand(value: Any) -> Any:
    """`avg(usage)` -> {fn: avg, column: usage}; `count(*)` -> {fn: count}. Any other text is an
    aggregate expression (`sum(amount) FILTER (WHERE status = 'paid')`, `p95(latency_ms)`),
    parsed and checked by the planner."""
    if isinstance(value, str):
        m = _SHORTHAND.match(value)
        if m and m.group(1) in typing.get_args(AggFn):
            fn, column = m.group(1), m.group(2)
            return {"fn": fn} if column in (None, "*") else {"fn": fn, "column": column}
    return value


class AggregateSpec(Strict):
    fn: AggFn = Field(description="aggregate function")
    column: ColumnName | None = Field(default=None, description="the column to aggregate (none for count of rows)")
    separator: str | None = Field(default=None, description="listagg only")

    @model_validator(mode="after")
    def _column_needed(self) -> AggregateSpec:
        if self.fn != "count" and self.column is None:
            raise ValueError(f"`{self.fn}` needs a column")
        if self.separator is not None and self.fn != "listagg":
            raise ValueError("`separator` applies to listagg only")
        return self


# An expression in the definition language (plan/expr_parse.py): parsed into a tree by the planner,
# checked against the schema and rendered with every name and literal quoted.
Expression = Annotated[str, Field(min_length=1, max_length=4000,
                                  description="an expression, e.g. amount * quantity or status = 'failed'")]  # fmt: skip
Aggregate = Annotated[AggregateSpec | Expression,
                      BeforeValidator(_aggregate_shorthand, json_schema_input_type=str | AggregateSpec)]  # fmt: skip
# A filter condition: the structured form, or an expression that is true for the rows to keep.
Predicate = Condition | Expression


class Metric(Strict):
    source: Name = Field(description="the source to read")
    unnest: list[Unnest] = Field(default_factory=list, description="array columns to expand into one row per element, before filters")
    computed: dict[ColumnName, Expression] = Field(
        default_factory=dict, description="row-level columns computed from others, e.g. {revenue: amount * quantity}"
    )
    where: list[Predicate] = Field(default_factory=list, description="row filters applied before aggregation")
    dimensions: list[ColumnName] = Field(default_factory=list, description="columns to group by: one row per key (and window)")
    columns: list[ColumnName] = Field(default_factory=list, description="row-level metrics: further columns to carry")
    value: ColumnName | None = Field(default=None, description="the metric's value: a column or an aggregate name")
    window: Window | None = Field(default=None, description="the event-time window to aggregate over (none: row-level values, or an updating aggregate)")
    aggregates: dict[Name, Aggregate] = Field(default_factory=dict, description="name -> aggregate: avg(usage), count(*), p95(latency_ms), or an aggregate expression such as sum(amount) FILTER (WHERE status = 'paid')")
    derived: dict[Name, Expression] = Field(
        default_factory=dict,
        description="values computed from the aggregates of each window, e.g. {failed_ratio: failed / orders}; "
        "division never fails: x / 0 is NULL",
    )
    sinks: list[Name] = Field(default_factory=list, description="write the metric itself to these sinks")
    fill: Literal["zero", "null", "previous"] | None = Field(
        default=None,
        description="a tumbling window in which a key had no events still gets a row, for up to `fill_for` "
        "windows after the key's last event: aggregates 0 (`zero`), NULL (`null`), or the key's previous "
        "values (`previous`). Without `fill`, a window without events has no row, so it can raise no alert",
    )
    fill_for: int = Field(default=5, ge=1, le=1000, description="how many empty windows after a key's last event get a row")

    @model_validator(mode="after")
    def _window_needs_aggregates(self) -> Metric:
        if self.window is not None and not self.aggregates:
            raise ValueError("a windowed metric needs `aggregates`, e.g. {cnt: count(*)}")
        if self.derived and not self.aggregates:
            raise ValueError("`derived` values are computed from `aggregates`; add some, or use `computed`")
        if self.fill is not None and not isinstance(self.window, TumbleWindow):
            raise ValueError("`fill` needs a tumbling window: `window: {type: tumble, size: ...}`")
        return self
