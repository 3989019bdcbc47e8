"""Sources (Kafka topics) and lookups (JDBC tables joined by key)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from flinksql_gen.models.common import Duration
from flinksql_gen.models.fields import (
    ColumnName,
    JdbcColumnName,
    JdbcTableName,
    OptionText,
    Strict,
    Topic,
    TypeText,
)


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
