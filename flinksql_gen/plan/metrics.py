"""Metrics as views: source rows (optionally unnested and filtered), then aggregates over a window or none."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flinksql_gen.models.common import parse_duration
from flinksql_gen.models.pipeline import CumulateWindow, HopWindow, Metric, TumbleWindow
from flinksql_gen.models.types import TIMESTAMP3
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.expressions import render_aggregate, render_condition, require_column
from flinksql_gen.plan.plan import Column, PlannedTable, PlannedView, Schema, Select
from flinksql_gen.render.quoting import quote_identifier as q

WINDOW_COLUMNS = ("window_start", "window_end", "window_time")


@dataclass(frozen=True)
class PlannedMetric:
    name: str
    views: tuple[PlannedView, ...]  # in dependency order; the last one is the metric
    base: str  # raw name of the relation the aggregates read
    base_schema: Schema
    window: TumbleWindow | HopWindow | CumulateWindow | None
    aggregated: bool
    dims: tuple[str, ...]
    agg_sql: dict[str, str] = field(default_factory=dict)
    value: str | None = None

    @property
    def view(self) -> PlannedView:
        return self.views[-1]

    @property
    def updating(self) -> bool:
        """An aggregate without a window updates its rows: only upsert sinks can take it."""
        return self.aggregated and self.window is None

    @property
    def unique_key(self) -> tuple[str, ...]:
        if not self.aggregated:
            return ()
        return (("window_start", "window_end") if self.window else ()) + self.dims


def _rows(ctx: PlanContext, name: str, m: Metric, source: PlannedTable) -> tuple[Select, Schema] | None:
    """FROM source [CROSS JOIN UNNEST ...] [WHERE ...] and the schema of that relation."""
    path = ("metrics", name)
    cols = list(source.schema.columns)
    alias = {c.name: "s" for c in cols}
    joins: list[str] = []
    for i, un in enumerate(m.unnest):
        upath = (*path, "unnest", i)
        col = next((c for c in cols if c.name == un.array), None)
        if col is None:
            require_column(ctx, Schema(tuple(cols)), un.array, (*upath, "array"))
            return None
        if col.type.name != "ARRAY":
            ctx.error((*upath, "array"), f"column {un.array!r} has type {col.type}, not an ARRAY")
            return None
        element = col.type.element
        fields = list(element.fields) if element.name == "ROW" else [(un.as_[0], element)]
        if len(un.as_) != len(fields):
            shape = ", ".join(f for f, _ in fields)
            ctx.error((*upath, "as"), f"the elements of {un.array!r} have {len(fields)} field(s) ({shape}); "
                      f"give exactly {len(fields)} name(s)")  # fmt: skip
            return None
        ua = f"u{i + 1}"
        for j, new in enumerate(un.as_):
            if any(c.name == new for c in cols):
                ctx.error((*upath, "as", j), f"{new!r} clashes with an existing column", "choose another name")
                return None
            cols.append(Column(new, fields[j][1].nullable()))
            alias[new] = ua
        names = ", ".join(q(n) for n in un.as_)
        joins.append(f"CROSS JOIN UNNEST({q(alias[un.array])}.{q(un.array)}) AS {q(ua)} ({names})")
    schema = Schema(tuple(cols))
    where = []
    for i, cond in enumerate(m.where):
        sql = render_condition(ctx, cond, schema, (*path, "where", i),
                               expr=lambda c: f"{q(alias[c])}.{q(c)}" if c in alias else q(c))  # fmt: skip
        if sql is None:
            return None
        where.append(sql)
    select_cols = tuple(f"{q(alias[c.name])}.{q(c.name)}" for c in cols)
    return Select(select_cols, f"{source.name} AS {q('s')}", tuple(joins), tuple(where)), schema


def _window_tvf(window: TumbleWindow | HopWindow | CumulateWindow, table: str, rowtime: str) -> str:
    head = f"TABLE {table}, DESCRIPTOR({q(rowtime)})"
    if isinstance(window, TumbleWindow):
        return f"TABLE(TUMBLE({head}, {parse_duration(window.size).sql()}))"
    if isinstance(window, HopWindow):
        return f"TABLE(HOP({head}, {parse_duration(window.slide).sql()}, {parse_duration(window.size).sql()}))"
    return f"TABLE(CUMULATE({head}, {parse_duration(window.step).sql()}, {parse_duration(window.size).sql()}))"


def plan_metric(ctx: PlanContext, name: str, m: Metric, source: PlannedTable) -> PlannedMetric | None:
    path = ("metrics", name)
    rows = _rows(ctx, name, m, source)
    if rows is None:
        return None
    rows_select, schema = rows
    origin = ctx.loc(path)
    for i, d in enumerate(m.dimensions):
        if require_column(ctx, schema, d, (*path, "dimensions", i), "dimension") is None:
            return None
    if not m.aggregates:
        return _row_metric(ctx, name, m, rows_select, schema, origin)

    needs_rows_view = bool(m.unnest or m.where)
    if needs_rows_view:
        rows_view = PlannedView(q(f"{name}__rows"), f"{name}__rows", rows_select, origin, schema,
                                depends_on=())  # fmt: skip
        base, base_q, views = rows_view.raw_name, rows_view.name, [rows_view]
    else:
        base, base_q, views = source.raw_name, source.name, []
    agg_cols: list[str] = []
    agg_sql: dict[str, str] = {}
    out_cols: list[Column] = []
    for agg_name, spec in m.aggregates.items():
        if agg_name in m.dimensions or (schema.get(agg_name) and agg_name in m.dimensions):
            ctx.error((*path, "aggregates", agg_name), f"aggregate {agg_name!r} has the name of a dimension")
            return None
        rendered = render_aggregate(ctx, spec, schema, (*path, "aggregates", agg_name))
        if rendered is None:
            return None
        sql, typ = rendered
        agg_sql[agg_name] = sql
        agg_cols.append(f"{sql} AS {q(agg_name)}")
        out_cols.append(Column(agg_name, typ))
    dims = tuple(m.dimensions)
    dim_cols = [schema.get(d) for d in dims]
    if m.window is not None:
        rowtime = schema.rowtime
        if rowtime is None:
            ctx.error((*path, "window"), f"a window needs event time, and source {m.source!r} has none",
                      f"add event_time to sources.{m.source}")  # fmt: skip
            return None
        for d in dims:
            if d in WINDOW_COLUMNS:
                ctx.error((*path, "dimensions"), f"{d!r} is a window column and cannot be a dimension")
                return None
        group = tuple(q(c) for c in WINDOW_COLUMNS) + tuple(q(d) for d in dims)
        select = Select(group + tuple(agg_cols), _window_tvf(m.window, base_q, rowtime.name), group_by=group)
        win_cols = (Column("window_start", TIMESTAMP3), Column("window_end", TIMESTAMP3),
                    Column("window_time", rowtime.type, rowtime=True))  # fmt: skip
        out_schema = Schema(win_cols + tuple(Column(c.name, c.type) for c in dim_cols) + tuple(out_cols))
    else:
        group = tuple(q(d) for d in dims)
        select = Select(group + tuple(agg_cols), f"{base_q}", group_by=group)
        out_schema = Schema(tuple(Column(c.name, c.type) for c in dim_cols) + tuple(out_cols))
    value = m.value
    if value is not None and value not in m.aggregates and value not in dims:
        ctx.error((*path, "value"), f"unknown aggregate {value!r}", f"aggregates: {', '.join(m.aggregates)}")
        return None
    if value is None and len(m.aggregates) == 1:
        value = next(iter(m.aggregates))
    view = PlannedView(q(name), name, select, origin, out_schema, stateful=True,
                       depends_on=tuple(v.raw_name for v in views))  # fmt: skip
    return PlannedMetric(name, (*views, view), base, schema, m.window, True, dims, agg_sql, value)


def _row_metric(
    ctx: PlanContext, name: str, m: Metric, rows: Select, schema: Schema, origin
) -> PlannedMetric | None:
    path = ("metrics", name)
    wanted: list[str] = []
    if schema.rowtime is not None:
        wanted.append(schema.rowtime.name)
    for i, c in enumerate(m.columns):
        if require_column(ctx, schema, c, (*path, "columns", i)) is None:
            return None
    if m.value is not None and require_column(ctx, schema, m.value, (*path, "value")) is None:
        return None
    explicit = [*m.dimensions, *m.columns, *([m.value] if m.value else [])]
    if not explicit:
        explicit = [c.name for c in schema.columns if c.type.name not in ("ARRAY", "MAP", "ROW") and not c.proctime]
    for c in explicit:
        if c not in wanted:
            wanted.append(c)
    by_name = {c.name: c for c in schema.columns}
    positions = {c.name: i for i, c in enumerate(schema.columns)}
    select_cols = tuple(rows.columns[positions[c]] for c in wanted)
    select = replace(rows, columns=select_cols)
    out = Schema(tuple(by_name[c] for c in wanted))
    view = PlannedView(q(name), name, select, origin, out)
    return PlannedMetric(name, (view,), name, out, None, False, tuple(m.dimensions), {}, m.value)
