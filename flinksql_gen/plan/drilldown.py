"""Root-cause drill-down in the stream: each tumble window's leaves (one row per dimension
combination) with their baseline `offset` windows back, explained by a PyFlink aggregate UDF
(`fsg_drilldown`, flinksql_gen.rca) per window. The result updates while the window's leaves
arrive, so it goes to an upsert sink keyed by (window_start, window_end)."""

from __future__ import annotations

import json

from flinksql_gen.bundle import UdfInfo
from flinksql_gen.models.common import parse_duration
from flinksql_gen.models.pipeline import DrilldownDetector, TumbleWindow
from flinksql_gen.models.types import DOUBLE, STRING, TIMESTAMP3
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.detectors import PlannedDetector
from flinksql_gen.plan.expressions import require_column
from flinksql_gen.plan.metrics import PlannedMetric
from flinksql_gen.plan.plan import Column, PlannedView, Schema, Select
from flinksql_gen.sql.quoting import quote_identifier as q
from flinksql_gen.sql.quoting import quote_string

DRILLDOWN_UDF = UdfInfo("fsg_drilldown", "flinksql_gen.udfs.drilldown:fsg_drilldown")
OUTPUT = ("baseline_total", "current_total", "change", "root_cause", "explanation")


def plan_drilldown(ctx: PlanContext, name: str, d: DrilldownDetector, metric: PlannedMetric) -> PlannedDetector | None:
    path = ("detectors", name)
    if not isinstance(metric.window, TumbleWindow):
        ctx.error((*path, "metric"), f"a drilldown needs a metric with a tumble window; {metric.name!r} has "
                  f"{'none' if metric.window is None else 'a ' + metric.window.type + ' window'}",
                  "give the metric a tumble window")  # fmt: skip
        return None
    if ctx.aiven:
        ctx.error((*path, "type"), f"detector {name!r} (drilldown) needs a Python UDF, and Aiven's managed Flink "
                  "runs no UDFs", "run drill-down on the local, cluster or gateway target")  # fmt: skip
        return None
    schema = metric.view.schema
    value = d.value or metric.value
    if value is None:
        ctx.error((*path, "value"), f"metric {metric.name!r} has no `value`: name the additive column to explain")
        return None
    vt = require_column(ctx, schema, value, (*path, "value"))
    if vt is None:
        return None
    if not vt.is_numeric:
        ctx.error((*path, "value"), f"{value!r} has type {vt}; a drill-down needs a number")
        return None
    dims = list(d.dimensions if d.dimensions is not None else metric.dims)
    if not dims:
        ctx.error((*path, "dimensions"), "a drill-down needs at least one dimension to explain over")
        return None
    for i, dim in enumerate(dims):
        if dim not in metric.dims:
            ctx.error((*path, "dimensions", i), f"{dim!r} is not a dimension of metric {metric.name!r}",
                      f"dimensions: {', '.join(metric.dims)}")  # fmt: skip
            return None
    keys = [q(k) for k in metric.dims]
    v = f"CAST({q(value)} AS DOUBLE)"
    input_name = f"{name}__input"
    over = f"PARTITION BY {', '.join(keys)} ORDER BY {q('window_time')}"
    leaves = Select(
        (f"{q('window_time')} AS {q('leaf_time')}", *keys, f"{v} AS {q('current_value')}",
         f"LAG({v}, {d.offset}) OVER ({over}) AS {q('baseline_value')}"),
        metric.view.name,
    )  # fmt: skip
    leaves_view = PlannedView(q(input_name), input_name, leaves, ctx.loc(path),
                              Schema((Column("leaf_time", schema.get("window_time").type, rowtime=True),)),
                              stateful=True, depends_on=(metric.view.raw_name,))  # fmt: skip
    config = json.dumps({"dimensions": dims, "min_change": d.min_change, "max_depth": d.max_depth, "top": d.top},
                        sort_keys=True, separators=(",", ":"))  # fmt: skip
    names = ", ".join(f"CAST({q(k)} AS STRING)" for k in dims)
    call = (f"{DRILLDOWN_UDF.name}({quote_string(config)}, ARRAY[{names}], {q('baseline_value')}, "
            f"{q('current_value')}) AS {q('r')}")  # fmt: skip
    group = (q("window_start"), q("window_end"))
    tvf = f"TABLE(TUMBLE(TABLE {q(input_name)}, DESCRIPTOR({q('leaf_time')}), {parse_duration(metric.window.size).sql()}))"
    explained_name = f"{name}__explained"
    explained = PlannedView(q(explained_name), explained_name, Select((*group, call), tvf, group_by=group),
                            ctx.loc(path), Schema(()), stateful=True, depends_on=(input_name,))  # fmt: skip
    out_cols = (*group, *(f"{q('e')}.{q('r')}.{q(f)} AS {q(f)}" for f in OUTPUT))
    out = Schema((Column("window_start", TIMESTAMP3), Column("window_end", TIMESTAMP3))
                 + tuple(Column(f, DOUBLE) for f in OUTPUT[:3]) + tuple(Column(f, STRING) for f in OUTPUT[3:]))  # fmt: skip
    view = PlannedView(q(name), name, Select(out_cols, f"{q(explained_name)} AS {q('e')}"), ctx.loc(path), out,
                       stateful=True, depends_on=(explained_name,))  # fmt: skip
    return PlannedDetector(name, (leaves_view, explained, view), True, ("window_start", "window_end"), (),
                           (DRILLDOWN_UDF,))
