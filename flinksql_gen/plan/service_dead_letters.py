"""The model_service detector's dead letters: records the service answered, but unusably.

A record whose call got a malformed response (not JSON, too few results, a result of the wrong
shape) or an HTTP 4xx error (the service refused the batch; 429 is retried, not refused) is still
written to the detector's output, with the fallback's judgement and its `reason`, so that every
record stays in its key's order exactly once. A copy goes to a dead-letter topic, where whoever
runs the service finds what it could not score and why. Outages (timeouts, unreachable, circuit
open) are not dead letters: the service never judged those records, and the reason column says so.

A dead letter is a Kafka record: key = the series key the service was sent (UTF-8), value = a
JSON object {"key", "ts" (event time, ISO-8601 UTC), "value", "reason"}, timestamp = the event
time, headers `flinksql-gen.reason`, `.pipeline` and `.detector`, written exactly-once like every
sink. The java engine's output is append-only: a `kafka` table. The python engine's is an updating
stream for the planner (its judgements are never retracted, see udfs/detect.py): an
`upsert-kafka` table keyed by the series key, which receives the same single insert per record.
"""

from __future__ import annotations

from flinksql_gen.models.types import STRING
from flinksql_gen.plan.bad_records import header_map, record_sink
from flinksql_gen.plan.context import PlanContext
from flinksql_gen.plan.plan import PlannedInsert, PlannedTable, Select
from flinksql_gen.sql.quoting import quote_identifier as q
from flinksql_gen.sql.quoting import quote_string

SUFFIX = "_dead_letter"
# The reasons both engines write for an answer that came back unusable: `<fallback>: <cause>`,
# where the fallback is `unscored` or `fallback <detector type>` (service_client.py, ServiceClient.java).
UNUSABLE_ANSWER = r"^(unscored|fallback [a-z_]+): (malformed response: |HTTP 4[0-9][0-9]: )"
ISO_UTC = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"  # ts is the event time in UTC (pipelines set table.local-time-zone)


def dead_letter_topic(ctx: PlanContext, name: str, d) -> str:
    return d.dead_letter_topic or f"{ctx.pipeline}_{name}{SUFFIX}"


def plan_service_dead_letters(ctx: PlanContext, name: str, d, service_key: str, relation: str,
                              updating: bool) -> tuple[PlannedTable, PlannedInsert]:  # fmt: skip
    """The dead-letter sink of detector `name` and its INSERT from `relation` (a view with the
    metric's dimensions, ts, value and reason, before any `emit: anomalies` filter).

    `service_key` is the SQL expression of the key the service was sent, over those columns."""
    path = ("detectors", name)
    origin = ctx.loc((*path, "dead_letter_topic")) if d.dead_letter_topic else ctx.loc(path)
    sink_name = name + SUFFIX
    sink = record_sink(ctx, sink_name, dead_letter_topic(ctx, name, d), origin, payload=STRING, upsert=updating)
    ts, reason = q("ts"), q("reason")
    iso = f"DATE_FORMAT({ts}, {quote_string(ISO_UTC)})"
    value = (f"JSON_OBJECT(KEY 'key' VALUE {service_key}, KEY 'ts' VALUE {iso}, KEY 'value' VALUE {q('value')}, "
             f"KEY 'reason' VALUE {reason} NULL ON NULL)")  # fmt: skip
    headers = header_map([("reason", reason), ("pipeline", quote_string(ctx.pipeline)),
                          ("detector", quote_string(name))])  # fmt: skip
    columns = (f"{service_key} AS {q('key')}", f"{value} AS {q('value')}", headers,
               f"CAST({ts} AS TIMESTAMP_LTZ(3)) AS {q('timestamp')}")  # fmt: skip
    select = Select(columns, q(relation), where=(f"REGEXP({reason}, {quote_string(UNUSABLE_ANSWER)})",))
    return sink, PlannedInsert(f"{name}__{sink_name}", q(sink_name), select, origin, (relation,))
