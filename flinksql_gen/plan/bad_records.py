"""Bad records: malformed and unexpected events are never dropped silently.

A Kafka source whose columns SQL can check (scalars, and ARRAYs of scalars) is read with the
`raw` format: the record's key and value as BYTES plus its topic, partition, offset and
timestamp. Typed columns are computed columns (`TRY_CAST(JSON_VALUE(... RETURNING STRING))`:
JSON_VALUE's typed RETURNING throws ClassCastException on mismatched JSON numbers in Flink 2.0,
even with NULL ON ERROR), and the event-time attribute is never NULL (a bad record gets epoch 0,
which never moves the watermark). The view `<source>__checked` names the first check a record
fails (`__error`); metrics read `<source>__valid` (`__error IS NULL`). By `bad_records`:

- dead-letter (default): INSERT INTO `<source>_dead_letter`, a Kafka topic that gets the record's
  key, value and timestamp unchanged, with headers naming its topic, partition, offset and reason;
- skip: INSERT INTO `<source>_skipped`, a blackhole sink (its numRecordsIn counts them);
- fail: INSERT INTO `<source>__fail`, which casts a message naming topic, partition, offset and
  reason to INT, so the job fails with that message.

`late_events_topic` copies valid records whose event time is not after the watermark as they
arrive (CURRENT_WATERMARK): every record a window drops as late is among them.

Two forms of the checked source, with the same checks, reasons and rows (how each column is read
and checked is in plan/checked_json.py; this module lays out the tables, views and inserts):
- local, cluster and gateway targets: the value format `flinksql-gen-json` (flinksql_gen/java,
  shipped per job like the connectors) parses each record once. In typed mode (STRING, BOOLEAN
  and number columns) it emits the typed columns and every reason itself, and `__valid` and the
  bad-record INSERT read the table's valid and bad rows (`scan.rows` hints of `flinksql-gen-kafka`:
  one read of the topic, split once per record); otherwise it gives the value bytes, the
  structural reason and each field's text, which SQL casts and checks;
- aiven (no custom jars): the `raw` format and a JSON function per column and check.

Sources with ROW, MAP, nested ARRAY or BYTES columns stay on Flink's JSON format, where a bad
record fails the job (Flink 2.0 SQL cannot build those types from JSON text: JSON_QUERY returns
STRING or ARRAY<STRING> only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flinksql_gen.bundle import TableInfo
from flinksql_gen.models.pipeline import KafkaSource
from flinksql_gen.models.types import BIGINT, STRING, TIMESTAMP_LTZ3, FlinkType, TypeSyntaxError, parse_type
from flinksql_gen.plan.checked_json import (
    BYTES,
    INT,
    RecordColumns,
    case_sql,
    checkable,
    checks,
    error_sql,
    extract,
    format_checks,
    format_options,
    from_text,
    text_columns,
    time_floor,
    typed_fields,
    typed_mode,
)
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.plan import Column, PlannedInsert, PlannedTable, PlannedView, Schema, Select
from flinksql_gen.plan.tables import (
    EventTimeSpec,
    exactly_once,
    kafka_connection,
    option_pairs,
    parse_source_columns,
    plan_source,
    resolve_event_time,
    source_options,
    time_attributes,
)
from flinksql_gen.sql.formats import BAD_ROWS, CHECKED_KAFKA, VALID_ROWS
from flinksql_gen.sql.quoting import quote_identifier as q
from flinksql_gen.sql.quoting import quote_string

Mode = Literal["json", "fail", "skip", "dead-letter"]

# the sink each policy writes bad records to: <source><suffix>
SINK_SUFFIX = {"dead-letter": "_dead_letter", "skip": "_skipped", "fail": "__fail"}
LATE_SUFFIX = "_late_events"
HEADER = "flinksql-gen."  # prefix of the headers of dead-letter and late-event records


SQL_TARGETS = frozenset({"aiven"})


def uses_format(ctx: PlanContext) -> bool:
    """Whether the source reads its value with flinksql-gen's format (else JSON functions per column)."""
    return ctx.target.type not in SQL_TARGETS


@dataclass(frozen=True)
class PlannedSource:
    """A source and what reading it safely adds to the pipeline."""

    table: PlannedTable  # the Kafka table
    relation: PlannedTable  # what metrics read: the table itself, or its `__valid` view
    views: tuple[PlannedView, ...] = ()
    sinks: tuple[PlannedTable, ...] = ()
    inserts: tuple[PlannedInsert, ...] = ()


def unchecked_columns(src: KafkaSource) -> list[str]:
    out = []
    for name, text in src.columns.items():
        try:
            if not checkable(parse_type(text)):
                out.append(name)
        except TypeSyntaxError:
            pass
    return out


def mode_of(src: KafkaSource) -> Mode:
    """`json` for sources SQL cannot check (read with Flink's JSON format: bad records fail the job)."""
    if unchecked_columns(src):
        return "json"
    return src.bad_records or "dead-letter"


def generated_names(name: str, src: KafkaSource) -> list[str]:
    """The views and sinks this source adds to the pipeline's namespace."""
    mode = mode_of(src)
    if mode == "json":
        return []
    out = [f"{name}__checked", f"{name}__valid"]
    out.append(name + SINK_SUFFIX[mode])
    if src.late_events_topic:
        out.append(name + LATE_SUFFIX)
    return out


def _settings_ok(ctx: PlanContext, name: str, src: KafkaSource, mode: Mode) -> bool:
    path = ("sources", name)
    ok = True
    nested = ", ".join(unchecked_columns(src))
    if mode == "json" and src.bad_records in ("skip", "dead-letter"):
        ctx.error((*path, "bad_records"), f"bad_records: {src.bad_records} needs columns that SQL can check; "
                  f"{nested} (ROW, MAP, nested ARRAY or BYTES) can only be read with Flink's JSON format, "
                  "where a bad record fails the job",
                  "set bad_records: fail, or declare such a column as STRING (its JSON text)")  # fmt: skip
        ok = False
    if src.dead_letter_topic is not None:
        if mode == "json" and src.bad_records in (None, "fail"):
            ctx.error((*path, "dead_letter_topic"), f"this source has nested columns ({nested}): a bad record "
                      "fails the job, there is nothing to dead-letter",
                      "remove dead_letter_topic, or declare such a column as STRING")  # fmt: skip
            ok = False
        elif mode in ("fail", "skip"):
            ctx.error((*path, "dead_letter_topic"), f"dead_letter_topic is only used with bad_records: dead-letter "
                      f"(this source has bad_records: {mode})",
                      "remove dead_letter_topic or set bad_records: dead-letter")  # fmt: skip
            ok = False
        elif src.dead_letter_topic == src.topic:
            ctx.error((*path, "dead_letter_topic"), "the dead-letter topic cannot be the source topic",
                      "bad records would be read again, forever")  # fmt: skip
            ok = False
    if src.late_events_topic is not None:
        if src.event_time is None:
            ctx.error((*path, "late_events_topic"), "late events need event time, and this source has none",
                      "add event_time, or remove late_events_topic")  # fmt: skip
            ok = False
        elif mode == "json":
            ctx.error((*path, "late_events_topic"), f"late_events_topic needs columns that SQL can check; "
                      f"{nested} can only be read with Flink's JSON format",
                      "declare such a column as STRING (its JSON text), or remove late_events_topic")  # fmt: skip
            ok = False
        elif src.late_events_topic in (src.topic, dead_letter_topic(src)):
            what = "source" if src.late_events_topic == src.topic else "dead-letter"
            ctx.error((*path, "late_events_topic"), f"the late-events topic cannot be the {what} topic",
                      "give late events their own topic")  # fmt: skip
            ok = False
    return ok


def dead_letter_topic(src: KafkaSource) -> str:
    return src.dead_letter_topic or f"{src.topic}_dead_letter"


def plan_source_paths(ctx: PlanContext, name: str, src: KafkaSource) -> PlannedSource | None:
    mode = mode_of(src)
    if not _settings_ok(ctx, name, src, mode):
        return None
    if mode == "json":
        table = plan_source(ctx, name, src)
        return None if table is None else PlannedSource(table, table)
    return _checked_source(ctx, name, src, mode)


def header_map(pairs: list[tuple[str, str]]) -> str:
    """The `headers` column of a record sink: `flinksql-gen.<name>` -> the SQL text expression, as bytes."""
    items = ",\n    ".join(f"{quote_string(HEADER + k)}, CAST({v} AS BYTES)" for k, v in pairs)
    return f"MAP[\n    {items}\n  ] AS {q('headers')}"


def _headers(ctx: PlanContext, r: RecordColumns, name: str, reason: str) -> str:
    return header_map([("reason", reason), ("topic", r.q_topic), ("partition", f"CAST({r.q_partition} AS STRING)"),
                       ("offset", f"CAST({r.q_offset} AS STRING)"), ("pipeline", quote_string(ctx.pipeline)),
                       ("source", quote_string(name))])  # fmt: skip


def record_sink(ctx: PlanContext, name: str, topic: str, origin, payload: FlinkType = BYTES,
                upsert: bool = False) -> PlannedTable:  # fmt: skip
    """A Kafka topic that takes records as given: key, value (raw bytes, or `payload` text), timestamp,
    plus headers. `upsert`: an upsert-kafka table keyed by `key`, for an updating input."""
    lines = [f"{q('key')} {payload.sql()}", f"{q('value')} {payload.sql()}",
             f"{q('headers')} MAP<STRING, BYTES> METADATA", f"{q('timestamp')} TIMESTAMP_LTZ(3) METADATA"]  # fmt: skip
    connector = "upsert-kafka" if upsert else "kafka"
    opts = [("connector", connector), ("topic", topic), *kafka_connection(ctx), ("key.format", "raw")]
    if upsert:
        lines.append(f"PRIMARY KEY ({q('key')}) NOT ENFORCED")
    else:
        opts.append(("key.fields", "key"))
    opts += [("value.format", "raw"), ("value.fields-include", "EXCEPT_KEY"), *exactly_once(ctx, name)]
    schema = Schema((Column("key", payload), Column("value", payload),
                     Column("headers", FlinkType("MAP", key=STRING, element=BYTES)),
                     Column("timestamp", TIMESTAMP_LTZ3)))  # fmt: skip
    info = TableInfo(name=name, role="sink", connector=connector, topic=topic)
    return PlannedTable(q(name), name, tuple(lines), option_pairs(opts), origin, info, schema)


def _blackhole(name: str, columns: tuple[Column, ...], origin) -> PlannedTable:
    lines = tuple(f"{q(c.name)} {c.type.sql()}" for c in columns)
    info = TableInfo(name=name, role="sink", connector="blackhole")
    return PlannedTable(q(name), name, lines, option_pairs([("connector", "blackhole")]), origin, info,
                        Schema(columns))  # fmt: skip


def _record_columns(r: RecordColumns, headers: str) -> tuple[str, ...]:
    return (f"{r.q_key} AS {q('key')}", f"{r.q_value} AS {q('value')}", headers, f"{r.q_timestamp} AS {q('timestamp')}")


def _checked_table(ctx: PlanContext, name: str, src: KafkaSource, columns: list[Column], et: EventTimeSpec | None,
                   r: RecordColumns) -> tuple[PlannedTable, dict[str, str], dict[str, str], bool] | None:
    """The Kafka table of a checked source, with what the checks read for each column and each
    field's text column (format text mode); None after a reported error."""
    fmt = uses_format(ctx)
    typed_cols = fmt and typed_mode(columns, et)  # the format emits the typed columns and every reason
    texts = text_columns(r, columns, {*src.columns, *(n for n in (src.proctime, et and et.attr) if n)}) \
        if fmt and not typed_cols else {}
    lines = [f"{r.q_key} BYTES", f"{r.q_value} BYTES"]
    if typed_cols:
        lines += [f"{q(c.name)} {c.type.nullable().sql()}" for c in columns] + [f"{r.q_error} STRING"]
    elif fmt:  # the format's physical columns: the value bytes, each field's text, the structural reason
        lines += [f"{q(texts[c.name])} STRING" for c in columns] + [f"{r.q_error} STRING"]
    if fmt:  # the format gives the topic (the table's one topic) as a physical column
        lines.append(f"{r.q_topic} STRING")
    metadata = (((r.topic, "STRING", "topic"),) if not fmt else ()) + (
        (r.partition, "INT", "partition"), (r.offset, "BIGINT", "offset"), (r.timestamp, "TIMESTAMP_LTZ(3)", "timestamp"))
    lines += [f"{q(col)} {typ} METADATA FROM '{key}' VIRTUAL" for col, typ, key in metadata]

    def value_of(c: Column) -> str:
        if typed_cols:
            return q(c.name)
        return from_text(q(texts[c.name]), c.type) if fmt else extract(r, c.name, c.type)

    schema_cols: list[Column] = []
    typed: dict[str, str] = {}  # what the checks read for each column
    for c in columns:
        expr = value_of(c)
        if not typed_cols and et is not None and et.origin == "column" and c.name == et.attr:
            # the event time is never NULL: a bad record gets the floor, which never moves the watermark
            lines.append(f"{q(c.name)} AS COALESCE({expr}, {time_floor(c.type)})")
            schema_cols.append(Column(c.name, c.type, rowtime=True))
            typed[c.name] = expr
            continue
        if not typed_cols:  # a computed column; in typed mode it is a physical column of the format
            lines.append(f"{q(c.name)} AS {expr}")
        schema_cols.append(c)
        typed[c.name] = q(c.name)
    if et is not None and et.origin == "kafka":
        lines.append(f"{q(et.attr)} AS {r.q_timestamp}")
        schema_cols.append(Column(et.attr, TIMESTAMP_LTZ3, rowtime=True))
    elif et is not None and et.origin == "epoch":
        col = next(c for c in columns if c.name == et.column)
        lines.append(f"{q(et.attr)} AS COALESCE(TO_TIMESTAMP_LTZ({value_of(col)}, {et.precision}), "
                     f"TO_TIMESTAMP_LTZ(0, 3))")  # fmt: skip
        schema_cols.append(Column(et.attr, TIMESTAMP_LTZ3, rowtime=True))
    if not time_attributes(ctx, name, src, et, lines, schema_cols):
        return None
    if typed_cols:  # valid rows need no record columns unless late events copy them
        bad_only = src.late_events_topic is None
        value_format = format_options(r, columns, texts, typed_fields(columns, et), bad_only=bad_only)
    else:
        value_format = format_options(r, columns, texts) if fmt else [("value.format", "raw")]
    # with the format, Flink's Kafka source whose rows fan out cheaply (flinksql_gen/java/src/.../kafka)
    opts = source_options(ctx, name, src, [("key.format", "raw"), ("key.fields", r.key), *value_format,
                                           ("value.fields-include", "EXCEPT_KEY")],
                          connector=CHECKED_KAFKA if fmt else "kafka")  # fmt: skip
    info = TableInfo(name=name, role="source", connector="kafka", topic=src.topic)
    table = PlannedTable(q(name), name, tuple(lines), opts, ctx.loc(("sources", name)), info, Schema(tuple(schema_cols)))
    return table, typed, texts, typed_cols


def _error_expr(ctx: PlanContext, r: RecordColumns, columns: list[Column], typed: dict[str, str],
                texts: dict[str, str], et: EventTimeSpec | None, typed_cols: bool) -> str:
    """`__error`: the first check a record fails, NULL for a valid record."""
    if typed_cols:
        return r.q_error  # the format names every reason itself
    if uses_format(ctx):
        return case_sql(r, format_checks(r, columns, typed, texts, et))
    return error_sql(r, checks(r, columns, typed, et))


def _checked_views(name: str, table: PlannedTable, r: RecordColumns, error: str,
                   typed_cols: bool) -> tuple[PlannedView, PlannedView, PlannedTable]:
    """`<source>__checked` (every row with its reason), `<source>__valid` (what metrics read)."""
    schema, origin = table.schema, table.origin
    names = [q(c.name) for c in schema.columns]
    record = r.columns()
    checked_name, valid_name = f"{name}__checked", f"{name}__valid"
    checked_select = Select((*names, *(q(c.name) for c in record[:-1]), error), q(name))
    checked = PlannedView(q(checked_name), checked_name, checked_select, origin, Schema((*schema.columns, *record)),
                          tables=(name,))  # fmt: skip
    # In typed mode `__checked` adds nothing to the table, so `__valid` reads the table's valid rows itself
    # (`scan.rows`: the connector splits one read between the valid and the bad-record scans of a job).
    if typed_cols:
        valid = PlannedView(q(valid_name), valid_name, Select(tuple(names), f"{q(name)} {VALID_ROWS}"), origin,
                            schema, tables=(name,))  # fmt: skip
    else:
        valid = PlannedView(q(valid_name), valid_name,
                            Select(tuple(names), q(checked_name), where=(f"{r.q_error} IS NULL",)),
                            origin, schema, depends_on=(checked_name,))  # fmt: skip
    relation = PlannedTable(q(valid_name), valid_name, (), (), origin, table.info, schema)
    return checked, valid, relation


def _rows(name: str, rows: str, typed_cols: bool) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(FROM, views read, tables read) of a path that reads one kind of row: in typed mode the table's
    `valid` or `bad` scan, else `__checked` (every row), which the path filters by `__error`."""
    if typed_cols:
        return f"{q(name)} {rows}", (), (name,)
    return q(f"{name}__checked"), (f"{name}__checked",), ()


def _bad_record_path(ctx: PlanContext, name: str, src: KafkaSource, mode: Mode, r: RecordColumns,
                     typed_cols: bool) -> tuple[PlannedTable, PlannedInsert]:  # fmt: skip
    """Where the policy sends bad records: a dead-letter topic, a counting blackhole, or a failing cast."""
    path = ("sources", name)
    from_, views, tables = _rows(name, BAD_ROWS, typed_cols)
    bad = (f"{r.q_error} IS NOT NULL",)
    mode_origin = ctx.loc((*path, "bad_records")) if src.bad_records else ctx.loc(path)
    sink_name = name + SINK_SUFFIX[mode]
    if mode == "dead-letter":
        topic_origin = ctx.loc((*path, "dead_letter_topic")) if src.dead_letter_topic else mode_origin
        sink = record_sink(ctx, sink_name, dead_letter_topic(src), topic_origin)
        select = Select(_record_columns(r, _headers(ctx, r, name, r.q_error)), from_, where=bad)
    elif mode == "skip":
        cols = (Column("reason", STRING), Column("topic", STRING), Column("partition", INT), Column("offset", BIGINT))
        sink = _blackhole(sink_name, cols, mode_origin)
        select = Select((f"{r.q_error} AS {q('reason')}", f"{r.q_topic} AS {q('topic')}",
                         f"{r.q_partition} AS {q('partition')}", f"{r.q_offset} AS {q('offset')}"),
                        from_, where=bad)  # fmt: skip
    else:
        sink = _blackhole(sink_name, (Column("failed", INT),), mode_origin)
        message = ", ".join([
            "'flinksql-gen: bad record at topic '", r.q_topic, "' partition '", f"CAST({r.q_partition} AS STRING)",
            "' offset '", f"CAST({r.q_offset} AS STRING)",
            quote_string(f" (source {name!r} of pipeline {ctx.pipeline!r}, bad_records: fail): "), r.q_error])  # fmt: skip
        # Flink SQL cannot raise an error: casting the message to INT fails the job with it.
        select = Select((f"CAST(CONCAT({message}) AS INT) AS {q('failed')}",), from_, where=bad)
    return sink, PlannedInsert(f"{name}__{sink_name}", q(sink_name), select, mode_origin, views, tables)


def _late_events_path(ctx: PlanContext, name: str, src: KafkaSource, et: EventTimeSpec, r: RecordColumns,
                      typed_cols: bool) -> tuple[PlannedTable, PlannedInsert]:  # fmt: skip
    """A copy of each valid record whose event time is not after the watermark, as it arrives."""
    late_name = name + LATE_SUFFIX
    late_origin = ctx.loc(("sources", name, "late_events_topic"))
    sink = record_sink(ctx, late_name, src.late_events_topic or "", late_origin)
    rt = q(et.attr)
    reason = (f"CONCAT('event time ', CAST({rt} AS STRING), ' is not after the watermark ', "
              f"CAST(CURRENT_WATERMARK({rt}) AS STRING))")  # fmt: skip
    from_, views, tables = _rows(name, VALID_ROWS, typed_cols)
    valid = () if typed_cols else (f"{r.q_error} IS NULL",)
    select = Select(_record_columns(r, _headers(ctx, r, name, reason)), from_,
                    where=(*valid, f"{rt} <= CURRENT_WATERMARK({rt})"))  # fmt: skip
    return sink, PlannedInsert(f"{name}__{late_name}", q(late_name), select, late_origin, views, tables)


def _checked_source(ctx: PlanContext, name: str, src: KafkaSource, mode: Mode) -> PlannedSource | None:
    columns = parse_source_columns(ctx, name, src)
    et = resolve_event_time(ctx, name, src, columns)
    if src.event_time is not None and et is None:
        return None
    r = RecordColumns.avoiding({*src.columns, *(n for n in (src.proctime, et and et.attr) if n)})
    planned = _checked_table(ctx, name, src, columns, et, r)
    if planned is None:
        return None
    table, typed, texts, typed_cols = planned
    checked, valid, relation = _checked_views(name, table, r, _error_expr(ctx, r, columns, typed, texts, et, typed_cols),
                                              typed_cols)  # fmt: skip
    paths = [_bad_record_path(ctx, name, src, mode, r, typed_cols)]
    if src.late_events_topic is not None and et is not None:
        paths.append(_late_events_path(ctx, name, src, et, r, typed_cols))
    return PlannedSource(table, relation, (checked, valid), tuple(s for s, _ in paths), tuple(i for _, i in paths))
