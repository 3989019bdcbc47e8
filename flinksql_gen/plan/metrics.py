"""Metrics as views: source rows (optionally unnested and filtered), then aggregates over a window or none."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flinksql_gen.models.common import parse_duration
from flinksql_gen.models.pipeline import CumulateWindow, HopWindow, Metric, TumbleWindow
from flinksql_gen.models.types import TIMESTAMP3
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.expr_render import Scope
from flinksql_gen.plan.expr_tree import columns_outside_aggregates
from flinksql_gen.plan.expressions import (
    parse_at,
    render_aggregate,
    render_at,
    render_predicate,
    require_column,
)
from flinksql_gen.plan.gaps import carried_forward, filled_aggregate, filled_select, slice_filter
from flinksql_gen.plan.plan import Column, PlannedTable, PlannedView, Schema, Select
from flinksql_gen.sql.quoting import quote_identifier as q

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
    fill: str | None = None  # filled windows (plan/gaps.py): zero, null or previous

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
    # Computed columns: each may use the columns before it; WHERE sees them inlined (SQL's WHERE
    # cannot refer to the SELECT list's aliases).
    inline: dict[str, str] = {}

    def ref(c: str) -> str:
        return inline[c] if c in inline else f"{q(alias[c])}.{q(c)}" if c in alias else q(c)

    for new, text in m.computed.items():
        cpath = (*path, "computed", new)
        if any(c.name == new for c in cols):
            ctx.error(cpath, f"{new!r} clashes with an existing column", "choose another name")
            return None
        node = parse_at(ctx, text, cpath)
        rendered = render_at(ctx, node, Scope(Schema(tuple(cols)), ref=ref, percentile=not ctx.aiven), cpath) if node else None
        if rendered is None:
            return None
        inline[new] = rendered[0]
        cols.append(Column(new, rendered[1].nullable()))
    schema = Schema(tuple(cols))
    where = []
    for i, cond in enumerate(m.where):
        sql = render_predicate(ctx, cond, schema, (*path, "where", i), expr=ref)
        if sql is None:
            return None
        where.append(sql)
    select_cols = tuple(f"{inline[c.name]} AS {q(c.name)}" if c.name in inline else ref(c.name) for c in cols)
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
        return _row_metric(ctx, name, m, rows_select, schema, origin, source.raw_name)

    needs_rows_view = bool(m.unnest or m.where or m.computed)
    if needs_rows_view:
        rows_view = PlannedView(q(f"{name}__rows"), f"{name}__rows", rows_select, origin, schema,
                                depends_on=(), tables=(source.raw_name,))  # fmt: skip
        base, base_q, views, base_tables = rows_view.raw_name, rows_view.name, [rows_view], ()
    else:
        base, base_q, views, base_tables = source.raw_name, source.name, [], (source.raw_name,)
    rowtime = schema.rowtime
    if m.window is not None and rowtime is None:
        ctx.error((*path, "window"), f"a window needs event time, and source {m.source!r} has none",
                  f"add event_time to sources.{m.source}")  # fmt: skip
        return None
    fill = _Fill.of(m, rowtime.name if rowtime else "")
    aggregated = _plan_aggregates(ctx, name, m, schema, fill)
    if aggregated is None:
        return None
    agg_cols, agg_sql, out_cols = aggregated
    dims = tuple(m.dimensions)
    dim_cols = [schema.get(d) for d in dims]
    if not _plan_derived(ctx, name, m, schema, dim_cols, out_cols, agg_sql, agg_cols, fill):
        return None
    grouped = _grouped(ctx, path, m, base_q, rowtime, dim_cols, agg_cols, out_cols, fill)
    if grouped is None:
        return None
    select, out_schema = grouped
    value = m.value
    if value is not None and value not in agg_sql and value not in dims:
        ctx.error((*path, "value"), f"unknown aggregate {value!r}", f"aggregates: {', '.join(agg_sql)}")
        return None
    if value is None and len(m.aggregates) == 1:
        value = next(iter(m.aggregates))
    depends = tuple(v.raw_name for v in views)
    if fill is not None and fill.kind == "previous":  # the aggregation, then values carried forward
        filled = PlannedView(q(f"{name}__filled"), f"{name}__filled", select, origin, out_schema, stateful=True,
                             depends_on=depends, tables=base_tables)  # fmt: skip
        views, depends, base_tables = [*views, filled], (filled.raw_name,), ()
        select = carried_forward(filled.name, out_schema, dims, [c.name for c in out_cols])
    view = PlannedView(q(name), name, select, origin, out_schema, stateful=True, depends_on=depends,
                       tables=base_tables)  # fmt: skip
    return PlannedMetric(name, (*views, view), base, schema, m.window, True, dims, agg_sql, value, m.fill)


def _grouped(ctx: PlanContext, path: tuple, m: Metric, base_q: str, rowtime: Column | None, dim_cols: list,
             agg_cols: list, out_cols: list, fill) -> tuple[Select, Schema] | None:  # fmt: skip
    """The aggregation by window (a window TVF, or the filled form) and dimensions, and its schema."""
    dims = tuple(m.dimensions)
    if m.window is None:
        group = tuple(q(d) for d in dims)
        select = Select(group + tuple(agg_cols), f"{base_q}", group_by=group)
        return select, Schema(tuple(Column(c.name, c.type) for c in dim_cols) + tuple(out_cols))
    for d in dims:
        if d in WINDOW_COLUMNS:
            ctx.error((*path, "dimensions"), f"{d!r} is a window column and cannot be a dimension")
            return None
    assert rowtime is not None  # checked by the caller: a window needs event time
    group = tuple(q(c) for c in WINDOW_COLUMNS) + tuple(q(d) for d in dims)
    if fill is not None:
        select = filled_select(m.window, base_q, rowtime.name, dims, agg_cols, m.fill_for)
    else:
        select = Select(group + tuple(agg_cols), _window_tvf(m.window, base_q, rowtime.name), group_by=group)
    win_cols = (Column("window_start", TIMESTAMP3), Column("window_end", TIMESTAMP3),
                Column("window_time", rowtime.type, rowtime=True))  # fmt: skip
    return select, Schema(win_cols + tuple(Column(c.name, c.type) for c in dim_cols) + tuple(out_cols))


@dataclass(frozen=True)
class _Fill:
    """A filled metric's current-slice condition (see plan/gaps.py)."""

    kind: str
    slice_sql: str

    @property
    def slice_count(self) -> str:
        return f"COUNT(*) FILTER (WHERE {self.slice_sql})"

    @classmethod
    def of(cls, m: Metric, rowtime: str) -> _Fill | None:
        if m.fill is None or not isinstance(m.window, TumbleWindow):
            return None
        return cls(m.fill, slice_filter(rowtime, parse_duration(m.window.size)))


def _plan_aggregates(ctx: PlanContext, name: str, m: Metric, schema: Schema, fill: _Fill | None):
    """(SELECT items, SQL by aggregate name, output columns) of the metric's aggregates."""
    path = ("metrics", name)
    agg_cols: list[str] = []
    agg_sql: dict[str, str] = {}
    out_cols: list[Column] = []
    for agg_name, spec in m.aggregates.items():
        if agg_name in m.dimensions:
            ctx.error((*path, "aggregates", agg_name), f"aggregate {agg_name!r} has the name of a dimension")
            return None
        rendered = render_aggregate(ctx, spec, schema, (*path, "aggregates", agg_name),
                                    slice_filter=fill.slice_sql if fill else None)  # fmt: skip
        if rendered is None:
            return None
        sql, typ = rendered
        if fill is not None:
            sql = filled_aggregate(sql, typ, fill.kind, fill.slice_count)
        agg_sql[agg_name] = sql
        agg_cols.append(f"{sql} AS {q(agg_name)}")
        out_cols.append(Column(agg_name, typ))
    return agg_cols, agg_sql, out_cols


def _plan_derived(ctx: PlanContext, name: str, m: Metric, schema: Schema, dim_cols: list, out_cols: list[Column],
                  agg_sql: dict[str, str], agg_cols: list[str], fill: _Fill | None) -> bool:  # fmt: skip
    """Derived values: expressions over the aggregates (inlined) and dimensions, in the same SELECT."""
    for derived_name, text in m.derived.items():
        dpath = ("metrics", name, "derived", derived_name)
        if derived_name in agg_sql or derived_name in m.dimensions:
            ctx.error(dpath, f"{derived_name!r} is already the name of an aggregate or dimension")
            return False
        node = parse_at(ctx, text, dpath)
        # What a derived value sees: the dimensions, and the aggregates by name; aggregate
        # functions over the metric's rows are allowed too (e.g. sum(a) / count(*)).
        visible = Schema(tuple(Column(c.name, c.type) for c in dim_cols) + tuple(out_cols))
        scope = Scope(Schema(visible.columns + tuple(c for c in schema.columns if visible.get(c.name) is None)),
                      ref=lambda c: f"({agg_sql[c]})" if c in agg_sql else q(c), aggregates=True,
                      percentile=not ctx.aiven, slice_filter=fill.slice_sql if fill else None)  # fmt: skip
        rendered = render_at(ctx, node, scope, dpath) if node else None
        if rendered is None:
            return False
        for column in columns_outside_aggregates(node):
            if column not in agg_sql and column not in m.dimensions:
                ctx.error(dpath, f"{column!r} is a column of the rows, not a value of the window",
                          "refer to aggregates and dimensions, or aggregate the column, e.g. sum(amount)")  # fmt: skip
                return False
        agg_sql[derived_name] = rendered[0]
        agg_cols.append(f"{rendered[0]} AS {q(derived_name)}")
        out_cols.append(Column(derived_name, rendered[1].nullable()))
    return True


def _row_metric(
    ctx: PlanContext, name: str, m: Metric, rows: Select, schema: Schema, origin, source: str
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
    view = PlannedView(q(name), name, select, origin, out, tables=(source,))
    return PlannedMetric(name, (view,), name, out, None, False, tuple(m.dimensions), {}, m.value)
