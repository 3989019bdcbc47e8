"""Missing data as a signal: filled windows and the `no_data` detector, in pure SQL.

A tumbling window in which a key had no events produces no row in Flink, so a metric that
drops to nothing raises no alert. Both forms below aggregate a HOP window that spans the
current window (the "slice") and the windows before it, and advances one window at a time:

- `fill`: a hop of `fill_for + 1` windows. Every aggregate also filters on the current slice,
  so a key seen in any of the hop's windows gets a row for the current one, with its real
  aggregates or, when the slice is empty, 0 / NULL / the previous values.
- `no_data`: a hop of `after + 1` windows: a key with events in the first window and none in
  the last `after` gets one alert, when the watermark passes the end of the silence.

The slice condition compares the event time with `window_time` (the hop's end minus 1 ms, of
the same type as the event time), so `t > window_time - size` means `t >= window_end - size`.
"""

from __future__ import annotations

from dataclasses import replace

from flinksql_gen.models.common import Interval, parse_duration
from flinksql_gen.models.pipeline import NoDataDetector, TumbleWindow
from flinksql_gen.models.types import BIGINT, TIMESTAMP3, FlinkType
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.plan import Column, PlannedView, Schema, Select
from flinksql_gen.sql.quoting import quote_identifier as q


def _span(size: Interval, windows: int) -> Interval:
    return replace(size, amount=size.amount * windows, millis=size.millis * windows)


def hop_tvf(table: str, rowtime: str, size: Interval, windows: int) -> str:
    return f"TABLE(HOP(TABLE {table}, DESCRIPTOR({q(rowtime)}), {size.sql()}, {_span(size, windows).sql()}))"


def slice_filter(rowtime: str, size: Interval, windows: int = 1) -> str:
    """Events of the last `windows` windows of a hop (planner-written SQL, no user text)."""
    return f"{q(rowtime)} > {q('window_time')} - {_span(size, windows).sql()}"


def filled_aggregate(sql: str, typ: FlinkType, fill: str, slice_count: str) -> str:
    """An aggregate of a filled window: 0 or NULL (for `previous`, carried forward later) when empty."""
    if fill == "zero" and typ.is_numeric:
        return f"COALESCE({sql}, 0)"
    if fill == "previous":
        return f"CASE WHEN {slice_count} = 0 THEN NULL ELSE {sql} END"
    return sql


def filled_select(
    window: TumbleWindow, base: str, rowtime: str, dims: tuple[str, ...], agg_cols: list[str], fill_for: int
) -> Select:
    """The metric's aggregation over a hop of `fill_for + 1` windows, reported per current window."""
    size = parse_duration(window.size)
    group = (q("window_start"), q("window_end"), q("window_time"), *(q(d) for d in dims))
    columns = (f"{q('window_end')} - {size.sql()} AS {q('window_start')}", q("window_end"), q("window_time"),
               *(q(d) for d in dims), *agg_cols)  # fmt: skip
    return Select(columns, hop_tvf(base, rowtime, size, fill_for + 1), group_by=group)


def carried_forward(select_from: str, schema: Schema, dims: tuple[str, ...], values: list[str]) -> Select:
    """`fill: previous`: each value is the key's last non-NULL one (Flink's LAST_VALUE skips NULLs)."""
    over = (f"OVER (PARTITION BY {', '.join(q(d) for d in dims) or q('window_end')} ORDER BY {q('window_time')} "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)")  # fmt: skip
    columns = tuple(f"LAST_VALUE({q(c.name)}) {over} AS {q(c.name)}" if c.name in values else q(c.name)
                    for c in schema.columns)  # fmt: skip
    return Select(columns, select_from)


def plan_no_data(ctx: PlanContext, name: str, d: NoDataDetector, metric) -> tuple[PlannedView, Schema] | None:
    """One row per key and silence: the key's last event before it, and the silent span."""
    path = ("detectors", name)
    window = metric.window
    if not isinstance(window, TumbleWindow) or not metric.dims:
        ctx.error((*path, "metric"), f"no_data needs a metric with a tumbling window and dimensions; "
                  f"{metric.name!r} has {'no dimensions' if isinstance(window, TumbleWindow) else 'no tumbling window'}",
                  "silence is judged per key, one window at a time")  # fmt: skip
        return None
    rowtime = metric.base_schema.rowtime
    size = parse_duration(window.size)
    silent = slice_filter(rowtime.name, size, d.after)
    dims = metric.dims
    group = (q("window_start"), q("window_end"), q("window_time"), *(q(x) for x in dims))
    columns = (
        f"{q('window_end')} - {_span(size, d.after).sql()} AS {q('silent_from')}",
        f"{q('window_end')} AS {q('silent_until')}",
        q("window_time"),
        *(q(x) for x in dims),
        f"MAX({q(rowtime.name)}) AS {q('last_event_time')}",
        f"COUNT(*) AS {q('events_before')}",
    )
    select = Select(columns, hop_tvf(q(metric.base), rowtime.name, size, d.after + 1), group_by=group,
                    having=(f"COUNT(*) FILTER (WHERE {silent}) = 0",))  # fmt: skip
    dim_cols = tuple(Column(x, metric.base_schema.get(x).type.nullable()) for x in dims)
    schema = Schema((Column("silent_from", TIMESTAMP3), Column("silent_until", TIMESTAMP3),
                     Column("window_time", rowtime.type, rowtime=True), *dim_cols,
                     Column("last_event_time", rowtime.type.nullable()), Column("events_before", BIGINT)))  # fmt: skip
    view = PlannedView(q(name), name, select, ctx.loc(path), schema, stateful=True, depends_on=(metric.base,))
    return view, schema
