"""Identifiers of flinksql-gen's own Flink formats and connectors, as SQL names them in a table's WITH options.
Here, below both the planner (which renders them) and the runtime (which builds the jar)."""

from __future__ import annotations

CHECKED_JSON = "flinksql-gen-json"  # CheckedJsonFormatFactory.IDENTIFIER in flinksql_gen/java/src
# CheckedKafkaTableFactory.IDENTIFIER: Flink's Kafka source for the checked sources read with CHECKED_JSON
CHECKED_KAFKA = "flinksql-gen-kafka"
KAFKA_CONNECTORS = ("kafka", CHECKED_KAFKA)
# CHECKED_KAFKA's `scan.rows`, per query: the valid and the bad scans of a job share one read, split once
VALID_ROWS = "/*+ OPTIONS('scan.rows' = 'valid') */"
BAD_ROWS = "/*+ OPTIONS('scan.rows' = 'bad') */"  # the connectors whose `topic` option names a Kafka topic
