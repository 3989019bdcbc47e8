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

from pydantic import Field

from flinksql_gen.models.common import Name
from flinksql_gen.models.detectors import (
    STATISTICAL,
    AbsoluteChangeRule,
    DetectorDefinition,
    DrilldownDetector,
    EwmaRule,
    FilterDetector,
    HavingDetector,
    HoltWintersRule,
    LookupThresholdDetector,
    MeanVarianceRule,
    NoDataDetector,
    PercentageChangeRule,
    PerKeySettings,
    ScoreRule,
    ThresholdRule,
    TrendDetector,
    TrendStep,
)
from flinksql_gen.models.fields import (
    JDBC_NAME_RULE,
    ColumnName,
    JdbcColumnName,
    JdbcTableName,
    OptionText,
    Scalar,
    SecretRef,
    Strict,
    Topic,
    TypeText,
)
from flinksql_gen.models.metrics import (
    AggFn,
    Aggregate,
    AggregateSpec,
    Condition,
    CumulateWindow,
    Expression,
    HopWindow,
    Metric,
    Op,
    OpInput,
    Predicate,
    TumbleWindow,
    Unnest,
    Window,
)
from flinksql_gen.models.sinks import (
    JdbcSink,
    KafkaSink,
    PrintSink,
    Sink,
    SlackSink,
    UpsertKafkaSink,
)
from flinksql_gen.models.sources import EventTime, JdbcLookup, KafkaSource, Lookup, Source

# Every definition model, importable from here as before the split.
__all__ = [
    "JDBC_NAME_RULE",
    "STATISTICAL",
    "AbsoluteChangeRule",
    "AggFn",
    "Aggregate",
    "AggregateSpec",
    "ColumnName",
    "Condition",
    "CumulateWindow",
    "DetectorDefinition",
    "DrilldownDetector",
    "EventTime",
    "EwmaRule",
    "Expression",
    "FilterDetector",
    "HavingDetector",
    "HoltWintersRule",
    "HopWindow",
    "JdbcColumnName",
    "JdbcLookup",
    "JdbcSink",
    "JdbcTableName",
    "KafkaSink",
    "KafkaSource",
    "Lookup",
    "LookupThresholdDetector",
    "MeanVarianceRule",
    "Metric",
    "NoDataDetector",
    "Op",
    "OpInput",
    "OptionText",
    "PerKeySettings",
    "PercentageChangeRule",
    "Pipeline",
    "Predicate",
    "PrintSink",
    "Scalar",
    "ScoreRule",
    "SecretRef",
    "Sink",
    "SlackSink",
    "Source",
    "Strict",
    "ThresholdRule",
    "Topic",
    "TrendDetector",
    "TrendStep",
    "TumbleWindow",
    "TypeText",
    "Unnest",
    "UpsertKafkaSink",
    "Window",
]


class Pipeline(Strict):
    pipeline: Name | None = Field(default=None, description="pipeline name (default: the file name)")
    description: str = Field(default="", description="free text for people reading the definition")
    sources: dict[Name, Source] = Field(min_length=1, description="Kafka topics to read, by name")
    lookups: dict[Name, Lookup] = Field(default_factory=dict, description="PostgreSQL tables joined by key (e.g. per-key thresholds), by name")
    metrics: dict[Name, Metric] = Field(min_length=1, description="what to compute from a source (filters, dimensions, aggregates over a window), by name")
    detectors: dict[Name, DetectorDefinition] = Field(default_factory=dict, description="what to alert on (conditions, trends, thresholds, statistical detectors), by name")
    sinks: dict[Name, Sink] = Field(min_length=1, description="where metrics and alerts are written (Kafka, upsert-Kafka, JDBC, print, Slack), by name")
    settings: dict[OptionText, OptionText] = Field(default_factory=dict, description="extra Flink settings for this pipeline")
