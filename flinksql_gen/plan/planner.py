"""Resolve one validated pipeline into a frozen plan: names, schemas, views, sinks and inserts.

Cross-reference problems (dangling names, missing columns, sink keys that do not match
the query) are collected for the whole pipeline and reported together.
"""

from __future__ import annotations

from dataclasses import dataclass

from flinksql_gen.models.common import parse_duration
from flinksql_gen.models.pipeline import (
    STATISTICAL,
    DrilldownDetector,
    FilterDetector,
    HavingDetector,
    JdbcSink,
    KafkaSink,
    LookupThresholdDetector,
    NoDataDetector,
    Pipeline,
    SlackSink,
    TrendDetector,
    UpsertKafkaSink,
)
from flinksql_gen.models.types import STRING
from flinksql_gen.plan.bad_records import generated_names, plan_source_paths
from flinksql_gen.plan.context import PlanContext, known
from flinksql_gen.plan.detectors import (
    PlannedDetector,
    plan_filter,
    plan_having,
    plan_lookup_threshold,
    plan_trend,
)
from flinksql_gen.plan.drilldown import DRILLDOWN_UDF, plan_drilldown
from flinksql_gen.plan.expressions import render_message
from flinksql_gen.plan.gaps import plan_no_data
from flinksql_gen.plan.metrics import PlannedMetric, plan_metric
from flinksql_gen.plan.plan import (
    Column,
    PlannedInsert,
    PlannedPipeline,
    PlannedTable,
    PlannedView,
    Schema,
    Select,
    Setting,
)
from flinksql_gen.plan.service_dead_letters import SUFFIX as DEAD_LETTER_SUFFIX
from flinksql_gen.plan.statistical import (
    DETECT_UDF,
    MODEL_SERVICE_UDF,
    async_settings,
    plan_statistical,
)
from flinksql_gen.plan.tables import plan_lookup, plan_sink
from flinksql_gen.sql.quoting import option_string, quote_string
from flinksql_gen.sql.quoting import quote_identifier as q


@dataclass(frozen=True)
class _Producer:
    """A metric or detector that writes to sinks."""

    kind: str  # "metrics" | "detectors"
    name: str
    view: PlannedView
    updating: bool
    unique_key: tuple[str, ...]
    key_hint: tuple[str, ...]
    sinks: tuple[str, ...]


def _settings(ctx: PlanContext, p: Pipeline) -> tuple[Setting, ...]:
    t = ctx.target
    cp = t.checkpointing
    pairs: dict[str, str] = {
        "pipeline.name": ctx.pipeline,
        "table.local-time-zone": "UTC",  # window bounds and seasonal phases in UTC, on every machine
        "parallelism.default": str(t.parallelism),
        "execution.checkpointing.interval": parse_duration(cp.interval).flink_config(),
        "execution.checkpointing.mode": cp.mode.upper(),
        "execution.checkpointing.timeout": parse_duration(cp.timeout).flink_config(),
        "execution.checkpointing.min-pause": parse_duration(cp.min_pause).flink_config(),
        "execution.checkpointing.externalized-checkpoint-retention": cp.retention.upper(),
        "restart-strategy.type": t.restart.type,
    }
    if cp.directory:
        pairs["execution.checkpointing.dir"] = cp.directory
    if t.restart.type == "fixed-delay":
        pairs["restart-strategy.fixed-delay.attempts"] = str(t.restart.attempts)
        pairs["restart-strategy.fixed-delay.delay"] = parse_duration(t.restart.delay).flink_config()
    elif t.restart.type == "exponential-delay":
        pairs["restart-strategy.exponential-delay.attempts-before-reset-backoff"] = str(t.restart.attempts)
        pairs["restart-strategy.exponential-delay.initial-backoff"] = parse_duration(t.restart.delay).flink_config()
    pairs.update(t.settings)
    pairs.update(p.settings)
    for key, value in pairs.items():
        try:
            option_string(key), option_string(value)
        except ValueError as exc:
            ctx.error(("settings", key), str(exc))
    return tuple(Setting(k, v) for k, v in pairs.items() if "\n" not in k + v)


def _check_names(ctx: PlanContext, p: Pipeline) -> bool:
    """Sources, lookups, sinks, metrics and detectors share one namespace of tables and views."""
    seen: dict[str, str] = {}
    ok = True
    for section in ("sources", "lookups", "sinks", "metrics", "detectors"):
        for name in getattr(p, section):
            generated = [name]
            if section == "sources":
                generated += generated_names(name, getattr(p, section)[name])
            if section == "metrics":
                generated.append(f"{name}__rows")
            if section == "detectors":
                generated += [f"{name}__input", f"{name}__explained"]
                if getattr(p, section)[name].type == "model_service":
                    generated += [f"{name}__service", f"{name}__scored", f"{name}{DEAD_LETTER_SUFFIX}"]
            for g in generated:
                if g in seen:
                    what = f"the name {g!r}" if g == name else f"the name {g!r} (of a table or view it adds)"
                    ctx.error((section, name), f"{what} is already used by {seen[g]}",
                              "tables and views share one namespace: rename one of them", value=False)  # fmt: skip
                    ok = False
                seen[g] = f"{section}.{name}"
    return ok


def _plan_detector(
    ctx: PlanContext, name: str, d: object, metrics: dict[str, PlannedMetric], lookups: dict[str, PlannedTable]
) -> PlannedDetector | None:
    metric = metrics.get(d.metric)  # type: ignore[attr-defined]
    if metric is None:
        return None
    if isinstance(d, FilterDetector):
        return plan_filter(ctx, name, d, metric)
    if isinstance(d, HavingDetector):
        return plan_having(ctx, name, d, metric)
    if isinstance(d, TrendDetector):
        return plan_trend(ctx, name, d, metric)
    if isinstance(d, LookupThresholdDetector):
        lookup = lookups.get(d.lookup)
        return None if lookup is None else plan_lookup_threshold(ctx, name, d, metric, lookup)
    if isinstance(d, DrilldownDetector):
        return plan_drilldown(ctx, name, d, metric)
    if isinstance(d, NoDataDetector):
        planned = plan_no_data(ctx, name, d, metric)
        return None if planned is None else PlannedDetector(name, (planned[0],), False, (), metric.dims)
    if isinstance(d, STATISTICAL):
        per_key = d.per_key and lookups.get(d.per_key.lookup)
        if d.per_key is not None and per_key is None:
            return None
        return plan_statistical(ctx, name, d, metric, per_key)
    raise TypeError(type(d))  # pragma: no cover


def plan_pipeline(ctx: PlanContext, p: Pipeline) -> PlannedPipeline | None:
    if not _check_names(ctx, p):
        return None
    settings = _settings(ctx, p)
    ctx.parallelism = _parallelism(ctx, p)
    planned_sources = {n: ps for n, s in p.sources.items() if (ps := plan_source_paths(ctx, n, s)) is not None}
    sources = {n: ps.relation for n, ps in planned_sources.items()}  # metrics read only valid records
    lookups = {n: t for n, lk in p.lookups.items() if (t := plan_lookup(ctx, n, lk)) is not None}

    metrics: dict[str, PlannedMetric] = {}
    for name, m in p.metrics.items():
        if m.source not in p.sources:
            ctx.error(("metrics", name, "source"), f"unknown source {m.source!r}", known(p.sources, "sources"))
            continue
        if m.source in sources:
            pm = plan_metric(ctx, name, m, sources[m.source])
            if pm is not None:
                metrics[name] = pm
    detectors = _plan_detectors(ctx, p, metrics, lookups)
    producers = [
        _Producer("metrics", n, pm.view, pm.updating, pm.unique_key, pm.dims, tuple(p.metrics[n].sinks))
        for n, pm in metrics.items()
    ] + [
        _Producer("detectors", n, pd.view, pd.updating, pd.unique_key, pd.key_hint, tuple(p.detectors[n].sinks))
        for n, pd in detectors.items()
    ]
    sink_tables, inserts = _plan_outputs(ctx, p, producers)

    _check_sinks_fed(ctx, p)
    if ctx.problems:
        return None

    views: list[PlannedView] = [v for ps in planned_sources.values() for v in ps.views]
    for pm in metrics.values():
        views.extend(pm.views)
    for pd in detectors.values():
        views.extend(pd.views)
    tables = [*(ps.table for ps in planned_sources.values()), *lookups.values(), *sink_tables,
              *(t for ps in planned_sources.values() for t in ps.sinks)]
    inserts += [i for ps in planned_sources.values() for i in ps.inserts]  # bad records, late events
    tables += [t for pd in detectors.values() for t in pd.sinks]
    inserts += [i for pd in detectors.values() for i in pd.inserts]  # model_service dead letters
    used = {u for pd in detectors.values() for u in pd.udfs}  # declared by the step that calls them
    udfs = tuple(u for u in (DETECT_UDF, MODEL_SERVICE_UDF, DRILLDOWN_UDF) if u in used)
    extra = _udf_settings(ctx, udfs)
    tables += [t for pd in detectors.values() for t in pd.tables]
    extra += async_settings([p.detectors[n] for n, pd in detectors.items() if pd.tables])
    settings += tuple(Setting(k, v) for k, v in extra if k not in p.settings)
    return PlannedPipeline(
        name=ctx.pipeline,
        source_file=ctx.file,
        target=ctx.target_name,
        description=p.description,
        settings=settings,
        tables=tuple(tables),
        views=tuple(views),
        inserts=tuple(inserts),
        inline_views=ctx.aiven,
        udfs=udfs,
    )


def _plan_detectors(ctx: PlanContext, p: Pipeline, metrics: dict[str, PlannedMetric],
                    lookups: dict[str, PlannedTable]) -> dict[str, PlannedDetector]:  # fmt: skip
    """Every detector whose metric and lookups were planned; the others are reported."""
    detectors: dict[str, PlannedDetector] = {}
    for name, d in p.detectors.items():
        if d.metric not in p.metrics:
            ctx.error(("detectors", name, "metric"), f"unknown metric {d.metric!r}", known(p.metrics, "metrics"))
            continue
        if isinstance(d, LookupThresholdDetector) and d.lookup not in p.lookups:
            ctx.error(("detectors", name, "lookup"), f"unknown lookup {d.lookup!r}", known(p.lookups, "lookups"))
            continue
        per_key = getattr(d, "per_key", None)
        if per_key is not None and per_key.lookup not in p.lookups:
            ctx.error(("detectors", name, "per_key", "lookup"), f"unknown lookup {per_key.lookup!r}",
                      known(p.lookups, "lookups"))  # fmt: skip
            continue
        pd = _plan_detector(ctx, name, d, metrics, lookups)
        if pd is not None:
            detectors[name] = pd
    return detectors


def _check_sinks_fed(ctx: PlanContext, p: Pipeline) -> None:
    for name in p.sinks:
        fed = any(name in prod_sinks for prod_sinks in
                  [m.sinks for m in p.metrics.values()] + [d.sinks for d in p.detectors.values()])  # fmt: skip
        if not fed:
            ctx.error(("sinks", name), f"sink {name!r} is never written",
                      "list it under `sinks:` of a metric or detector, or remove it", value=False)  # fmt: skip


def _parallelism(ctx: PlanContext, p: Pipeline) -> int:
    """The pipeline's parallelism.default as a number (0, unknown, when it is an ${env:} reference)."""
    value = str(p.settings.get("parallelism.default", ctx.target.settings.get("parallelism.default",
                                                                              ctx.target.parallelism)))  # fmt: skip
    return int(value) if value.strip().isdigit() else 0


def _udf_settings(ctx: PlanContext, udfs: tuple) -> list[tuple[str, str]]:
    """The Flink settings a pipeline with these Python UDFs needs."""
    extra: list[tuple[str, str]] = []
    if udfs:
        # PyFlink 2.0's Python aggregates restore only some keys' state from the HashMap backend
        # after a savepoint or failover (measured: 3 of 4 keys lost); RocksDB restores them all.
        extra.append(("state.backend.type", "rocksdb"))
    if DETECT_UDF in udfs or MODEL_SERVICE_UDF in udfs:
        # fsg_detect returns one array of judgements per key per bundle; bounded bundles keep
        # those arrays (and the state that holds the last one) small. Flink's default is 100,000.
        extra.append(("python.fn-execution.bundle.size", "1000"))
        # Its judgements are never retracted (see udfs/detect.py): the sink's upsert materializer
        # would keep every one of them in state, per key, forever.
        extra.append(("table.exec.sink.upsert-materialize", "NONE"))
    python = getattr(ctx.target, "python", None)
    if udfs and python is not None:
        # What a remote cluster needs to load and run the UDFs the script declares.
        if python.executable:
            extra += [("python.executable", python.executable), ("python.client.executable", python.executable)]
        if python.files:
            extra.append(("python.files", ",".join(python.files)))
    return extra


def _plan_outputs(
    ctx: PlanContext, p: Pipeline, producers: list[_Producer]
) -> tuple[list[PlannedTable], list[PlannedInsert]]:
    feeds: dict[str, list[tuple[_Producer, Schema, Select, int]]] = {}
    for prod in producers:
        for i, sink_name in enumerate(prod.sinks):
            path = (prod.kind, prod.name, "sinks", i)
            sink = p.sinks.get(sink_name)
            if sink is None:
                ctx.error(path, f"unknown sink {sink_name!r}", known(p.sinks, "sinks"))
                continue
            projected = _project(ctx, prod, sink, sink_name, path)
            if projected is None:
                continue
            schema, select = projected
            if not _changelog_ok(ctx, prod, sink, sink_name, path):
                continue
            feeds.setdefault(sink_name, []).append((prod, schema, select, i))

    tables: list[PlannedTable] = []
    inserts: list[PlannedInsert] = []
    for sink_name, sink in p.sinks.items():
        fed = feeds.get(sink_name)
        if not fed:
            continue
        if isinstance(sink, SlackSink) and not ctx.aiven and sink.local_fallback == "none":
            continue
        first = fed[0]
        for prod, schema, _, i in fed[1:]:
            if [(c.name, c.type) for c in schema.columns] != [(c.name, c.type) for c in first[1].columns]:
                ctx.error((prod.kind, prod.name, "sinks", i),
                          f"sink {sink_name!r} is also written by {first[0].kind}.{first[0].name} with other columns",
                          "give each output its own sink, or make the columns match")  # fmt: skip
        table = plan_sink(ctx, sink_name, sink, first[1], list(first[0].key_hint))
        if table is None:
            continue
        tables.append(table)
        for prod, _, select, i in fed:
            inserts.append(
                PlannedInsert(
                    name=f"{prod.name}__{sink_name}",
                    sink=table.name,
                    query=select,
                    origin=ctx.loc((prod.kind, prod.name, "sinks", i)),
                    depends_on=(prod.view.raw_name,),
                )
            )
    return tables, inserts


def _project(
    ctx: PlanContext, prod: _Producer, sink: object, sink_name: str, path: tuple
) -> tuple[Schema, Select] | None:
    """The columns a producer writes to a sink (Slack gets channel_id and message)."""
    schema = prod.view.schema
    if isinstance(sink, SlackSink):
        message = render_message(ctx, sink.message, schema, ("sinks", sink_name, "message"))
        if message is None:
            return None
        cols = (f"{quote_string(sink.channel_id)} AS {q('channel_id')}", f"{message} AS {q('message')}")
        return Schema((Column("channel_id", STRING), Column("message", STRING))), Select(cols, prod.view.name)
    out = Schema(tuple(c for c in schema.columns if not c.proctime))
    return out, Select(tuple(q(c.name) for c in out.columns), prod.view.name)


def _changelog_ok(ctx: PlanContext, prod: _Producer, sink: object, sink_name: str, path: tuple) -> bool:
    what = f"{prod.kind[:-1]} {prod.name!r}"
    key = list(getattr(sink, "key", []) or [])
    appends_only = isinstance(sink, (KafkaSink, SlackSink)) or (isinstance(sink, JdbcSink) and not key)
    if prod.updating and appends_only:
        dims = ", ".join(prod.unique_key) or "the dimensions"
        ctx.error(path, f"{what} aggregates without a window, so its rows update; sink {sink_name!r} "
                  f"({sink.type}) can only append",
                  f"use an upsert-kafka or jdbc sink with key [{dims}], or give the metric a window")  # fmt: skip
        return False
    upserts = isinstance(sink, (UpsertKafkaSink, JdbcSink)) and key and prod.unique_key
    if upserts and set(key) != set(prod.unique_key):
        ctx.error(("sinks", sink_name, "key"),
                  f"key [{', '.join(key)}] does not match the unique key of {what}: "
                  f"[{', '.join(prod.unique_key)}]",
                  "an upsert sink's key must be exactly the query's unique key, or rows overwrite each other")  # fmt: skip
        return False
    return True
