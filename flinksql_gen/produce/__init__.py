"""Event producers: IoT CPU readings, pizza orders (both with injected, labelled anomalies),
and any PostgreSQL table replayed row by row."""

from __future__ import annotations

from flinksql_gen.produce.anomalies import Anomaly, parse_anomalies
from flinksql_gen.produce.events import Event, JsonlSink, KafkaSink, pump, write_labels
from flinksql_gen.produce.iot import IotGenerator
from flinksql_gen.produce.pizza import FORBIDDEN_TOPPINGS, PizzaGenerator
from flinksql_gen.produce.table import table_rows

__all__ = ["FORBIDDEN_TOPPINGS", "Anomaly", "Event", "IotGenerator", "JsonlSink", "KafkaSink", "PizzaGenerator",
           "parse_anomalies", "pump", "table_rows", "write_labels"]
