"""Sinks: kafka, upsert-kafka, jdbc, print and slack."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from flinksql_gen.models.fields import ColumnName, JdbcColumnName, JdbcTableName, SecretRef, Strict, Topic


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
