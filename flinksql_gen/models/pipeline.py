"""The definition format: one YAML file describes one pipeline.

A pipeline has sources (Kafka topics), lookups (JDBC tables for lookup joins), metrics
(a source, optional unnests, filters, dimensions, and aggregates over a window or none),
detectors (filter, having, trend, lookup threshold, ...) and sinks (kafka, upsert-kafka,
jdbc, print, slack). Metrics and detectors name the sinks they write to.

These models check shape and types only; cross references (a metric's source exists, a
column exists, a sink key matches the query) are checked by the planner, which knows the
schemas. Every model forbids unknown keys.
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from flinksql_gen.detectors import config as dconf
from flinksql_gen.models.common import Duration, Name, parse_duration
from flinksql_gen.models.types import parse_type
from flinksql_gen.sql.quoting import has_control_character


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_type(text: str) -> str:
    parse_type(text)
    return text


TypeText = Annotated[str, AfterValidator(_check_type)]
Scalar = str | int | float | bool
def _check_identifier(value: str) -> str:
    if has_control_character(value):
        raise ValueError(f"{value!r}: names cannot contain control characters (Flink SQL cannot quote them)")
    if not value.strip():
        raise ValueError(f"{value!r}: a name needs at least one character that is not a space (Flink requires it)")
    return value


# Column names from user data may be any text but control characters; they are always quoted.
ColumnName = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_check_identifier)]


def _check_env_reference(value: str) -> str:
    if not re.fullmatch(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}", value):
        raise ValueError("secrets must be written as an environment reference such as ${env:SLACK_TOKEN}, never as a value")
    return value


SecretRef = Annotated[str, AfterValidator(_check_env_reference)]


def _check_option_text(value: str) -> str:
    if has_control_character(value):
        raise ValueError("control characters (such as newlines or tabs) are not allowed in this setting")
    return value


# Values that end up in connector options (WITH (...)): plain text, no control characters.
OptionText = Annotated[str, Field(min_length=1), AfterValidator(_check_option_text)]
# Flink's JDBC connector writes table and column names into its SQL unquoted, so they must be
# plain identifiers: anything else could read or write other tables.
_SQL_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
JDBC_NAME_RULE = "a plain identifier: letters, digits and underscores, not starting with a digit"
JdbcTableName = Annotated[str, Field(min_length=1, max_length=127, pattern=rf"^{_SQL_IDENTIFIER}(\.{_SQL_IDENTIFIER})?$",
                                     description="table name, optionally schema-qualified (schema.table)")]  # fmt: skip
JdbcColumnName = Annotated[str, Field(min_length=1, max_length=63, pattern=rf"^{_SQL_IDENTIFIER}$")]
# Kafka's own rule for topic names.
Topic = Annotated[str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]


# ---------------------------------------------------------------------------- sources


class EventTime(Strict):
    """Which column carries event time, and how late events may be."""

    column: ColumnName | None = Field(default=None, description="a source column holding event time")
    kafka_timestamp: bool = Field(default=False, description="use the Kafka record timestamp as event time")
    format: Literal["epoch_millis", "epoch_seconds", "timestamp"] | None = Field(
        default=None, description="how `column` encodes time (default: from its type; BIGINT means epoch_millis)"
    )
    name: ColumnName | None = Field(default=None, description="name of the event-time attribute (default: event_time)")
    watermark: Duration = Field(description="how late events may arrive, e.g. '5s'")

    @model_validator(mode="after")
    def _one_origin(self) -> EventTime:
        if bool(self.column) == self.kafka_timestamp:
            raise ValueError("give exactly one of `column` or `kafka_timestamp: true`")
        return self


class KafkaSource(Strict):
    type: Literal["kafka"] = Field(default="kafka", description="source type: kafka (may be left out)")
    topic: Topic = Field(description="the Kafka topic to read")
    format: Literal["json"] = Field(default="json", description="record format: JSON objects")
    columns: dict[ColumnName, TypeText] = Field(min_length=1, description="column name -> Flink SQL type")
    event_time: EventTime | None = Field(default=None, description="which column carries event time, and how late events may be (windows need it)")
    proctime: ColumnName | None = Field(default=None, description="add a processing-time attribute with this name")
    start: Literal["earliest", "latest", "group-offsets"] = Field(default="earliest", description="where to start reading: the earliest offset, the latest, or the consumer group's committed offsets")
    group_id: OptionText | None = Field(default=None, description="Kafka consumer group id (default: flinksql-gen.<pipeline>.<source> with group-offsets)")
    idle_timeout: Duration | None = Field(default=None, description="mark the source idle after this long without data")
    properties: dict[OptionText, OptionText] = Field(default_factory=dict, description="extra Kafka client properties")
    bad_records: Literal["fail", "skip", "dead-letter"] | None = Field(
        default=None,
        description="records that are not a JSON object of the declared columns (malformed or truncated JSON, "
        "wrong types, a missing event time or NOT NULL field, empty messages): `fail` stops the job naming topic, "
        "partition, offset and reason; `skip` drops them (counted by the `<source>_skipped` sink); `dead-letter` "
        "(the default) writes them unchanged to `dead_letter_topic`. Sources with ROW, MAP, nested ARRAY or BYTES "
        "columns are read with Flink's JSON format: there a bad record always fails the job",
    )
    dead_letter_topic: Topic | None = Field(default=None, description="where bad records go (default: <topic>_dead_letter)")
    late_events_topic: Topic | None = Field(
        default=None, description="also copy valid events that arrive behind the watermark to this topic"
    )


Source = KafkaSource  # the only source type so far; `type: kafka` is optional


class JdbcLookup(Strict):
    """A PostgreSQL table joined FOR SYSTEM_TIME AS OF processing time."""

    type: Literal["jdbc"] = Field(default="jdbc", description="lookup type: jdbc (may be left out)")
    table: JdbcTableName = Field(description="table name in the database (may be schema-qualified)")
    columns: dict[JdbcColumnName, TypeText] = Field(min_length=1, description="column name -> Flink SQL type: the table's columns to read")
    key: list[JdbcColumnName] = Field(min_length=1, description="the table's primary key columns")
    cache_rows: int | None = Field(default=None, ge=1, description="cache up to this many rows (partial cache)")
    cache_ttl: Duration | None = Field(default=None, description="how long a cached row stays valid (with cache_rows)")
    max_retries: int = Field(default=3, ge=0, description="retries of a failed lookup query")


Lookup = JdbcLookup  # the only lookup type so far; `type: jdbc` is optional


# ---------------------------------------------------------------------------- sinks


class _SinkBase(Strict):
    pass


class KafkaSink(_SinkBase):
    type: Literal["kafka"] = Field(description="sink type: append-only Kafka topic")
    topic: Topic = Field(description="the Kafka topic to write")
    format: Literal["json"] = Field(default="json", description="record format: JSON objects")


class UpsertKafkaSink(_SinkBase):
    type: Literal["upsert-kafka"] = Field(description="sink type: a Kafka topic keyed by `key`, for updating results")
    topic: Topic = Field(description="the Kafka topic to write")
    key: list[ColumnName] = Field(min_length=1, description="primary key: must match the query's unique key")
    format: Literal["json"] = Field(default="json", description="record format: JSON objects")


class JdbcSink(_SinkBase):
    type: Literal["jdbc"] = Field(description="sink type: a PostgreSQL table")
    table: JdbcTableName = Field(description="table name in the database (may be schema-qualified)")
    key: list[JdbcColumnName] = Field(default_factory=list, description="primary key for upserts (empty: append)")


class PrintSink(_SinkBase):
    type: Literal["print"] = Field(description="sink type: rows go to the job's standard output")


class SlackSink(_SinkBase):
    """Aiven's Slack connector: rows of (channel_id, message)."""

    type: Literal["slack"] = Field(description="sink type: Slack messages (aiven target; a print sink elsewhere, see local_fallback)")
    token: SecretRef = Field(description="the Slack bot token, as an ${env:NAME} reference")
    channel_id: str = Field(min_length=1, description="Slack channel id, e.g. C0123456789")
    message: str = Field(min_length=1, description="message text; {column} inserts a column's value")
    local_fallback: Literal["print", "none"] = Field(
        default="print", description="what non-aiven targets do with these alerts (no Slack connector there)"
    )


Sink = Annotated[KafkaSink | UpsertKafkaSink | JdbcSink | PrintSink | SlackSink, Field(discriminator="type")]


# ---------------------------------------------------------------------------- metrics

_OPS = {
    "=": "eq", "==": "eq", "eq": "eq",
    "!=": "ne", "<>": "ne", "ne": "ne",
    ">": "gt", "gt": "gt",
    ">=": "ge", "ge": "ge",
    "<": "lt", "lt": "lt",
    "<=": "le", "le": "le",
    "in": "in", "not_in": "not_in", "not in": "not_in",
    "is_null": "is_null", "is_not_null": "is_not_null",
    "like": "like",
}  # fmt: skip
Op = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "is_null", "is_not_null", "like"]
OpInput = Literal[tuple(_OPS)]  # what YAML may say, symbols included (for the JSON Schema)


def _normalise_op(value: Any) -> Any:
    return _OPS.get(value.strip().lower(), value) if isinstance(value, str) else value


class Condition(Strict):
    """`column op value`; several conditions are combined with AND."""

    column: ColumnName = Field(description="the column to test (an aggregate or dimension in a having detector)")
    op: Annotated[Op, BeforeValidator(_normalise_op, json_schema_input_type=OpInput)] = Field(
        description="eq, ne, gt, ge, lt, le (or = != > >= < <=), in, not_in, is_null, is_not_null, like"
    )
    value: Scalar | list[Scalar] | None = Field(default=None, description="the value to compare with: a list for in/not_in, nothing for is_null/is_not_null")

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op in ("is_null", "is_not_null"):
            if self.value is not None:
                raise ValueError(f"`{self.op}` takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"`{self.op}` needs a non-empty list as value")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"`{self.op}` needs a single value")
        if self.op == "like" and not isinstance(self.value, str):
            raise ValueError("`like` needs a text pattern")
        return self


class Unnest(Strict):
    """Expand an array column into one row per element (CROSS JOIN UNNEST)."""

    array: ColumnName = Field(description="the array column (a source column or an earlier unnest's alias)")
    as_: list[ColumnName] = Field(alias="as", min_length=1, description="names for the element (one per ROW field)")


def _positive(field: str, value: str) -> int:
    millis = parse_duration(value).millis
    if millis <= 0:
        raise ValueError(f"{field} must be longer than 0 (Flink refuses empty windows)")
    return millis


def _whole_multiple(size: str, part_name: str, part: str, kind: str) -> None:
    if _positive("size", size) % _positive(part_name, part):
        raise ValueError(f"size ({size}) must be a whole multiple of {part_name} ({part}), as Flink requires "
                         f"for {kind} windows")  # fmt: skip


# The rules below are Flink's own (checked on its planner, tests/test_check_flink.py): a window's
# size must be positive, and a whole multiple of a hop's slide or a cumulate window's step.
class TumbleWindow(Strict):
    type: Literal["tumble"] = Field(description="window type: fixed, non-overlapping windows of `size`")
    size: Duration = Field(description="window length, e.g. 1m (a bare number is seconds)")

    @model_validator(mode="after")
    def _check(self) -> TumbleWindow:
        _positive("size", self.size)
        return self


class HopWindow(Strict):
    type: Literal["hop"] = Field(description="window type: windows of `size` starting every `slide` (they overlap)")
    size: Duration = Field(description="window length, e.g. 5m (a bare number is seconds)")
    slide: Duration = Field(description="how often a window starts; `size` must be a whole multiple of it")

    @model_validator(mode="after")
    def _check(self) -> HopWindow:
        _whole_multiple(self.size, "slide", self.slide, "hopping")
        return self


class CumulateWindow(Strict):
    type: Literal["cumulate"] = Field(description="window type: windows that grow by `step` up to `size`, then start again")
    size: Duration = Field(description="the maximum window size")
    step: Duration = Field(description="how much the window grows each time; `size` must be a whole multiple of it")

    @model_validator(mode="after")
    def _check(self) -> CumulateWindow:
        _whole_multiple(self.size, "step", self.step, "cumulating")
        return self


Window = Annotated[TumbleWindow | HopWindow | CumulateWindow, Field(discriminator="type")]

AggFn = Literal[
    "count", "count_distinct", "sum", "avg", "min", "max", "listagg",
    "stddev_pop", "stddev_samp", "var_pop", "var_samp",
]  # fmt: skip
_SHORTHAND = re.compile(r"^\s*([a-z_]+)\s*\(\s*(\*|[A-Za-z_][A-Za-z0-9_]*)?\s*\)\s*$")


def _aggregate_shorthand(value: Any) -> Any:
    """`avg(usage)` -> {fn: avg, column: usage}; `count(*)` -> {fn: count}. Any other text is an
    aggregate expression (`sum(amount) FILTER (WHERE status = 'paid')`, `p95(latency_ms)`),
    parsed and checked by the planner."""
    if isinstance(value, str):
        m = _SHORTHAND.match(value)
        if m and m.group(1) in typing.get_args(AggFn):
            fn, column = m.group(1), m.group(2)
            return {"fn": fn} if column in (None, "*") else {"fn": fn, "column": column}
    return value


class AggregateSpec(Strict):
    fn: AggFn = Field(description="aggregate function")
    column: ColumnName | None = Field(default=None, description="the column to aggregate (none for count of rows)")
    separator: str | None = Field(default=None, description="listagg only")

    @model_validator(mode="after")
    def _column_needed(self) -> AggregateSpec:
        if self.fn != "count" and self.column is None:
            raise ValueError(f"`{self.fn}` needs a column")
        if self.separator is not None and self.fn != "listagg":
            raise ValueError("`separator` applies to listagg only")
        return self


# An expression in the definition language (plan/expr_parse.py): parsed into a tree by the planner,
# checked against the schema and rendered with every name and literal quoted.
Expression = Annotated[str, Field(min_length=1, max_length=4000,
                                  description="an expression, e.g. amount * quantity or status = 'failed'")]  # fmt: skip
Aggregate = Annotated[AggregateSpec | Expression,
                      BeforeValidator(_aggregate_shorthand, json_schema_input_type=str | AggregateSpec)]  # fmt: skip
# A filter condition: the structured form, or an expression that is true for the rows to keep.
Predicate = Condition | Expression


class Metric(Strict):
    source: Name = Field(description="the source to read")
    unnest: list[Unnest] = Field(default_factory=list, description="array columns to expand into one row per element, before filters")
    computed: dict[ColumnName, Expression] = Field(
        default_factory=dict, description="row-level columns computed from others, e.g. {revenue: amount * quantity}"
    )
    where: list[Predicate] = Field(default_factory=list, description="row filters applied before aggregation")
    dimensions: list[ColumnName] = Field(default_factory=list, description="columns to group by: one row per key (and window)")
    columns: list[ColumnName] = Field(default_factory=list, description="row-level metrics: further columns to carry")
    value: ColumnName | None = Field(default=None, description="the metric's value: a column or an aggregate name")
    window: Window | None = Field(default=None, description="the event-time window to aggregate over (none: row-level values, or an updating aggregate)")
    aggregates: dict[Name, Aggregate] = Field(default_factory=dict, description="name -> aggregate: avg(usage), count(*), p95(latency_ms), or an aggregate expression such as sum(amount) FILTER (WHERE status = 'paid')")
    derived: dict[Name, Expression] = Field(
        default_factory=dict,
        description="values computed from the aggregates of each window, e.g. {failed_ratio: failed / orders}; "
        "division never fails: x / 0 is NULL",
    )
    sinks: list[Name] = Field(default_factory=list, description="write the metric itself to these sinks")
    fill: Literal["zero", "null", "previous"] | None = Field(
        default=None,
        description="a tumbling window in which a key had no events still gets a row, for up to `fill_for` "
        "windows after the key's last event: aggregates 0 (`zero`), NULL (`null`), or the key's previous "
        "values (`previous`). Without `fill`, a window without events has no row, so it can raise no alert",
    )
    fill_for: int = Field(default=5, ge=1, le=1000, description="how many empty windows after a key's last event get a row")

    @model_validator(mode="after")
    def _window_needs_aggregates(self) -> Metric:
        if self.window is not None and not self.aggregates:
            raise ValueError("a windowed metric needs `aggregates`, e.g. {cnt: count(*)}")
        if self.derived and not self.aggregates:
            raise ValueError("`derived` values are computed from `aggregates`; add some, or use `computed`")
        if self.fill is not None and not isinstance(self.window, TumbleWindow):
            raise ValueError("`fill` needs a tumbling window: `window: {type: tumble, size: ...}`")
        return self


# ---------------------------------------------------------------------------- detectors


class _DetectorBase(Strict):
    metric: Name = Field(description="the metric to watch")
    sinks: list[Name] = Field(min_length=1, description="the sinks its alerts are written to")
    description: str = Field(default="", description="free text for people reading the definition")


class FilterDetector(_DetectorBase):
    """Rows of a metric that meet all conditions."""

    type: Literal["filter"] = Field(description="detector type")
    where: list[Predicate] = Field(min_length=1, description="conditions every alerting row meets (combined with AND)")


class HavingDetector(_DetectorBase):
    """Aggregated rows (per dimensions and window) whose aggregates meet all conditions."""

    type: Literal["having"] = Field(description="detector type")
    where: list[Predicate] = Field(min_length=1, description="conditions on aggregates and dimensions")


class TrendStep(Strict):
    direction: Literal["up", "down"] = Field(description="the value moves up or down")
    min: int = Field(default=1, ge=1, description="at least this many consecutive moves")
    max: int | None = Field(default=None, ge=1, description="at most this many (default: no limit)")

    @model_validator(mode="after")
    def _bounds(self) -> TrendStep:
        if self.max is not None and self.max < self.min:
            raise ValueError("`max` must be at least `min`")
        return self


class TrendDetector(_DetectorBase):
    """MATCH_RECOGNIZE over a windowed metric: a start row, then moves up/down in the given order."""

    type: Literal["trend"] = Field(description="detector type")
    value: ColumnName = Field(description="the aggregate whose moves form the trend")
    steps: list[TrendStep] = Field(min_length=1, description="the moves that follow a start row, in order")
    partition_by: list[ColumnName] | None = Field(default=None, description="default: the metric's dimensions")
    within: Duration | None = Field(default=None, description="the whole pattern must happen within this time")


class LookupThresholdDetector(_DetectorBase):
    """Join each metric row with a lookup table row and compare a value with the row's threshold."""

    type: Literal["lookup_threshold"] = Field(description="detector type")
    lookup: Name = Field(description="the lookup table holding the thresholds")
    on: dict[ColumnName, ColumnName] = Field(min_length=1, description="metric column -> lookup key column")
    value: ColumnName = Field(description="the metric column compared with the threshold")
    threshold: ColumnName = Field(description="the lookup column holding the threshold")
    op: Annotated[
        Literal["gt", "ge", "lt", "le"],
        BeforeValidator(_normalise_op, json_schema_input_type=Literal["gt", "ge", "lt", "le", ">", ">=", "<", "<="]),
    ] = Field(default="gt", description="alert when value op threshold holds: gt, ge, lt, le (or > >= < <=)")
    default: float | None = Field(default=None, description="threshold for keys with no row (default: no alert)")
    columns: list[ColumnName] = Field(default_factory=list, description="more lookup columns to output")


class NoDataDetector(_DetectorBase):
    """A key that had events and then none for `after` windows of its metric: one alert when the
    watermark passes the end of the silence (other keys' events move the watermark on)."""

    type: Literal["no_data"] = Field(description="detector type")
    after: int = Field(default=1, ge=1, le=1000, description="windows without events before the alert")


class DrilldownDetector(_DetectorBase):
    """Root-cause drill-down: per window, which dimension values explain the change of the metric's
    total against the same leaves `offset` windows back (ThirdEye-style contribution analysis and a
    multi-dimensional search for the combinations that explain it)."""

    type: Literal["drilldown"] = Field(description="detector type")
    value: ColumnName | None = Field(default=None, description="the additive metric column (default: its value)")
    dimensions: list[ColumnName] | None = Field(default=None, description="dimensions to explain over (default: all)")
    offset: int = Field(default=1, ge=1, description="baseline: the same leaf this many windows back")
    min_change: float = Field(default=0.1, ge=0, description="explain windows whose total changed by at least this fraction")
    max_depth: int = Field(default=3, ge=1, le=5, description="largest combination of dimensions to consider")
    top: int = Field(default=3, ge=1, le=50, description="how many explanations to write")


class PerKeySettings(Strict):
    """Detector settings per key from a PostgreSQL lookup table; a key without a row, or with a NULL
    there, keeps the detector's own setting (the default)."""

    lookup: Name = Field(description="the lookup table holding the per-key settings")
    on: dict[ColumnName, ColumnName] = Field(min_length=1, description="metric column -> lookup key column")
    settings: dict[Literal["threshold", "min", "max", "multiplier"], ColumnName] = Field(
        min_length=1,
        description="detector setting -> lookup column: `threshold` for percentage/absolute change, `min`/`max` "
        "for threshold, `multiplier` for mean_variance",
    )


class _StatisticalBase(_DetectorBase):
    """A detector from flinksql_gen.detectors, run per dimension key over the metric's values."""

    per_key: PerKeySettings | None = Field(
        default=None, description="per-key settings from a lookup table (pure-SQL forms)"
    )

    value: ColumnName | None = Field(default=None, description="the metric column to judge (default: its value)")
    emit: Literal["anomalies", "all"] = Field(
        default="anomalies", description="write only anomalous points, or every point with its score (enriched)"
    )
    form: Literal["auto", "sql", "udf"] = Field(
        default="auto", description="pure Flink SQL, or a PyFlink UDF (auto: SQL where it can express the detector)"
    )


class ThresholdRule(_StatisticalBase, dconf.ThresholdConfig):
    pass


class PercentageChangeRule(_StatisticalBase, dconf.PercentageChangeConfig):
    pass


class AbsoluteChangeRule(_StatisticalBase, dconf.AbsoluteChangeConfig):
    pass


class MeanVarianceRule(_StatisticalBase, dconf.MeanVarianceConfig):
    pass


class EwmaRule(_StatisticalBase, dconf.EwmaConfig):
    pass


class HoltWintersRule(_StatisticalBase, dconf.HoltWintersConfig):
    pass


class ScoreRule(_StatisticalBase, dconf.ScoreConfig):
    pass


STATISTICAL = (ThresholdRule, PercentageChangeRule, AbsoluteChangeRule, MeanVarianceRule, EwmaRule, HoltWintersRule,
               ScoreRule)  # fmt: skip

Detector = Annotated[
    FilterDetector
    | HavingDetector
    | TrendDetector
    | LookupThresholdDetector
    | NoDataDetector
    | DrilldownDetector
    | ThresholdRule
    | PercentageChangeRule
    | AbsoluteChangeRule
    | MeanVarianceRule
    | EwmaRule
    | HoltWintersRule
    | ScoreRule,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------------------- pipeline


class Pipeline(Strict):
    pipeline: Name | None = Field(default=None, description="pipeline name (default: the file name)")
    description: str = Field(default="", description="free text for people reading the definition")
    sources: dict[Name, Source] = Field(min_length=1, description="Kafka topics to read, by name")
    lookups: dict[Name, Lookup] = Field(default_factory=dict, description="PostgreSQL tables joined by key (e.g. per-key thresholds), by name")
    metrics: dict[Name, Metric] = Field(min_length=1, description="what to compute from a source (filters, dimensions, aggregates over a window), by name")
    detectors: dict[Name, Detector] = Field(default_factory=dict, description="what to alert on (conditions, trends, thresholds, statistical detectors), by name")
    sinks: dict[Name, Sink] = Field(min_length=1, description="where metrics and alerts are written (Kafka, upsert-Kafka, JDBC, print, Slack), by name")
    settings: dict[OptionText, OptionText] = Field(default_factory=dict, description="extra Flink settings for this pipeline")
