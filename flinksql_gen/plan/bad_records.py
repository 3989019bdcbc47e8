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

Two forms of the checked source, with the same checks, reasons and rows:
- local, cluster and gateway targets: the value format `flinksql-gen-json` (flinksql_gen/java,
  shipped per job like the connectors) parses each record once and gives the value bytes, the
  structural reason (tombstone ... not a JSON object) and each field's text as JSON_VALUE /
  JSON_QUERY would; the typed columns are TRY_CASTs of those texts;
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
from flinksql_gen.sql.formats import CHECKED_JSON as FORMAT
from flinksql_gen.sql.quoting import quote_identifier as q
from flinksql_gen.sql.quoting import quote_string

Mode = Literal["json", "fail", "skip", "dead-letter"]

SCALARS = {"STRING", "CHAR", "VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE",
           "DECIMAL", "DATE", "TIME", "TIMESTAMP", "TIMESTAMP_LTZ"}  # fmt: skip

# the sink each policy writes bad records to: <source><suffix>
SINK_SUFFIX = {"dead-letter": "_dead_letter", "skip": "_skipped", "fail": "__fail"}
LATE_SUFFIX = "_late_events"
HEADER = "flinksql-gen."  # prefix of the headers of dead-letter and late-event records
BYTES, INT = FlinkType("BYTES"), FlinkType("INT")


@dataclass(frozen=True)
class RecordColumns:
    """Names of the columns that hold the Kafka record itself: `__key`, `__value`, ... unless a
    declared column already has that name (then `__value_1`, ...)."""

    key: str = "__key"
    value: str = "__value"
    topic: str = "__topic"
    partition: str = "__partition"
    offset: str = "__offset"
    timestamp: str = "__timestamp"
    error: str = "__error"

    @staticmethod
    def avoiding(taken: set[str]) -> RecordColumns:
        names = {}
        for role, default in vars(RecordColumns()).items():
            name, n = default, 0
            while name in taken:
                n += 1
                name = f"{default}_{n}"
            names[role] = name
        return RecordColumns(**names)

    # the quoted identifiers
    q_key = property(lambda self: q(self.key))
    q_value = property(lambda self: q(self.value))
    q_topic = property(lambda self: q(self.topic))
    q_partition = property(lambda self: q(self.partition))
    q_offset = property(lambda self: q(self.offset))
    q_timestamp = property(lambda self: q(self.timestamp))
    q_error = property(lambda self: q(self.error))

    @property
    def json(self) -> str:
        return f"CAST({self.q_value} AS STRING)"

    def columns(self) -> tuple[Column, ...]:
        """In the order of the checked view."""
        return (Column(self.key, BYTES), Column(self.value, BYTES), Column(self.topic, STRING),
                Column(self.partition, INT), Column(self.offset, BIGINT), Column(self.timestamp, TIMESTAMP_LTZ3),
                Column(self.error, STRING))  # fmt: skip


@dataclass(frozen=True)
class PlannedSource:
    """A source and what reading it safely adds to the pipeline."""

    table: PlannedTable  # the Kafka table
    relation: PlannedTable  # what metrics read: the table itself, or its `__valid` view
    views: tuple[PlannedView, ...] = ()
    sinks: tuple[PlannedTable, ...] = ()
    inserts: tuple[PlannedInsert, ...] = ()


def checkable(t: FlinkType) -> bool:
    """Can SQL build this type from JSON text (and so tell a wrong value from a right one)?"""
    if t.name == "ARRAY":
        return t.element is not None and t.element.name in SCALARS
    return t.name in SCALARS


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


# ---------------------------------------------------------------------------- the checked path


def json_path(column: str) -> str:
    """The SQL literal of the JSON path of a top-level field (bracket form for unusual names)."""
    if column.isidentifier() and column.isascii():
        return quote_string(f"$.{column}")
    return quote_string("$['" + column.replace("\\", "\\\\").replace("'", "\\'") + "']")


def _text(r: RecordColumns, column: str) -> str:
    """A top-level field as text: a scalar's value, or (like Flink's JSON format) an object's or array's JSON."""
    p = json_path(column)
    return f"COALESCE(JSON_VALUE({r.json}, {p} RETURNING STRING NULL ON ERROR), JSON_QUERY({r.json}, {p} NULL ON ERROR))"


def extract(r: RecordColumns, column: str, t: FlinkType) -> str:
    """The typed value of a top-level JSON field; NULL when missing, null or not of type `t` (CAST's rules)."""
    p = json_path(column)
    plain = t.nullable()
    if t.name == "ARRAY":
        arr = f"JSON_QUERY({r.json}, {p} RETURNING ARRAY<STRING> NULL ON ERROR)"
        return arr if plain.element.name == "STRING" else f"TRY_CAST({arr} AS {plain.sql()})"
    if t.is_string:
        return _text(r, column) if t.name == "STRING" else f"TRY_CAST({_text(r, column)} AS {plain.sql()})"
    return f"TRY_CAST(JSON_VALUE({r.json}, {p} RETURNING STRING NULL ON ERROR) AS {plain.sql()})"


# Targets whose checked sources use the pure-SQL form. Aiven runs no custom jars; benchmarks and tests
# add "local" to run that form here.
SQL_TARGETS = frozenset({"aiven"})


def uses_format(ctx: PlanContext) -> bool:
    """Whether the source reads its value with flinksql-gen's format (else JSON functions per column)."""
    return ctx.target.type not in SQL_TARGETS


def text_columns(r: RecordColumns, columns: list[Column], taken: set[str]) -> dict[str, str]:
    """The physical STRING column holding each declared column's JSON text: `__json_<name>`."""
    out: dict[str, str] = {}
    used = set(taken) | {v for v in vars(r).values()}
    for c in columns:
        name, n = f"__json_{c.name}", 0
        while name in used:
            n += 1
            name = f"__json_{c.name}_{n}"
        used.add(name)
        out[c.name] = name
    return out


def from_text(text: str, t: FlinkType) -> str:
    """The typed value of a column from its JSON text (what `extract` gives from the whole document)."""
    plain = t.nullable()
    if t.name == "ARRAY":
        arr = f"JSON_QUERY({text}, '$' RETURNING ARRAY<STRING> NULL ON ERROR)"
        return arr if plain.element.name == "STRING" else f"TRY_CAST({arr} AS {plain.sql()})"
    if t.name == "STRING":
        return text
    return f"TRY_CAST({text} AS {plain.sql()})"


def format_options(r: RecordColumns, columns: list[Column], texts: dict[str, str],
                   fields: list[list[str | int | None]] | None = None) -> list[tuple[str, str]]:  # fmt: skip
    import json

    if fields is None:
        fields = [[texts[c.name], c.name, "json" if c.type.name == "ARRAY" else "text"] for c in columns]
    prefix = f"value.{FORMAT}."
    return [("value.format", FORMAT), (prefix + "raw-column", r.value), (prefix + "error-column", r.error),
            (prefix + "fields", json.dumps(fields, ensure_ascii=False, separators=(",", ":")))]  # fmt: skip


# Column types the format converts itself (TypedValue.java): a source whose columns are all of these is
# read in typed mode, where the format emits the typed columns and the full reason of a bad record.
TYPED = frozenset({"STRING", "BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL"})


def typed_mode(columns: list[Column], et: EventTimeSpec | None) -> bool:
    return all(c.type.name in TYPED for c in columns) and (et is None or et.origin != "column")


def typed_fields(columns: list[Column], et: EventTimeSpec | None) -> list[list[str | int | None]]:
    """The format's `fields` in typed mode: [column, field, "value", missing, not-a-type, not-finite]
    with the reasons of the checks the format runs (the same words and order as `format_checks`); the
    epoch event-time column adds [out-of-range, precision] (TO_TIMESTAMP_LTZ's range, the last check)."""
    out: list[list[str | int | None]] = []
    for c in columns:
        kind = c.type.nullable().sql()
        required = c.type.not_null or (et is not None and c.name == et.column)
        field: list[str | int | None] = [
            c.name, c.name, "value", f'missing or null field "{c.name}"' if required else None,
            None if c.type.name == "STRING" else f'field "{c.name}" is not {_article(kind)} {kind}',
            f'field "{c.name}" is not a finite {kind}' if c.type.name in ("FLOAT", "DOUBLE") else None]  # fmt: skip
        if et is not None and et.origin == "epoch" and c.name == et.column:
            field += [f'event time "{c.name}" is out of range', et.precision]
        out.append(field)
    return out


def format_checks(r: RecordColumns, columns: list[Column], typed: dict[str, str], texts: dict[str, str],
                  et: EventTimeSpec | None) -> list[tuple[str, str]]:  # fmt: skip
    """`checks` over the format's columns: (condition, SQL of the reason). A field exists (JSON_EXISTS)
    exactly when its text is not NULL; the format names the structural reasons itself."""
    out = [(f"{r.q_error} IS NOT NULL", r.q_error)]
    required = [c for c in columns if c.type.not_null or (et is not None and c.name == et.column)]
    out += [(f"{q(texts[c.name])} IS NULL", quote_string(f'missing or null field "{c.name}"')) for c in required]
    for c in columns:
        kind = c.type.nullable().sql()
        if c.type.name != "STRING":  # a STRING column is NULL only when its field is missing or null
            out.append((f"{typed[c.name]} IS NULL AND {q(texts[c.name])} IS NOT NULL",
                        quote_string(f'field "{c.name}" is not {_article(kind)} {kind}')))  # fmt: skip
        if c.type.name in ("CHAR", "VARCHAR") and c.type.params:
            out.append((f"CHAR_LENGTH({q(texts[c.name])}) > {c.type.params[0]}",
                        quote_string(f'field "{c.name}" is longer than {kind}')))  # fmt: skip
        if c.type.name in ("FLOAT", "DOUBLE"):
            out.append((f"{typed[c.name]} * 0 <> 0", quote_string(f'field "{c.name}" is not a finite {kind}')))
    if et is not None and et.origin == "epoch":
        out.append((f"TO_TIMESTAMP_LTZ({typed[et.column]}, {et.precision}) IS NULL",
                    quote_string(f'event time "{et.column}" is out of range')))  # fmt: skip
    return out


def case_sql(r: RecordColumns, checks: list[tuple[str, str]]) -> str:
    whens = "\n".join(f"    WHEN {cond} THEN {then}" for cond, then in checks)
    return f"CASE\n{whens}\n  END AS {r.q_error}"


def _floor(t: FlinkType) -> str:
    """The event time a bad record gets: never NULL, never moves the watermark."""
    if t.name == "TIMESTAMP_LTZ":
        return "TO_TIMESTAMP_LTZ(0, 3)"
    return f"CAST(TIMESTAMP '1970-01-01 00:00:00' AS {t.nullable().sql()})"


def checks(r: RecordColumns, columns: list[Column], typed: dict[str, str],
           et: EventTimeSpec | None) -> list[tuple[str, str | None]]:  # fmt: skip
    """(condition, reason) pairs in order; a record's error is the reason of the first that holds."""
    j = r.json
    out: list[tuple[str, str | None]] = [
        (f"{r.q_value} IS NULL", "no value (tombstone)"),
        (f"{j} = ''", "empty message"),
        (f"CAST({j} AS BYTES) <> {r.q_value}", "not UTF-8 text"),
        (f"{j} IS NOT JSON OBJECT", None),  # malformed JSON, or JSON that is not an object
    ]
    required = [c for c in columns if c.type.not_null or (et is not None and c.name == et.column)]
    out += [(f"NOT JSON_EXISTS({j}, {json_path(c.name)})", f'missing or null field "{c.name}"') for c in required]
    for c in columns:
        kind = c.type.nullable().sql()
        out.append((f"{typed[c.name]} IS NULL AND JSON_EXISTS({j}, {json_path(c.name)})",
                    f'field "{c.name}" is not {_article(kind)} {kind}'))  # fmt: skip
        if c.type.name in ("CHAR", "VARCHAR") and c.type.params:  # CAST would cut the text short
            out.append((f"CHAR_LENGTH({_text(r, c.name)}) > {c.type.params[0]}",
                        f'field "{c.name}" is longer than {kind}'))  # fmt: skip
        if c.type.name in ("FLOAT", "DOUBLE"):
            # NaN and +-Infinity (from "NaN", "Infinity" or 1e400) times 0 is NaN, which is <> 0. (The planner
            # rewrites NOT(ABS(x) <= max) to ABS(x) > max, which NaN passes.)
            out.append((f"{typed[c.name]} * 0 <> 0", f'field "{c.name}" is not a finite {kind}'))
    if et is not None and et.origin == "epoch":
        out.append((f"TO_TIMESTAMP_LTZ({typed[et.column]}, {et.precision}) IS NULL",
                    f'event time "{et.column}" is out of range'))  # fmt: skip
    return out


def _article(word: str) -> str:
    return "an" if word[:1] in "AEIOU" else "a"


def error_sql(r: RecordColumns, checks: list[tuple[str, str | None]]) -> str:
    """`CASE WHEN <check> THEN <reason> ... END AS <error>`: NULL for a valid record."""
    whens = []
    for cond, reason in checks:
        if reason is None:
            then = f"CASE WHEN {r.json} IS JSON THEN 'not a JSON object' ELSE 'malformed JSON' END"
        else:
            then = quote_string(reason)
        whens.append(f"    WHEN {cond} THEN {then}")
    return "CASE\n" + "\n".join(whens) + f"\n  END AS {r.q_error}"


def _headers(ctx: PlanContext, r: RecordColumns, name: str, reason: str) -> str:
    pairs = [("reason", reason), ("topic", r.q_topic), ("partition", f"CAST({r.q_partition} AS STRING)"),
             ("offset", f"CAST({r.q_offset} AS STRING)"), ("pipeline", quote_string(ctx.pipeline)),
             ("source", quote_string(name))]  # fmt: skip
    items = ",\n    ".join(f"{quote_string(HEADER + k)}, CAST({v} AS BYTES)" for k, v in pairs)
    return f"MAP[\n    {items}\n  ] AS {q('headers')}"


def _record_sink(ctx: PlanContext, name: str, topic: str, origin) -> PlannedTable:
    """A Kafka topic that takes records unchanged: key, value, timestamp, plus headers."""
    lines = (f"{q('key')} BYTES", f"{q('value')} BYTES", f"{q('headers')} MAP<STRING, BYTES> METADATA",
             f"{q('timestamp')} TIMESTAMP_LTZ(3) METADATA")  # fmt: skip
    opts = [("connector", "kafka"), ("topic", topic), *kafka_connection(ctx), ("key.format", "raw"),
            ("key.fields", "key"), ("value.format", "raw"), ("value.fields-include", "EXCEPT_KEY"),
            *exactly_once(ctx, name)]  # fmt: skip
    schema = Schema((Column("key", BYTES), Column("value", BYTES),
                     Column("headers", FlinkType("MAP", key=STRING, element=BYTES)),
                     Column("timestamp", TIMESTAMP_LTZ3)))  # fmt: skip
    info = TableInfo(name=name, role="sink", connector="kafka", topic=topic)
    return PlannedTable(q(name), name, lines, option_pairs(opts), origin, info, schema)


def _blackhole(name: str, columns: tuple[Column, ...], origin) -> PlannedTable:
    lines = tuple(f"{q(c.name)} {c.type.sql()}" for c in columns)
    info = TableInfo(name=name, role="sink", connector="blackhole")
    return PlannedTable(q(name), name, lines, option_pairs([("connector", "blackhole")]), origin, info,
                        Schema(columns))  # fmt: skip


def _record_columns(r: RecordColumns, headers: str) -> tuple[str, ...]:
    return (f"{r.q_key} AS {q('key')}", f"{r.q_value} AS {q('value')}", headers, f"{r.q_timestamp} AS {q('timestamp')}")


def _checked_source(ctx: PlanContext, name: str, src: KafkaSource, mode: Mode) -> PlannedSource | None:
    path = ("sources", name)
    columns = parse_source_columns(ctx, name, src)
    et = resolve_event_time(ctx, name, src, columns)
    if src.event_time is not None and et is None:
        return None
    taken = {*src.columns, *(n for n in (src.proctime, et and et.attr) if n)}
    r = RecordColumns.avoiding(taken)
    fmt = uses_format(ctx)
    typed_cols = fmt and typed_mode(columns, et)  # the format emits the typed columns and every reason
    texts = text_columns(r, columns, taken) if fmt and not typed_cols else {}
    lines = [f"{r.q_key} BYTES", f"{r.q_value} BYTES"]
    if typed_cols:
        lines += [f"{q(c.name)} {c.type.nullable().sql()}" for c in columns] + [f"{r.q_error} STRING"]
    elif fmt:  # the format's physical columns: the value bytes, each field's text, the structural reason
        lines += [f"{q(texts[c.name])} STRING" for c in columns] + [f"{r.q_error} STRING"]
    lines += [f"{q(col)} {typ} METADATA FROM '{key}' VIRTUAL"
              for col, typ, key in ((r.topic, "STRING", "topic"), (r.partition, "INT", "partition"),
                                    (r.offset, "BIGINT", "offset"), (r.timestamp, "TIMESTAMP_LTZ(3)", "timestamp"))]

    def value_of(c: Column) -> str:
        if typed_cols:
            return q(c.name)
        return from_text(q(texts[c.name]), c.type) if fmt else extract(r, c.name, c.type)

    schema_cols: list[Column] = []
    typed: dict[str, str] = {}  # what the checks read for each column
    for c in columns:
        if typed_cols:  # a physical column of the format
            schema_cols.append(c)
            typed[c.name] = q(c.name)
            continue
        expr = value_of(c)
        if et is not None and et.origin == "column" and c.name == et.attr:
            lines.append(f"{q(c.name)} AS COALESCE({expr}, {_floor(c.type)})")
            schema_cols.append(Column(c.name, c.type, rowtime=True))
            typed[c.name] = expr
        else:
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
    if typed_cols:
        value_format = format_options(r, columns, texts, typed_fields(columns, et))
    else:
        value_format = format_options(r, columns, texts) if fmt else [("value.format", "raw")]
    opts = source_options(ctx, name, src, [("key.format", "raw"), ("key.fields", r.key), *value_format,
                                           ("value.fields-include", "EXCEPT_KEY")])  # fmt: skip
    origin = ctx.loc(path)
    info = TableInfo(name=name, role="source", connector="kafka", topic=src.topic)
    schema = Schema(tuple(schema_cols))
    table = PlannedTable(q(name), name, tuple(lines), opts, origin, info, schema)

    names = [q(c.name) for c in schema_cols]
    record = r.columns()
    checked_name, valid_name = f"{name}__checked", f"{name}__valid"
    if typed_cols:
        error = r.q_error  # the format names every reason itself
    elif fmt:
        error = case_sql(r, format_checks(r, columns, typed, texts, et))
    else:
        error = error_sql(r, checks(r, columns, typed, et))
    checked_select = Select((*names, *(q(c.name) for c in record[:-1]), error), q(name))
    checked = PlannedView(q(checked_name), checked_name, checked_select, origin, Schema((*schema_cols, *record)),
                          tables=(name,))  # fmt: skip
    # In typed mode `__checked` adds nothing to the table, so `__valid` reads the table itself: the planner
    # then fans the scan out to two Calcs instead of running a shared Calc and copying its rows.
    valid_from, valid_deps = (q(name), ()) if typed_cols else (q(checked_name), (checked_name,))
    valid = PlannedView(q(valid_name), valid_name, Select(tuple(names), valid_from, where=(f"{r.q_error} IS NULL",)),
                        origin, schema, depends_on=valid_deps, tables=() if valid_deps else (name,))  # fmt: skip
    relation = PlannedTable(q(valid_name), valid_name, (), (), origin, info, schema)

    sinks: list[PlannedTable] = []
    inserts: list[PlannedInsert] = []
    bad = (f"{r.q_error} IS NOT NULL",)
    mode_origin = ctx.loc((*path, "bad_records")) if src.bad_records else origin
    sink_name = name + SINK_SUFFIX[mode]
    if mode == "dead-letter":
        topic_origin = ctx.loc((*path, "dead_letter_topic")) if src.dead_letter_topic else mode_origin
        sinks.append(_record_sink(ctx, sink_name, dead_letter_topic(src), topic_origin))
        select = Select(_record_columns(r, _headers(ctx, r, name, r.q_error)), q(checked_name), where=bad)
    elif mode == "skip":
        cols = (Column("reason", STRING), Column("topic", STRING), Column("partition", INT), Column("offset", BIGINT))
        sinks.append(_blackhole(sink_name, cols, mode_origin))
        select = Select((f"{r.q_error} AS {q('reason')}", f"{r.q_topic} AS {q('topic')}",
                         f"{r.q_partition} AS {q('partition')}", f"{r.q_offset} AS {q('offset')}"),
                        q(checked_name), where=bad)  # fmt: skip
    else:
        sinks.append(_blackhole(sink_name, (Column("failed", INT),), mode_origin))
        message = ", ".join([
            "'flinksql-gen: bad record at topic '", r.q_topic, "' partition '", f"CAST({r.q_partition} AS STRING)",
            "' offset '", f"CAST({r.q_offset} AS STRING)",
            quote_string(f" (source {name!r} of pipeline {ctx.pipeline!r}, bad_records: fail): "), r.q_error])  # fmt: skip
        # Flink SQL cannot raise an error: casting the message to INT fails the job with it.
        select = Select((f"CAST(CONCAT({message}) AS INT) AS {q('failed')}",), q(checked_name), where=bad)
    inserts.append(PlannedInsert(f"{name}__{sink_name}", q(sink_name), select, mode_origin, (checked_name,)))

    if src.late_events_topic is not None and et is not None:
        late_name = name + LATE_SUFFIX
        late_origin = ctx.loc((*path, "late_events_topic"))
        sinks.append(_record_sink(ctx, late_name, src.late_events_topic, late_origin))
        rt = q(et.attr)
        reason = (f"CONCAT('event time ', CAST({rt} AS STRING), ' is not after the watermark ', "
                  f"CAST(CURRENT_WATERMARK({rt}) AS STRING))")  # fmt: skip
        select = Select(_record_columns(r, _headers(ctx, r, name, reason)), q(checked_name),
                        where=(f"{r.q_error} IS NULL", f"{rt} <= CURRENT_WATERMARK({rt})"))  # fmt: skip
        inserts.append(PlannedInsert(f"{name}__{late_name}", q(late_name), select, late_origin, (checked_name,)))
    return PlannedSource(table, relation, (checked, valid), tuple(sinks), tuple(inserts))
