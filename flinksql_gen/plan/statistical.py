"""Statistical detectors (flinksql_gen.detectors) over a metric, per dimension key.

Two forms, one semantics (documented in each detector's module):
- pure Flink SQL for threshold, percentage/absolute change (LAG, or an interval self-join for
  a duration offset) and mean-variance (bounded OVER sums, the current point excluded), so the
  aiven target (no UDFs) can run them;
- a PyFlink aggregate UDF (`fsg_detect`) in a GROUP BY over the key for the others (ewma,
  holt_winters, score; mean-variance with a period in points): Flink keeps each key's detector
  state, checkpoints it, and the result is an upsert stream of every point, in the key's order.
"""

from __future__ import annotations

import json

from flinksql_gen.bundle import UdfInfo
from flinksql_gen.detectors.config import SEASON_SECONDS
from flinksql_gen.detectors.mean_variance import MeanVarianceDetector
from flinksql_gen.detectors.registry import detector_class
from flinksql_gen.models.common import parse_duration
from flinksql_gen.models.pipeline import (
    AbsoluteChangeRule,
    MeanVarianceRule,
    PercentageChangeRule,
    ThresholdRule,
)
from flinksql_gen.models.types import BOOLEAN, DOUBLE, TIMESTAMP3
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.detectors import PlannedDetector
from flinksql_gen.plan.metrics import PlannedMetric
from flinksql_gen.plan.per_key import plan_per_key
from flinksql_gen.plan.plan import Column, PlannedTable, PlannedView, Schema, Select
from flinksql_gen.sql.quoting import number_literal, quote_string
from flinksql_gen.sql.quoting import quote_identifier as q

DETECT_UDF = UdfInfo("fsg_detect", "flinksql_gen.udfs.detect:fsg_detect")
SQL_FORMS = ("threshold", "percentage_change", "absolute_change", "mean_variance")
RESULT_COLUMNS = ("expected", "lower", "upper", "score", "is_anomaly")
_PROC = "proc_time"


def _config_json(d) -> str:
    """The detector's own settings (not the pipeline wiring) as the UDF's JSON argument."""
    cls = detector_class(d.type).config_model
    data = d.model_dump(include=set(cls.model_fields), exclude_none=True, mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _sql_form_available(d) -> bool:
    if d.type not in SQL_FORMS or d.postprocess is not None:
        return False
    return not (isinstance(d, MeanVarianceRule) and isinstance(d.seasonality, int))


def _num(x: float) -> str:
    return number_literal(float(x))


def plan_statistical(ctx: PlanContext, name: str, d, metric: PlannedMetric,
                     lookup: PlannedTable | None = None) -> PlannedDetector | None:  # fmt: skip
    path = ("detectors", name)
    if metric.updating:
        ctx.error((*path, "metric"), f"{d.type} needs an append-only metric; {metric.name!r} aggregates without a "
                  "window, so its rows update", "give the metric a window, or use a row-level metric")  # fmt: skip
        return None
    schema = metric.view.schema
    value = d.value or metric.value
    if value is None:
        ctx.error((*path, "value"), f"metric {metric.name!r} has no `value`: name the column to judge")
        return None
    col = schema.get(value)
    if col is None or not col.type.is_numeric:
        what = "unknown column" if col is None else f"column of type {col.type}; a detector needs a number:"
        ctx.error((*path, "value"), f"{what} {value!r}", f"numeric columns: {', '.join(c.name for c in schema.columns if c.type.is_numeric)}")
        return None
    clash = [c for c in RESULT_COLUMNS if schema.get(c)]
    if clash:
        ctx.error((*path, "metric"), f"metric {metric.name!r} already has column(s) {', '.join(clash)}, which "
                  "the detector adds", "rename them in the metric")  # fmt: skip
        return None
    if metric.window is not None:
        order, stamp = "window_time", "window_start"
    elif schema.rowtime is not None:
        order = stamp = schema.rowtime.name
    else:
        ctx.error((*path, "metric"), f"{d.type} needs event time: metric {metric.name!r} has no window and its "
                  "source no event_time", "add event_time to the source")  # fmt: skip
        return None
    sql_ok = _sql_form_available(d)
    form = d.form if d.form != "auto" else ("sql" if sql_ok else "udf")
    alternatives = "threshold, percentage_change, absolute_change or mean_variance (daily/weekly seasonality)"
    if form == "sql" and not sql_ok:
        ctx.error((*path, "form"), f"{d.type} has no pure-SQL form with these settings",
                  f"pure-SQL detectors: {alternatives} without postprocess")  # fmt: skip
        return None
    if form == "udf" and ctx.aiven:
        ctx.error((*path, "type"), f"detector {name!r} ({d.type}) needs a Python UDF, and Aiven's managed Flink "
                  "runs no UDFs", f"use a pure-SQL detector: {alternatives}")  # fmt: skip
        return None
    if form == "udf" and d.per_key is not None:
        ctx.error((*path, "per_key"), f"per-key settings need the pure-SQL form, and {d.type} runs as a UDF here",
                  f"pure-SQL detectors: {alternatives}")  # fmt: skip
        return None
    if form == "udf":
        return _udf_form(ctx, name, d, metric, value, stamp)
    return _sql_form(ctx, name, d, metric, value, order, stamp, lookup)


def _anomaly(pattern: str, v: str, lower: str, upper: str, inclusive: bool = False) -> str:
    gt, lt = (">=", "<=") if inclusive else (">", "<")
    up, down = f"{v} {gt} {upper}", f"{v} {lt} {lower}"
    return {"up": up, "down": down, "both": f"({up} OR {down})"}[pattern]


def _per_key_defaults(d) -> dict[str, float | None]:
    """The detector's own values of the settings a per-key lookup may override, by column."""
    if isinstance(d, ThresholdRule):
        return {s: getattr(d, s) for s in ("min", "max") if s in d.per_key.settings or getattr(d, s) is not None}
    if isinstance(d, MeanVarianceRule):
        k_lo, k_up = _multipliers(d)
        return {"k_lower": k_lo, "k_upper": k_up}
    return {"threshold": d.threshold}


def _multipliers(d) -> tuple[float, float]:
    config = MeanVarianceDetector.config_model.model_validate(json.loads(_config_json(d)))
    return MeanVarianceDetector(config).multipliers


def _sql_form(ctx: PlanContext, name: str, d, metric: PlannedMetric, value: str, order: str, stamp: str,
              lookup: PlannedTable | None = None):  # fmt: skip
    path = ("detectors", name)
    schema = metric.view.schema
    keys = [q(k) for k in metric.dims]
    v = f"CAST({q(value)} AS DOUBLE)"
    base_cols = tuple(q(c.name) for c in schema.columns if not c.proctime)
    views: list[PlannedView] = []
    source_name, source_raw = metric.view.name, metric.view.raw_name
    pattern = getattr(d, "pattern", "both")
    inclusive = False
    params: dict[str, str] = {}  # setting -> the column holding its per-key value
    if d.per_key is not None and lookup is not None:
        planned = plan_per_key(ctx, name, d, metric, lookup, _per_key_defaults(d))
        if planned is None:
            return None
        views.extend(planned[0])
        source_name, source_raw = planned[1].name, planned[1].raw_name
        params = {c.name.removeprefix("__"): q(c.name) for c in planned[1].schema.columns if c.name.startswith("__")}

    if isinstance(d, ThresholdRule):
        lo = params.get("min") or (_num(d.min) if d.min is not None else None)
        hi = params.get("max") or (_num(d.max) if d.max is not None else None)
        expected = v
        if hi is not None:
            expected = f"LEAST({expected}, {hi})"
        if lo is not None:
            expected = f"GREATEST({expected}, {lo})"
        lower, upper = lo or "CAST(NULL AS DOUBLE)", hi or "CAST(NULL AS DOUBLE)"
        if params:  # a per-key bound may be NULL: no check on that side
            expected = f"COALESCE({expected}, {v})"
        checks = []
        gt, lt = (">=", "<=") if d.inclusive else (">", "<")
        if hi is not None:
            checks.append(f"{v} {gt} {hi}")
        if lo is not None:
            checks.append(f"{v} {lt} {lo}")
        anomaly = "(" + " OR ".join(checks) + ")"
        ready = "TRUE"
    else:
        helpers: list[str]
        joins: tuple[str, ...] = ()
        from_ = source_name
        cols = base_cols + tuple(params.values())
        if isinstance(d, (PercentageChangeRule, AbsoluteChangeRule)):
            if isinstance(d.offset, int):
                over = f"PARTITION BY {', '.join(keys)} ORDER BY {q(order)}" if keys else f"ORDER BY {q(order)}"
                helpers = [f"LAG({v}, {d.offset}) OVER ({over}) AS {q('baseline')}"]
            else:
                # Same key at exactly t - offset: a LEFT interval self-join keeps state bounded.
                off = parse_duration(d.offset).sql()
                on = [f"{q('a')}.{k} = {q('b')}.{k}" for k in keys]
                on.append(f"{q('b')}.{q(order)} BETWEEN {q('a')}.{q(order)} - {off} AND {q('a')}.{q(order)} - {off}")
                from_ = f"{source_name} AS {q('a')}"
                joins = (f"LEFT JOIN {source_name} AS {q('b')} ON {' AND '.join(on)}",)
                cols = tuple(f"{q('a')}.{c}" for c in (*base_cols, *params.values()))
                helpers = [f"CAST({q('b')}.{q(value)} AS DOUBLE) AS {q('baseline')}"]
            b = q("baseline")
            threshold = params.get("threshold") or _num(d.threshold)
            band = f"{threshold} * ABS({b})" if isinstance(d, PercentageChangeRule) else threshold
            expected, lower, upper = b, f"{b} - {band}", f"{b} + {band}"
            ready = f"{b} IS NOT NULL"
        elif isinstance(d, MeanVarianceRule):
            partition = list(keys)
            if d.seasonality in SEASON_SECONDS:
                ts = q(stamp)
                day = f"HOUR({ts}) * 3600 + MINUTE({ts}) * 60 + SECOND({ts})"
                partition.append(day if d.seasonality == "daily" else f"DAYOFWEEK({ts}) * 86400 + {day}")
            over = (f"PARTITION BY {', '.join(partition)} " if partition else "") + \
                f"ORDER BY {q(order)} ROWS BETWEEN {d.lookback} PRECEDING AND CURRENT ROW"  # fmt: skip
            helpers = [
                f"SUM({v}) OVER ({over}) - {v} AS {q('mv_sum')}",
                f"SUM({v} * {v}) OVER ({over}) - {v} * {v} AS {q('mv_sumsq')}",
                f"COUNT({v}) OVER ({over}) - 1 AS {q('mv_n')}",
            ]
            s1, s2, n = q("mv_sum"), q("mv_sumsq"), q("mv_n")
            expected = f"({s1} / NULLIF({n}, 0))"
            std = f"(CASE WHEN {n} >= 2 THEN SQRT(GREATEST(({s2} - {s1} * {s1} / {n}) / ({n} - 1), 0)) ELSE 0 END)"
            k_lo, k_up = _multipliers(d)
            k_lo_sql, k_up_sql = params.get("k_lower") or _num(k_lo), params.get("k_upper") or _num(k_up)
            lower, upper = f"{expected} - {k_lo_sql} * {std}", f"{expected} + {k_up_sql} * {std}"
            ready = f"{n} >= {max(d.min_points or d.lookback, 1)}"
        else:  # pragma: no cover - guarded by _sql_form_available
            raise TypeError(d.type)
        input_name = f"{name}__input"
        # Missing values take no place in a window and are not judged (as in the Python detectors).
        present = f"{q('a')}.{q(value)} IS NOT NULL" if joins else f"{q(value)} IS NOT NULL"
        input_schema = Schema(tuple(c for c in schema.columns if not c.proctime)
                              + tuple(Column(f"__{p}", DOUBLE) for p in params))  # fmt: skip
        views.append(PlannedView(q(input_name), input_name, Select((*cols, *helpers), from_, joins, (present,)),
                                 ctx.loc(path), input_schema, stateful=True, depends_on=(source_raw,)))  # fmt: skip
        source_name = q(input_name)
        anomaly = _anomaly(pattern, v, lower, upper, inclusive)

    is_anomaly = f"COALESCE({ready} AND {anomaly}, FALSE)"
    edge = f"(CASE WHEN {v} > {expected} THEN {upper} ELSE {lower} END)"
    score = (f"CASE WHEN NOT ({ready}) OR {v} IS NULL THEN CAST(NULL AS DOUBLE) WHEN {v} = {expected} THEN 0.0 "
             f"ELSE ABS({v} - {expected}) / NULLIF(ABS({edge} - {expected}), 0) END")  # fmt: skip
    columns = (
        *base_cols,
        f"CASE WHEN {ready} THEN {expected} END AS {q('expected')}",
        f"CASE WHEN {ready} THEN {lower} END AS {q('lower')}",
        f"CASE WHEN {ready} THEN {upper} END AS {q('upper')}",
        f"{score} AS {q('score')}",
        f"{is_anomaly} AS {q('is_anomaly')}",
    )
    where = (is_anomaly,) if d.emit == "anomalies" else ()
    out = Schema(tuple(c for c in schema.columns if not c.proctime)
                 + tuple(Column(c, DOUBLE) for c in RESULT_COLUMNS[:4]) + (Column("is_anomaly", BOOLEAN),))  # fmt: skip
    depends = (views[-1].raw_name,) if views else (metric.view.raw_name,)
    view = PlannedView(q(name), name, Select(columns, source_name, where=where), ctx.loc(path), out,
                       stateful=bool(views), depends_on=depends)  # fmt: skip
    return PlannedDetector(name, (*views, view), False, metric.unique_key, metric.dims)


def _udf_form(ctx: PlanContext, name: str, d, metric: PlannedMetric, value: str, stamp: str):
    path = ("detectors", name)
    if d.emit != "all":
        ctx.error((*path, "emit"), f"{d.type} runs as a Python UDF that writes every point with its score, as an "
                  "upsert stream keyed by the metric's dimensions", "set `emit: all` and use an upsert-kafka or "
                  "jdbc sink keyed by the dimensions; filter on is_anomaly downstream")  # fmt: skip
        return None
    schema = metric.view.schema
    keys = tuple(q(k) for k in metric.dims)
    # fsg_detect returns the judgements of each bundle's points as an array; UNNEST gives each
    # point its own row (flinksql_gen/udfs/detect.py explains why).
    call = (f"{DETECT_UDF.name}({quote_string(_config_json(d))}, CAST({q(stamp)} AS TIMESTAMP(3)), "
            f"CAST({q(value)} AS DOUBLE)) AS {q('rs')}")  # fmt: skip
    input_name = f"{name}__input"
    inner = Select((*keys, call), metric.view.name, group_by=keys)
    fields = ", ".join(q(f) for f in ("ts", "value", *RESULT_COLUMNS))
    unnest = f"CROSS JOIN UNNEST({q('s')}.{q('rs')}) AS {q('p')} ({fields})"
    outer_cols = (*(f"{q('s')}.{k}" for k in keys), *(f"{q('p')}.{q(f)}" for f in ("ts", "value", *RESULT_COLUMNS)))
    dim_cols = tuple(Column(k, schema.get(k).type) for k in metric.dims)
    inner_view = PlannedView(q(input_name), input_name, inner, ctx.loc(path), Schema(dim_cols), stateful=True,
                             depends_on=(metric.view.raw_name,))  # fmt: skip
    out = Schema(dim_cols + (Column("ts", TIMESTAMP3), Column("value", DOUBLE))
                 + tuple(Column(c, DOUBLE) for c in RESULT_COLUMNS[:4]) + (Column("is_anomaly", BOOLEAN),))  # fmt: skip
    view = PlannedView(q(name), name, Select(outer_cols, f"{q(input_name)} AS {q('s')}", (unnest,)), ctx.loc(path),
                       out, stateful=True, depends_on=(input_name,))  # fmt: skip
    return PlannedDetector(name, (inner_view, view), True, tuple(metric.dims), metric.dims)
