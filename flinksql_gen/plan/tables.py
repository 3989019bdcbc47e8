"""Sources, lookup tables and sinks as planned CREATE TABLE statements with connector options.

Connection values come from the target; for the aiven target they are left blank, to be
filled by Aiven from the service integration (Aiven's application form).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from flinksql_gen.bundle import TableInfo
from flinksql_gen.models.common import parse_duration
from flinksql_gen.models.pipeline import (
    JDBC_NAME_RULE,
    JdbcLookup,
    JdbcSink,
    KafkaSink,
    KafkaSource,
    PrintSink,
    SlackSink,
    UpsertKafkaSink,
)
from flinksql_gen.models.types import TIMESTAMP3, TIMESTAMP_LTZ3, FlinkType, TypeSyntaxError, parse_type
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.plan import Column, PlannedTable, Schema
from flinksql_gen.sql.quoting import list_option, option_string, quote_identifier

_STARTUP = {"earliest": "earliest-offset", "latest": "latest-offset", "group-offsets": "group-offsets"}


def option_pairs(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((option_string(k), option_string(v)) for k, v in pairs)


def kafka_connection(ctx: PlanContext) -> list[tuple[str, str]]:
    if ctx.aiven:
        return [("properties.bootstrap.servers", "")]
    out = [("properties.bootstrap.servers", ctx.target.kafka.bootstrap_servers)]
    out += [(f"properties.{k}", v) for k, v in sorted(ctx.target.kafka.properties.items())]
    return out


def exactly_once(ctx: PlanContext, sink: str) -> list[tuple[str, str]]:
    """Transactional Kafka writes: read_committed readers see each row once, even after a
    restart. Flink commits on checkpoints (so they must be on); the prefix is per pipeline and
    sink, and the timeout stays within Kafka's default transaction.max.timeout.ms (15 min)."""
    out = [("sink.delivery-guarantee", "exactly-once"),
           ("sink.transactional-id-prefix", f"flinksql-gen.{ctx.pipeline}.{sink}"),
           ("properties.transaction.timeout.ms", "900000")]  # fmt: skip
    if not ctx.aiven:
        out += PRODUCER_BATCHING
    return out


# Bigger producer batches: readers see a transaction's records at its commit (the next checkpoint),
# so waiting up to 20 ms to fill a batch delays nothing they can see, and the pipeline spends ~8 %
# less CPU per record (bench_sources.py --sinks --cpu, two runs: 1.08x and 1.09x the producer
# defaults, linger.ms 0 and 16 KiB batches). Measured on the local stack, so not rendered for Aiven.
PRODUCER_BATCHING = [("properties.linger.ms", "20"), ("properties.batch.size", "131072")]


def _jdbc_connection(ctx: PlanContext, table: str) -> list[tuple[str, str]]:
    if ctx.aiven:
        return [("url", ""), ("table-name", table)]
    pg = ctx.target.postgres
    return [("url", pg.url), ("table-name", table), ("username", pg.username), ("password", pg.password)]


def _parse_columns(ctx: PlanContext, columns: dict[str, str], path: tuple) -> list[Column]:
    out = []
    for name, text in columns.items():
        try:
            out.append(Column(name, parse_type(text)))
        except TypeSyntaxError as exc:  # already validated by the model; kept for safety
            ctx.error((*path, name), str(exc))
    return out


@dataclass(frozen=True)
class EventTimeSpec:
    """Where a source's event time comes from, resolved and checked."""

    attr: str  # the rowtime attribute's name
    origin: Literal["kafka", "column", "epoch"]
    column: str | None  # the source column (column, epoch)
    precision: int  # epoch: 3 (milliseconds) or 0 (seconds)
    watermark: str  # the rendered interval


def resolve_event_time(ctx: PlanContext, name: str, src: KafkaSource, columns: list[Column]) -> EventTimeSpec | None:
    """The source's event time (None when it has none or it is wrong; problems go to ctx)."""
    et = src.event_time
    if et is None:
        return None
    et_path = ("sources", name, "event_time")
    watermark = parse_duration(et.watermark).sql()
    if et.kafka_timestamp:
        attr = et.name or "event_time"
        if attr in src.columns:
            ctx.error((*et_path, "name"), f"event-time attribute {attr!r} clashes with a column of the same name",
                      "set event_time.name to a new name")  # fmt: skip
            return None
        return EventTimeSpec(attr, "kafka", None, 3, watermark)
    col = next((c for c in columns if c.name == et.column), None)
    if col is None:
        ctx.error((*et_path, "column"), f"unknown column {et.column!r}",
                  f"columns of this source: {', '.join(src.columns)}")  # fmt: skip
        return None
    fmt = et.format or ("timestamp" if col.type.name in ("TIMESTAMP", "TIMESTAMP_LTZ") else "epoch_millis")
    if fmt == "timestamp":
        if col.type.name not in ("TIMESTAMP", "TIMESTAMP_LTZ"):
            ctx.error((*et_path, "format"), f"column {et.column!r} has type {col.type}, not a TIMESTAMP",
                      "use format: epoch_millis or epoch_seconds")  # fmt: skip
            return None
        if et.name and et.name != et.column:
            ctx.error((*et_path, "name"), "`name` only applies to epoch columns; this column is the event time")
            return None
        return EventTimeSpec(col.name, "column", col.name, 3, watermark)
    if not col.type.is_integral:
        ctx.error((*et_path, "column"), f"{fmt} needs an integer column; {et.column!r} has type {col.type}")
        return None
    attr = et.name or "event_time"
    if attr in src.columns:
        ctx.error((*et_path, "name"), f"event-time attribute {attr!r} clashes with a column of the same name",
                  "set event_time.name to a new name")  # fmt: skip
        return None
    return EventTimeSpec(attr, "epoch", col.name, 3 if fmt == "epoch_millis" else 0, watermark)


def source_options(ctx: PlanContext, name: str, src: KafkaSource, formats: list[tuple[str, str]],
                   connector: str = "kafka") -> tuple:
    """The Kafka source's connector options, with `formats` (the key/value format options)."""
    options = [("connector", connector), ("topic", src.topic), *kafka_connection(ctx)]
    if not ctx.aiven:
        options.append(("properties.group.id", src.group_id or f"flinksql-gen.{ctx.pipeline}.{name}"))
    elif src.group_id:
        options.append(("properties.group.id", src.group_id))
    options.append(("scan.startup.mode", _STARTUP[src.start]))
    options += formats
    if src.idle_timeout:
        options.append(("scan.watermark.idle-timeout", parse_duration(src.idle_timeout).flink_config()))
    if "isolation.level" not in src.properties and "isolation.level" not in ctx.target.kafka.properties:
        # upstream pipelines write transactionally: read what they committed, never aborted rows
        options.append(("properties.isolation.level", "read_committed"))
    options += [(f"properties.{k}", v) for k, v in sorted(src.properties.items())]
    return option_pairs(options)


def time_attributes(ctx: PlanContext, name: str, src: KafkaSource, et: EventTimeSpec | None, lines: list[str],
                    schema_cols: list[Column]) -> bool:
    """Append the processing-time attribute and the watermark (if any) to the table's lines and
    schema; False if the processing-time attribute's name clashes."""
    if src.proctime:
        if any(c.name == src.proctime for c in schema_cols):
            ctx.error(("sources", name, "proctime"), f"{src.proctime!r} clashes with another column")
            return False
        schema_cols.append(Column(src.proctime, TIMESTAMP_LTZ3, proctime=True))
        lines.append(f"{quote_identifier(src.proctime)} AS PROCTIME()")
    if et is not None:
        q = quote_identifier(et.attr)
        lines.append(f"WATERMARK FOR {q} AS {q} - {et.watermark}")
    return True


def parse_source_columns(ctx: PlanContext, name: str, src: KafkaSource) -> list[Column]:
    return _parse_columns(ctx, src.columns, ("sources", name, "columns"))


def plan_source(ctx: PlanContext, name: str, src: KafkaSource) -> PlannedTable | None:
    """The source read with Flink's JSON format: a bad record fails the job (`bad_records: fail` for
    sources whose columns SQL cannot check; see flinksql_gen.plan.bad_records for the others)."""
    path = ("sources", name)
    columns = parse_source_columns(ctx, name, src)
    lines = [f"{quote_identifier(c.name)} {c.type.sql()}" for c in columns]
    schema_cols = list(columns)
    et = resolve_event_time(ctx, name, src, columns)
    if src.event_time is not None and et is None:
        return None
    if et is not None:
        if et.origin == "kafka":
            lines.append(f"{quote_identifier(et.attr)} TIMESTAMP_LTZ(3) METADATA FROM 'timestamp'")
            schema_cols.append(Column(et.attr, TIMESTAMP_LTZ3, rowtime=True))
        elif et.origin == "column":
            schema_cols = [Column(c.name, c.type, rowtime=True) if c.name == et.attr else c for c in schema_cols]
        else:
            lines.append(f"{quote_identifier(et.attr)} AS TO_TIMESTAMP_LTZ({quote_identifier(et.column)}, {et.precision})")
            schema_cols.append(Column(et.attr, TIMESTAMP_LTZ3, rowtime=True))
    if not time_attributes(ctx, name, src, et, lines, schema_cols):
        return None
    options = source_options(ctx, name, src, [
        ("value.format", "json"), ("value.json.fail-on-missing-field", "false"),
        ("value.json.ignore-parse-errors", "false")])  # fmt: skip
    info = TableInfo(name=name, role="source", connector="kafka", topic=src.topic)
    return PlannedTable(quote_identifier(name), name, tuple(lines), options, ctx.loc(path), info,
                        Schema(tuple(schema_cols)))  # fmt: skip


def plan_lookup(ctx: PlanContext, name: str, lk: JdbcLookup) -> PlannedTable | None:
    path = ("lookups", name)
    columns = _parse_columns(ctx, lk.columns, (*path, "columns"))
    ok = True
    for i, k in enumerate(lk.key):
        if k not in lk.columns:
            ctx.error((*path, "key", i), f"key column {k!r} is not among the lookup's columns",
                      f"columns: {', '.join(lk.columns)}")  # fmt: skip
            ok = False
    if not ok:
        return None
    lines = [f"{quote_identifier(c.name)} {c.type.sql()}" for c in columns]
    lines.append(f"PRIMARY KEY ({', '.join(quote_identifier(k) for k in lk.key)}) NOT ENFORCED")
    options = [("connector", "jdbc"), *_jdbc_connection(ctx, lk.table), ("lookup.max-retries", str(lk.max_retries))]
    if lk.cache_rows:
        options.append(("lookup.cache", "PARTIAL"))
        options.append(("lookup.partial-cache.max-rows", str(lk.cache_rows)))
        if lk.cache_ttl:
            options.append(("lookup.partial-cache.expire-after-write", parse_duration(lk.cache_ttl).flink_config()))
    info = TableInfo(name=name, role="lookup", connector="jdbc", key=tuple(lk.key))
    return PlannedTable(quote_identifier(name), name, tuple(lines), option_pairs(options), ctx.loc(path), info,
                        Schema(tuple(columns)))  # fmt: skip


def sink_changelog(sink: object) -> str:
    if isinstance(sink, UpsertKafkaSink) or (isinstance(sink, JdbcSink) and sink.key) or isinstance(sink, PrintSink):
        return "upsert"
    return "append"


def plan_sink(
    ctx: PlanContext, name: str, sink: object, schema: Schema, key_hint: list[str]
) -> PlannedTable | None:
    """CREATE TABLE for a sink whose columns are those of the query feeding it."""
    path = ("sinks", name)
    # Sinks store plain types: time attributes become ordinary timestamps.
    cols = [Column(c.name, _plain(c.type)) for c in schema.columns]
    lines = [f"{quote_identifier(c.name)} {c.type.sql()}" for c in cols]
    key: list[str] = []
    topic = None
    if isinstance(sink, KafkaSink):
        topic = sink.topic
        options = [("connector", "kafka"), ("topic", sink.topic), *kafka_connection(ctx)]
        present = [k for k in key_hint if schema.get(k)]
        # Key records by the dimensions so each key's alerts stay in order in one partition.
        if present:
            options += [("key.format", "json"), ("key.fields", list_option(present))]
        options += [("value.format", "json"), *exactly_once(ctx, name)]
    elif isinstance(sink, UpsertKafkaSink):
        topic, key = sink.topic, list(sink.key)
        options = [("connector", "upsert-kafka"), ("topic", sink.topic), *kafka_connection(ctx),
                   ("key.format", "json"), ("value.format", "json"), *exactly_once(ctx, name)]  # fmt: skip
    elif isinstance(sink, JdbcSink):
        key = list(sink.key)
        options = [("connector", "jdbc"), *_jdbc_connection(ctx, sink.table)]
        unsafe = [c.name for c in cols if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c.name)]
        if unsafe:
            ctx.error(path, f"column(s) {', '.join(map(repr, unsafe))} cannot be written to a jdbc table",
                      f"Flink's JDBC connector does not quote names: name them as {JDBC_NAME_RULE}")  # fmt: skip
            return None
    elif isinstance(sink, PrintSink):
        options = [("connector", "print"), ("print-identifier", name)]
    elif isinstance(sink, SlackSink):
        if ctx.aiven:
            options = [("connector", "slack"), ("token", sink.token)]
        else:
            options = [("connector", "print"), ("print-identifier", name)]
    else:  # pragma: no cover - the model union is closed
        raise TypeError(type(sink))
    for i, k in enumerate(key):
        if schema.get(k) is None:
            ctx.error((*path, "key", i), f"key column {k!r} is not produced by the query writing to this sink",
                      f"columns written: {', '.join(schema.names())}")  # fmt: skip
            return None
    if key:
        lines.append(f"PRIMARY KEY ({', '.join(quote_identifier(k) for k in key)}) NOT ENFORCED")
    info = TableInfo(name=name, role="sink", connector=dict(options)["connector"], topic=topic, key=tuple(key),
                     changelog=sink_changelog(sink))  # fmt: skip
    return PlannedTable(quote_identifier(name), name, tuple(lines), option_pairs(options), ctx.loc(path), info,
                        Schema(tuple(cols)))  # fmt: skip


def _plain(t: FlinkType) -> FlinkType:
    if t.name == "TIMESTAMP_LTZ":
        return TIMESTAMP_LTZ3 if t.params in ((), (3,)) else t.nullable()
    if t.name == "TIMESTAMP":
        return TIMESTAMP3 if t.params in ((), (3,)) else t.nullable()
    return t.nullable()
