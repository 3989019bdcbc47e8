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

from flinksql_gen.bundle import TableInfo, UdfInfo
from flinksql_gen.detectors.registry import detector_class, sql_band
from flinksql_gen.detectors.sql import RESULT_COLUMNS, RESULT_NAMES, SqlBand, SqlRow
from flinksql_gen.models.types import DOUBLE, STRING, TIMESTAMP3, parse_type
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.detectors import PlannedDetector
from flinksql_gen.plan.metrics import PlannedMetric
from flinksql_gen.plan.per_key import plan_per_key
from flinksql_gen.plan.plan import Column, PlannedTable, PlannedView, Schema, Select
from flinksql_gen.plan.service_dead_letters import plan_service_dead_letters
from flinksql_gen.plan.tables import option_pairs
from flinksql_gen.sql.quoting import quote_identifier as q
from flinksql_gen.sql.quoting import quote_string

DETECT_UDF = UdfInfo("fsg_detect", "flinksql_gen.udfs.detect:fsg_detect")
# model_service: the same shape, batched calls of the user's service, plus a `reason` column.
MODEL_SERVICE_UDF = UdfInfo("fsg_model_service", "flinksql_gen.udfs.model_service:fsg_model_service")
# ... or an async lookup join on a table of flinksql-gen's Java connector
# (flinksql_gen/java/src/org/flinksqlgen/model): concurrent calls across keys; see uses_java_engine.
MODEL_SERVICE_CONNECTOR = "flinksql-gen-model-service"


def _config_json(d) -> str:
    """The detector's own settings (not the pipeline wiring) as the UDF's JSON argument."""
    cls = detector_class(d.type).config_model
    data = d.model_dump(include=set(cls.model_fields), exclude_none=True, mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


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
    clash = [c for c in RESULT_NAMES if schema.get(c)]
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
    form = _chosen_form(ctx, name, d)
    if form is None:
        return None
    if form == "udf" and d.type == "model_service":
        java = uses_java_engine(d, metric, ctx.parallelism)
        if java is None:
            ctx.error((*path, "engine"), "engine: java keeps a key's records in order only when they all reach one "
                      f"parallel instance, and metric {metric.name!r} has no window (rows of a key can come from "
                      f"several source partitions) while the parallelism is {ctx.parallelism}",
                      "set engine: auto or python (the Python aggregate groups by the key), parallelism 1, or give "
                      "the metric a window")  # fmt: skip
            return None
        if java:
            return _java_form(ctx, name, d, metric, value, stamp)
    if form == "udf":
        return _udf_form(ctx, name, d, metric, value, stamp)
    return _sql_form(ctx, name, d, metric, value, order, stamp, lookup)


def _chosen_form(ctx: PlanContext, name: str, d) -> str | None:
    """`sql` or `udf`: the form asked for, or with `auto` the pure-SQL one when the type has it;
    None after reporting a form the target or the settings cannot run."""
    path = ("detectors", name)
    sql_ok = detector_class(d.type).sql_form_available(d)
    form = d.form if d.form != "auto" else ("sql" if sql_ok else "udf")
    alternatives = "threshold, percentage_change, absolute_change or mean_variance (daily/weekly seasonality)"
    if form == "sql" and not sql_ok:
        ctx.error((*path, "form"), f"{d.type} has no pure-SQL form with these settings",
                  f"pure-SQL detectors: {alternatives} without postprocess")  # fmt: skip
        return None
    if form == "udf" and ctx.aiven and d.type == "model_service":
        ctx.error((*path, "type"), f"detector {name!r} calls an HTTP model service from a Python UDF "
                  "(fsg_model_service), and Aiven's managed Flink runs no UDFs",
                  f"run it on a local or cluster target, or use a pure-SQL detector on Aiven: {alternatives}")  # fmt: skip
        return None
    if form == "udf" and ctx.aiven:
        ctx.error((*path, "type"), f"detector {name!r} ({d.type}) needs a Python UDF, and Aiven's managed Flink "
                  "runs no UDFs", f"use a pure-SQL detector: {alternatives}")  # fmt: skip
        return None
    if form == "udf" and d.per_key is not None:
        ctx.error((*path, "per_key"), f"per-key settings need the pure-SQL form, and {d.type} runs as a UDF here",
                  f"pure-SQL detectors: {alternatives}")  # fmt: skip
        return None
    return form


def _sql_form(ctx: PlanContext, name: str, d, metric: PlannedMetric, value: str, order: str, stamp: str,
              lookup: PlannedTable | None = None):  # fmt: skip
    path = ("detectors", name)
    schema = metric.view.schema
    v = f"CAST({q(value)} AS DOUBLE)"
    base_cols = tuple(q(c.name) for c in schema.columns if not c.proctime)
    views: list[PlannedView] = []
    source_name, source_raw = metric.view.name, metric.view.raw_name
    params: dict[str, str] = {}  # parameter -> the column holding its per-key value
    if d.per_key is not None and lookup is not None:
        defaults = detector_class(d.type).sql_parameters(d, d.per_key.settings)
        planned = plan_per_key(ctx, name, d, metric, lookup, defaults)
        if planned is None:
            return None
        views.extend(planned[0])
        source_name, source_raw = planned[1].name, planned[1].raw_name
        params = {c.name.removeprefix("__"): q(c.name) for c in planned[1].schema.columns if c.name.startswith("__")}
    band = sql_band(d, SqlRow(v, q(value), tuple(q(k) for k in metric.dims), q(order), q(stamp), params))
    assert band is not None, "guarded by sql_form_available"
    if band.helpers:
        views.append(_input_view(ctx, name, metric, value, band, source_name, source_raw, params, q(order)))
        source_name = views[-1].name
    expected, lower, upper, ready = band.expected, band.lower, band.upper, band.ready
    anomaly = band.is_anomalous(v, getattr(d, "pattern", "both"))
    is_anomaly = f"COALESCE({ready} AND {anomaly}, FALSE)"
    edge = f"(CASE WHEN {v} > {expected} THEN {upper} ELSE {lower} END)"
    if band.score is None:
        score = (f"CASE WHEN NOT ({ready}) OR {v} IS NULL THEN CAST(NULL AS DOUBLE) WHEN {v} = {expected} THEN 0.0 "
                 f"ELSE ABS({v} - {expected}) / NULLIF(ABS({edge} - {expected}), 0) END")  # fmt: skip
    else:
        score = f"CASE WHEN NOT ({ready}) OR {v} IS NULL THEN CAST(NULL AS DOUBLE) ELSE {band.score} END"
    results = {"expected": f"CASE WHEN {ready} THEN {expected} END", "lower": f"CASE WHEN {ready} THEN {lower} END",
               "upper": f"CASE WHEN {ready} THEN {upper} END", "score": score, "is_anomaly": is_anomaly}  # fmt: skip
    columns = (*base_cols, *(f"{results[c]} AS {q(c)}" for c in RESULT_NAMES))
    where = (is_anomaly,) if d.emit == "anomalies" else ()
    out = Schema(tuple(c for c in schema.columns if not c.proctime) + _result_schema())
    depends = (views[-1].raw_name,) if views else (metric.view.raw_name,)
    view = PlannedView(q(name), name, Select(columns, source_name, where=where), ctx.loc(path), out,
                       stateful=bool(views), depends_on=depends)  # fmt: skip
    return PlannedDetector(name, (*views, view), False, metric.unique_key, metric.dims)


def _input_view(ctx: PlanContext, name: str, metric: PlannedMetric, value: str, band: SqlBand, source_name: str,
                source_raw: str, params: dict[str, str], order: str) -> PlannedView:  # fmt: skip
    """`<name>__input`: the metric's rows (with any per-key columns) and the band's helper columns."""
    schema = metric.view.schema
    cols: tuple[str, ...] = (*(q(c.name) for c in schema.columns if not c.proctime), *params.values())
    from_, joins = source_name, ()
    if band.offset is not None:
        # Same key at exactly t - offset: a LEFT interval self-join keeps state bounded.
        a, b = q("a"), q("b")
        on = [f"{a}.{q(k)} = {b}.{q(k)}" for k in metric.dims]
        on.append(f"{b}.{order} BETWEEN {a}.{order} - {band.offset} AND {a}.{order} - {band.offset}")
        from_, joins = f"{source_name} AS {a}", (f"LEFT JOIN {source_name} AS {b} ON {' AND '.join(on)}",)
        cols = tuple(f"{a}.{c}" for c in cols)
    input_name = f"{name}__input"
    # Missing values take no place in a window and are not judged (as in the Python detectors).
    present = f"{q('a')}.{q(value)} IS NOT NULL" if joins else f"{q(value)} IS NOT NULL"
    input_schema = Schema(tuple(c for c in schema.columns if not c.proctime)
                          + tuple(Column(f"__{p}", DOUBLE) for p in params))  # fmt: skip
    return PlannedView(q(input_name), input_name, Select((*cols, *band.helpers), from_, joins, (present,)),
                       ctx.loc(("detectors", name)), input_schema, stateful=True, depends_on=(source_raw,))  # fmt: skip


def _result_schema() -> tuple[Column, ...]:
    return tuple(Column(c, parse_type(t)) for c, t in RESULT_COLUMNS)


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
    udf, extra, results = DETECT_UDF, "", ("ts", "value", *RESULT_NAMES)
    if d.type == "model_service":
        # The service keeps each key's state, so it is told the key: one dimension as text, several as
        # a JSON array of texts.
        udf, extra, results = MODEL_SERVICE_UDF, f"{_service_key(keys)}, ", (*results, "reason")
    call = (f"{udf.name}({quote_string(_config_json(d))}, {extra}CAST({q(stamp)} AS TIMESTAMP(3)), "
            f"CAST({q(value)} AS DOUBLE)) AS {q('rs')}")  # fmt: skip
    input_name = f"{name}__input"
    inner = Select((*keys, call), metric.view.name, group_by=keys)
    fields = ", ".join(q(f) for f in results)
    unnest = f"CROSS JOIN UNNEST({q('s')}.{q('rs')}) AS {q('p')} ({fields})"
    outer_cols = (*(f"{q('s')}.{k}" for k in keys), *(f"{q('p')}.{q(f)}" for f in results))
    dim_cols = tuple(Column(k, schema.get(k).type) for k in metric.dims)
    inner_view = PlannedView(q(input_name), input_name, inner, ctx.loc(path), Schema(dim_cols), stateful=True,
                             depends_on=(metric.view.raw_name,))  # fmt: skip
    out = Schema(dim_cols + (Column("ts", TIMESTAMP3), Column("value", DOUBLE)) + _result_schema()
                 + ((Column("reason", STRING),) if udf is MODEL_SERVICE_UDF else ()))  # fmt: skip
    view = PlannedView(q(name), name, Select(outer_cols, f"{q(input_name)} AS {q('s')}", (unnest,)), ctx.loc(path),
                       out, stateful=True, depends_on=(input_name,))  # fmt: skip
    if udf is not MODEL_SERVICE_UDF:
        return PlannedDetector(name, (inner_view, view), True, tuple(metric.dims), metric.dims, (udf,))
    sink, insert = plan_service_dead_letters(ctx, name, d, _service_key(keys), name, updating=True)
    return PlannedDetector(name, (inner_view, view), True, tuple(metric.dims), metric.dims, (udf,),
                           sinks=(sink,), inserts=(insert,))  # fmt: skip


def uses_java_engine(d, metric: PlannedMetric, parallelism: int) -> bool | None:
    """Whether a model_service detector runs on the java engine, the async lookup join (None:
    `engine: java` where it cannot keep a key's order).

    The lookup join is keyed by nothing: it sees the records in the order its own parallel
    instance receives them. A key's records reach one instance in order when the parallelism is 1,
    or when the metric is windowed (its window aggregate is keyed by the dimensions and forwards
    to the join). A row-level metric at a higher parallelism reads several source partitions
    per key unless the producer keys them; `auto` then keeps the Python aggregate (its GROUP BY
    shuffles by the key). A detector fallback keeps state in Flink: the Python aggregate too."""
    ordered = parallelism == 1 or metric.window is not None
    if d.engine == "java":
        return True if ordered else None
    return d.engine == "auto" and d.fallback_spec() is None and ordered


def _java_form(ctx: PlanContext, name: str, d, metric: PlannedMetric, value: str, stamp: str) -> PlannedDetector:
    """`<name>__service`: a lookup-only table of the Java connector, whose row for (key, ts, value) is
    the service's judgement; `<name>__input` gives each record its key, a processing time and a
    non-NULL lookup value (NaN for a missing value, sent as null: Flink looks no NULL key up);
    `<name>` joins them (async, ordered: table.exec.async-lookup.*).

    Append-only (every record once, in the key's order), with the dimensions as its unique key so
    that the same upsert sinks as the Python form's accept it."""
    path = ("detectors", name)
    schema = metric.view.schema
    keys = tuple(q(k) for k in metric.dims)
    ts, v = f"CAST({q(stamp)} AS TIMESTAMP(3))", f"CAST({q(value)} AS DOUBLE)"
    service_name = f"{name}__service"
    service_cols = (Column("key", STRING), Column("ts", TIMESTAMP3), Column("value", DOUBLE), *_result_schema(),
                    Column("reason", STRING))  # fmt: skip
    options = option_pairs([("connector", MODEL_SERVICE_CONNECTOR), ("config", _config_json(d))])
    service = PlannedTable(q(service_name), service_name, tuple(f"{q(c.name)} {c.type.sql()}" for c in service_cols),
                           options, ctx.loc(path), TableInfo(service_name, "lookup", MODEL_SERVICE_CONNECTOR),
                           Schema(service_cols))  # fmt: skip
    input_name = f"{name}__input"
    inner = Select((*keys, f"{ts} AS {q('ts')}", f"{v} AS {q('value')}", f"{_service_key(keys)} AS {q('__key')}",
                    f"COALESCE({v}, CAST('NaN' AS DOUBLE)) AS {q('__value')}", f"PROCTIME() AS {q('__proc')}"),
                   metric.view.name)  # fmt: skip
    dim_cols = tuple(Column(k, schema.get(k).type) for k in metric.dims)
    base = dim_cols + (Column("ts", TIMESTAMP3), Column("value", DOUBLE))
    inner_view = PlannedView(q(input_name), input_name, inner, ctx.loc(path), Schema(base),
                             depends_on=(metric.view.raw_name,))  # fmt: skip
    s, r = q("s"), q("r")
    join = (f"LEFT JOIN {q(service_name)} FOR SYSTEM_TIME AS OF {s}.{q('__proc')} AS {r} ON {r}.{q('key')} = "
            f"{s}.{q('__key')} AND {r}.{q('ts')} = {s}.{q('ts')} AND {r}.{q('value')} = {s}.{q('__value')}")
    cols = (*(f"{s}.{k}" for k in (*keys, q("ts"), q("value"))), *(f"{r}.{q(f)}" for f in (*RESULT_NAMES, "reason")))
    out = Schema(base + _result_schema() + (Column("reason", STRING),))
    # Every judgement, before `emit: anomalies` keeps the flagged ones: the dead letters read it too
    # (one lookup join: Flink reuses the shared sub-plan, so each record is sent once).
    scored_name = name if d.emit == "all" else f"{name}__scored"
    scored = PlannedView(q(scored_name), scored_name, Select(cols, f"{q(input_name)} AS {s}", (join,)), ctx.loc(path),
                         out, depends_on=(input_name,), tables=(service_name,))  # fmt: skip
    views = [inner_view, scored]
    if d.emit == "anomalies":
        views.append(PlannedView(q(name), name, Select(tuple(q(c.name) for c in out.columns), q(scored_name),
                                                       where=(q("is_anomaly"),)),
                                 ctx.loc(path), out, depends_on=(scored_name,)))  # fmt: skip
    sink, insert = plan_service_dead_letters(ctx, name, d, _service_key(keys), scored_name, updating=False)
    return PlannedDetector(name, tuple(views), False, tuple(metric.dims), metric.dims, tables=(service,),
                           sinks=(sink,), inserts=(insert,))  # fmt: skip


def _service_key(keys: tuple[str, ...]) -> str:
    """The series key the service is told: one dimension as text, several as a JSON array of texts."""
    texts = [f"CAST({k} AS STRING)" for k in keys]
    return texts[0] if len(texts) == 1 else f"JSON_ARRAY({', '.join(texts)} NULL ON NULL)" if texts else "''"


def async_settings(configs: list) -> list[tuple[str, str]]:
    """Flink's async lookup operator settings for these java-engine model_service configs.

    Its default capacity (100 records in flight per instance) would cap every call at 100 records;
    room for two full batches per lane lets one lane's call run while its next batch fills. ORDERED:
    results leave in input order (Flink's default, stated). The operator's timeout only backs up the
    function's own: a record waits at most for the calls queued ahead of it in its lane, each with
    its retries."""
    if not configs:
        return []
    capacity = max(min(max(2 * c.max_concurrency * c.batch_size, 100), 20_000) for c in configs)
    per_call = max(c.timeout * (c.retries + 1) + c.backoff * (2 ** c.retries - 1) + c.linger for c in configs)
    calls_ahead = max(-(-capacity // c.batch_size) for c in configs) + 1
    timeout_ms = max(60_000, round(1000 * per_call * calls_ahead))
    return [("table.exec.async-lookup.buffer-capacity", str(capacity)),
            ("table.exec.async-lookup.timeout", f"{timeout_ms} ms"),
            ("table.exec.async-lookup.output-mode", "ORDERED")]  # fmt: skip
