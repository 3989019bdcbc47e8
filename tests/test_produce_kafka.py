"""Producing to and reading from the real broker (Apache Kafka): keyed JSON, counts, transactions,
labels, table replay."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from stack_fixtures import fresh_topics

from flinksql_gen.cli import main
from flinksql_gen.kafka.client import JsonProducer, consume, end_offsets, partition_for
from flinksql_gen.stack.postgres import connect

pytestmark = pytest.mark.slow
START = 1_700_000_000_000


def test_keyed_json_lands_in_the_java_clients_partition_and_is_read_back(stack):
    from confluent_kafka import Producer

    (topic, check) = fresh_topics(stack, "keyed", "murmur", partitions=3)
    with JsonProducer(stack.bootstrap) as producer:
        for i in range(300):
            producer.send(topic, {"i": i}, key=f"host-{i % 11}", timestamp_ms=START + i)
    records = consume(topic, expected=300, idle_s=10, bootstrap=stack.bootstrap)
    assert sorted(r.value["i"] for r in records) == list(range(300))
    assert all(r.partition == partition_for(r.key.encode(), 3) for r in records)
    assert all(r.timestamp == START + r.value["i"] for r in records)
    # same partition as librdkafka's Java-compatible murmur2 partitioner
    seen: dict[str, int] = {}
    native = Producer({"bootstrap.servers": stack.bootstrap, "partitioner": "murmur2"})
    for i in range(40):
        native.produce(check, b"x", key=f"k{i}".encode(),
                       on_delivery=lambda err, msg: seen.__setitem__(msg.key().decode(), msg.partition()))
    native.flush(30)
    del native
    assert seen and all(partition_for(k.encode(), 3) == p for k, p in seen.items())
    assert end_offsets([topic], bootstrap=stack.bootstrap) == {
        (topic, p): sum(1 for r in records if r.partition == p) for p in range(3)}


def test_consume_stops_at_the_expected_count_or_at_the_end(stack):
    (topic,) = fresh_topics(stack, "counted", partitions=2)
    with JsonProducer(stack.bootstrap) as producer:
        for i in range(50):
            producer.send(topic, {"i": i})
    assert len(consume(topic, expected=20, idle_s=10, bootstrap=stack.bootstrap)) == 20
    began = time.monotonic()
    assert len(consume(topic, idle_s=60, bootstrap=stack.bootstrap)) == 50  # stops at the end, not when idle
    assert time.monotonic() - began < 10
    assert len(consume(topic, expected=80, idle_s=1, bootstrap=stack.bootstrap)) == 50
    assert end_offsets([topic], bootstrap=stack.bootstrap) == {(topic, 0): 25, (topic, 1): 25}


def test_the_sink_monitor_counts_values_and_tombstones_from_where_it_starts(stack):
    """The one reader `run --until-idle` and the benchmarks share: from the end as it was at the
    start (run) or from the beginning (benchmarks), tombstones counted apart, arrivals kept."""
    from flinksql_gen.kafka.monitor import SinkMonitor

    (topic,) = fresh_topics(stack, "watched", partitions=2)
    with JsonProducer(stack.bootstrap) as producer:
        for i in range(4):
            producer.send(topic, {"i": i}, key=f"k{i}", timestamp_ms=START + i)
    seen = []
    from_start = SinkMonitor(stack.bootstrap, [topic], from_beginning=True, keep=True, on_record=seen.append,
                             clock=time.time).start()
    from_end = SinkMonitor(stack.bootstrap, [topic]).start()
    try:
        with JsonProducer(stack.bootstrap) as producer:
            producer.send(topic, {"i": 4}, key="k4", timestamp_ms=START + 4)
            producer.send(topic, None, key="k0", timestamp_ms=START + 5)  # a tombstone
        assert from_start.wait(expected=5, idle_s=20, timeout_s=60) == "expected"
        deadline = time.monotonic() + 30
        while (from_start.tombstones, from_end.written) != (1, 2) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        from_start.stop()
        from_end.stop()
    assert (from_start.count, from_start.tombstones, from_start.written) == (5, 1, 6)
    assert sorted(json.loads(a.value)["i"] for a in from_start.records) == [0, 1, 2, 3, 4]
    assert sorted(a.timestamp for a in seen) == [START + i for i in range(5)]
    assert from_start.per_topic == {topic: 5}
    assert (from_end.count, from_end.tombstones) == (1, 1)  # only what came after it started
    assert from_end.idle_for() is not None and from_start.first_at <= time.time()


def test_read_committed_readers_see_committed_transactions_only(stack):
    """What exactly-once sinks rely on: aborted records never show, open ones not yet."""
    from confluent_kafka import Producer

    (topic,) = fresh_topics(stack, "txn")
    producer = Producer({"bootstrap.servers": stack.bootstrap, "transactional.id": f"test-{topic}"})
    producer.init_transactions(30)
    for outcome in ("commit", "abort", "open"):
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic, json.dumps({"outcome": outcome, "i": i}).encode())
        producer.flush(30)
        if outcome == "commit":
            producer.commit_transaction(30)
        elif outcome == "abort":
            producer.abort_transaction(30)
    # 5 committed records + a commit marker + 5 aborted + an abort marker: the open
    # transaction holds the last stable offset at 12
    assert end_offsets([topic], bootstrap=stack.bootstrap) == {(topic, 0): 12}
    seen = consume(topic, idle_s=10, bootstrap=stack.bootstrap)
    assert [r.value for r in seen] == [{"outcome": "commit", "i": i} for i in range(5)]
    producer.commit_transaction(30)
    seen = consume(topic, idle_s=10, bootstrap=stack.bootstrap)
    assert [r.value["outcome"] for r in seen] == ["commit"] * 5 + ["open"] * 5


def test_cli_produces_iot_and_pizza_with_labels(stack, tmp_path):
    runner = CliRunner()
    iot, pizza = f"iot_{time.time_ns()}", f"pizza_{time.time_ns()}"
    labels = tmp_path / "iot.json"
    result = runner.invoke(main, ["produce", "iot", "--bootstrap", stack.bootstrap, "--topic", iot, "-n", "700",
                                  "--start", str(START), "--anomalies", "spike:host=doc,at=10,len=5",
                                  "--labels", str(labels), "--partitions", "2", "-q"])
    assert result.exit_code == 0, result.output
    records = consume(iot, expected=700, idle_s=10, bootstrap=stack.bootstrap)
    assert len(records) == 700 and {r.partition for r in records} == {0, 1}
    assert all(r.key == r.value["hostname"] and r.timestamp == r.value["occurred_at"] for r in records)
    truth = json.loads(labels.read_text())["anomalies"]
    assert [(a["kind"], a["entity"], a["events"]) for a in truth] == [("spike", "doc", 10)]

    result = runner.invoke(main, ["produce", "pizza", "--bootstrap", stack.bootstrap, "--topic", pizza, "-n", "120",
                                  "--start", str(START), "--anomalies", "forbidden_burst:at=2,len=10,fraction=1",
                                  "--workdir", str(tmp_path), "--rate", "2000", "-q"])
    assert result.exit_code == 0, result.output
    orders = consume(pizza, expected=120, idle_s=10, bootstrap=stack.bootstrap)
    assert [o.value["id"] for o in orders] == list(range(120))
    assert all(o.key == o.value["shop"] and START <= o.timestamp < START + 60_000 for o in orders)
    truth = json.loads((tmp_path / "labels" / f"{pizza}.json").read_text())["anomalies"]
    assert truth[0]["kind"] == "forbidden_burst" and truth[0]["events"] > 0


def test_produce_table_streams_rows_in_timestamp_order(stack):
    conn = connect(stack.dsn)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE replay_src (id INT, reading NUMERIC, seen TIMESTAMP, at_utc TIMESTAMPTZ)")
        cur.execute("INSERT INTO replay_src SELECT g, g * 1.5, TIMESTAMP '2024-01-01 00:00:00' - g * INTERVAL '1 s',"
                    " TIMESTAMPTZ '2024-01-01 00:00:00+00' FROM generate_series(1, 25) g")
    conn.close()
    topic = f"replay_{time.time_ns()}"
    result = CliRunner().invoke(main, ["produce", "table", "--dsn", stack.dsn, "--table", "replay_src",
                                       "--timestamp-column", "seen", "--key", "id", "--topic", topic,
                                       "--bootstrap", stack.bootstrap, "-q"])
    assert result.exit_code == 0, result.output
    rows = consume(topic, expected=25, idle_s=10, bootstrap=stack.bootstrap)
    assert [r.value["id"] for r in rows] == list(range(25, 0, -1))
    first = rows[0]
    assert first.key == "25"
    assert first.value == {"id": 25, "reading": 37.5, "seen": "2023-12-31 23:59:35.000",
                           "at_utc": "2024-01-01 00:00:00.000Z"}
    assert first.timestamp == 1704067175000
    result = CliRunner().invoke(main, ["produce", "table", "--dsn", stack.dsn, "--table", "replay_src",
                                       "--timestamp-column", "nope", "--bootstrap", stack.bootstrap])
    assert result.exit_code == 2
    assert "has no column 'nope'" in result.output
