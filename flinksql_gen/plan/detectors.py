"""Detectors as views over a metric: filter, having, trend (MATCH_RECOGNIZE), lookup threshold."""

from __future__ import annotations

from dataclasses import dataclass, replace

from flinksql_gen.bundle import UdfInfo
from flinksql_gen.models.common import parse_duration
from flinksql_gen.models.pipeline import (
    Condition,
    FilterDetector,
    HavingDetector,
    LookupThresholdDetector,
    TrendDetector,
    TumbleWindow,
)
from flinksql_gen.models.types import TIMESTAMP3
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.expr_parse import parse_expression
from flinksql_gen.plan.expr_tree import columns_outside_aggregates
from flinksql_gen.plan.expressions import render_predicate, require_column
from flinksql_gen.plan.metrics import PlannedMetric
from flinksql_gen.plan.plan import (
    Column,
    MatchRecognize,
    PlannedInsert,
    PlannedTable,
    PlannedView,
    Schema,
    Select,
)
from flinksql_gen.sql.quoting import number_literal
from flinksql_gen.sql.quoting import quote_identifier as q


@dataclass(frozen=True)
class PlannedDetector:
    name: str
    views: tuple[PlannedView, ...]  # the last one is the detector's output
    updating: bool
    unique_key: tuple[str, ...]
    key_hint: tuple[str, ...]  # columns to key Kafka records by
    udfs: tuple[UdfInfo, ...] = ()  # the Python UDFs its views call
    tables: tuple[PlannedTable, ...] = ()  # tables of its own (model_service: the service's lookup table)
    sinks: tuple[PlannedTable, ...] = ()  # sinks of its own (model_service: its dead letters) ...
    inserts: tuple[PlannedInsert, ...] = ()  # ... and what feeds them

    @property
    def view(self) -> PlannedView:
        return self.views[-1]


def _all_columns(schema: Schema, prefix: str = "") -> tuple[str, ...]:
    return tuple(f"{prefix}{q(c.name)}" for c in schema.columns if not c.proctime)


def plan_filter(ctx: PlanContext, name: str, d: FilterDetector, metric: PlannedMetric) -> PlannedDetector | None:
    path = ("detectors", name)
    schema = metric.view.schema
    where = [render_predicate(ctx, c, schema, (*path, "where", i)) for i, c in enumerate(d.where)]
    if None in where:
        return None
    select = Select(_all_columns(schema), metric.view.name, where=tuple(where))  # type: ignore[arg-type]
    view = PlannedView(q(name), name, select, ctx.loc(path), schema, depends_on=(metric.view.raw_name,))
    return PlannedDetector(name, (view,), metric.updating, metric.unique_key, metric.dims)


def plan_having(ctx: PlanContext, name: str, d: HavingDetector, metric: PlannedMetric) -> PlannedDetector | None:
    path = ("detectors", name)
    if not metric.aggregated:
        ctx.error((*path, "metric"), f"a having detector needs a metric with aggregates; {metric.name!r} has none",
                  "use a filter detector, or add aggregates to the metric")  # fmt: skip
        return None
    if metric.fill == "previous":
        ctx.error((*path, "metric"), f"metric {metric.name!r} carries values forward (fill: previous), so it has no "
                  "HAVING clause of its own", "use a filter detector on it")  # fmt: skip
        return None
    schema = metric.view.schema

    def expr(column: str) -> str:
        return metric.agg_sql.get(column, q(column))

    having = [render_predicate(ctx, c, schema, (*path, "where", i), expr, aggregates=True)
              for i, c in enumerate(d.where)]  # fmt: skip
    if None in having:
        return None
    for i, c in enumerate(d.where):
        used = [c.column] if isinstance(c, Condition) else columns_outside_aggregates(parse_expression(c))
        for column in used:
            if column in ("window_start", "window_end", "window_time"):
                continue
            if column not in metric.agg_sql and column not in metric.dims:
                ctx.error((*path, "where", i, "column"), f"{column!r} is neither an aggregate nor a dimension")
                return None
    # The metric's own aggregation, with the detector's HAVING clause.
    select = replace(metric.view.query, having=tuple(having))  # type: ignore[arg-type]
    depends = metric.view.depends_on
    view = PlannedView(q(name), name, select, ctx.loc(path), schema, stateful=True, depends_on=depends,
                       tables=metric.view.tables)  # fmt: skip
    return PlannedDetector(name, (view,), metric.updating, metric.unique_key, metric.dims)


def plan_trend(ctx: PlanContext, name: str, d: TrendDetector, metric: PlannedMetric) -> PlannedDetector | None:
    path = ("detectors", name)
    if metric.window is None:
        ctx.error((*path, "metric"), f"a trend detector needs a windowed metric; {metric.name!r} has no window",
                  "give the metric a tumble window")  # fmt: skip
        return None
    if not isinstance(metric.window, TumbleWindow):
        ctx.error((*path, "metric"), f"a trend detector supports tumble windows only; {metric.name!r} has a "
                  f"{metric.window.type} window, whose overlapping rows make trends meaningless",
                  "use a tumble window for this metric")  # fmt: skip
        return None
    schema = metric.view.schema
    value_type = require_column(ctx, schema, d.value, (*path, "value"))
    if value_type is None:
        return None
    if not value_type.is_numeric:
        ctx.error((*path, "value"), f"{d.value!r} has type {value_type}; a trend needs a numeric value")
        return None
    partition = list(d.partition_by if d.partition_by is not None else metric.dims)
    for i, p in enumerate(partition):
        if require_column(ctx, schema, p, (*path, "partition_by", i)) is None:
            return None
    x = q(d.value)
    variables = [f"STEP_{i + 1}_{s.direction.upper()}" for i, s in enumerate(d.steps)]
    defines = []
    for i, (var, step) in enumerate(zip(variables, d.steps, strict=True)):
        before = f"START_ROW.{x}" if i == 0 else f"LAST({variables[i - 1]}.{x})"
        cmp = ">" if step.direction == "up" else "<"
        defines.append(f"{var} AS {var}.{x} {cmp} COALESCE(LAST({var}.{x}, 1), {before})")
    quantifiers = []
    for var, step in zip(variables, d.steps, strict=True):
        if step.max is None:
            quantifiers.append(f"{var}{{{step.min},}}")
        elif step.max == step.min:
            quantifiers.append(f"{var}{{{step.min}}}")
        else:
            quantifiers.append(f"{var}{{{step.min},{step.max}}}")
    measures = [
        f"START_ROW.{q('window_start')} AS {q('trend_start')}",
        f"LAST({variables[-1]}.{q('window_end')}) AS {q('trend_end')}",
        f"START_ROW.{x} AS {q('start_value')}",
    ] + [f"LAST({var}.{x}) AS {q(f'step_{i + 1}_value')}" for i, var in enumerate(variables)]
    within = parse_duration(d.within).sql() if d.within else None
    query = MatchRecognize(
        source=metric.view.name,
        partition_by=tuple(q(p) for p in partition),
        order_by=q("window_time"),
        measures=tuple(measures),
        pattern=" ".join(["START_ROW", *quantifiers]),
        defines=tuple(defines),
        within=within,
    )
    out = Schema(
        tuple(Column(p, schema.get(p).type) for p in partition)
        + (Column("trend_start", TIMESTAMP3), Column("trend_end", TIMESTAMP3), Column("start_value", value_type))
        + tuple(Column(f"step_{i + 1}_value", value_type) for i in range(len(variables)))
    )
    view = PlannedView(q(name), name, query, ctx.loc(path), out, stateful=True, depends_on=(metric.view.raw_name,))
    return PlannedDetector(name, (view,), False, (), tuple(partition))


# Over 60 lines: the join columns, value, threshold and extra columns are each checked against
# both schemas and reported in one pass (every problem at once), then one view is written.
def plan_lookup_threshold(
    ctx: PlanContext, name: str, d: LookupThresholdDetector, metric: PlannedMetric, lookup: PlannedTable
) -> PlannedDetector | None:
    path = ("detectors", name)
    if metric.updating:
        ctx.error((*path, "metric"), f"a lookup join needs an append-only metric; {metric.name!r} aggregates without "
                  "a window, so its rows update", "give the metric a window")  # fmt: skip
        return None
    schema = metric.view.schema
    lk = lookup.schema
    ok = True
    on_sql = []
    for mcol, lcol in d.on.items():
        mt = require_column(ctx, schema, mcol, (*path, "on", mcol))
        lt = require_column(ctx, lk, lcol, (*path, "on", mcol), f"column of lookup {lookup.raw_name!r}")
        if mt is None or lt is None:
            ok = False
            continue
        if lcol not in lookup.info.key:
            ctx.error((*path, "on", mcol), f"{lcol!r} is not a key column of lookup {lookup.raw_name!r}",
                      f"key: {', '.join(lookup.info.key)}")  # fmt: skip
            ok = False
        elif mt.is_numeric != lt.is_numeric or mt.is_string != lt.is_string:
            ctx.error((*path, "on", mcol), f"cannot join {mcol!r} ({mt}) with {lcol!r} ({lt})")
            ok = False
        on_sql.append(f"{q('m')}.{q(mcol)} = {q('t')}.{q(lcol)}")
    vt = require_column(ctx, schema, d.value, (*path, "value"))
    tt = require_column(ctx, lk, d.threshold, (*path, "threshold"), f"column of lookup {lookup.raw_name!r}")
    if not ok or vt is None or tt is None:
        return None
    for field_name, t in (("value", vt), ("threshold", tt)):
        if not t.is_numeric:
            ctx.error((*path, field_name), f"{getattr(d, field_name)!r} has type {t}; a threshold needs numbers")
            return None
    out_names = [c.name for c in schema.columns if not c.proctime]
    for i, extra in enumerate([d.threshold, *d.columns]):
        if extra in out_names:
            where = (*path, "threshold") if i == 0 else (*path, "columns", i - 1)
            ctx.error(where, f"lookup column {extra!r} has the name of a metric column")
            return None
        if i and require_column(ctx, lk, extra, (*path, "columns", i - 1), "lookup column") is None:
            return None
    proc = "proc_time"
    while schema.get(proc):
        proc = f"_{proc}"
    input_name = f"{name}__input"
    input_view = PlannedView(
        q(input_name), input_name,
        Select((*_all_columns(schema), f"PROCTIME() AS {q(proc)}"), metric.view.name),
        ctx.loc(path), Schema((*schema.columns, Column(proc, TIMESTAMP3, proctime=True))),
        depends_on=(metric.view.raw_name,),
    )  # fmt: skip
    threshold = f"{q('t')}.{q(d.threshold)}"
    if d.default is not None:
        threshold = f"COALESCE({threshold}, {number_literal(d.default)})"
    cmp = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[d.op]
    join_kind = "LEFT JOIN" if d.default is not None else "JOIN"
    join = (f"{join_kind} {lookup.name} FOR SYSTEM_TIME AS OF {q('m')}.{q(proc)} AS {q('t')} "
            f"ON {' AND '.join(on_sql)}")  # fmt: skip
    columns = (
        *_all_columns(schema, f"{q('m')}."),
        f"{threshold} AS {q(d.threshold)}",
        *(f"{q('t')}.{q(c)}" for c in d.columns),
    )
    select = Select(columns, f"{input_view.name} AS {q('m')}", (join,), (f"{q('m')}.{q(d.value)} {cmp} {threshold}",))
    lk_cols = {c.name: c for c in lk.columns}
    out = Schema(
        tuple(c for c in schema.columns if not c.proctime)
        + (Column(d.threshold, lk_cols[d.threshold].type.nullable()),)
        + tuple(Column(c, lk_cols[c].type.nullable()) for c in d.columns)
    )
    view = PlannedView(q(name), name, select, ctx.loc(path), out, depends_on=(input_name,), tables=(lookup.raw_name,))
    return PlannedDetector(name, (input_view, view), False, metric.unique_key, metric.dims)
