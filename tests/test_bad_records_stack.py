"""Bad records on the real stack: nothing is lost. Every input record reaches the typed path or the
dead-letter topic (byte for byte, with its topic, partition, offset and reason), late events are
copied to their topic, and `bad_records: fail` stops the job naming the record."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from e2e_helpers import with_fast_checkpoints
from stack_fixtures import fresh_topics

from flinksql_gen.api import render_pipeline
from flinksql_gen.kafka.client import JsonProducer, consume, open_consumer
from flinksql_gen.observe import pipeline_metrics, wait_for_metric
from flinksql_gen.runtime.errors import RunError
from flinksql_gen.runtime.runner import run_pipeline

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000_000  # event times of the test stream (ms)

PIPELINE = """\
pipeline: bad_records_e2e
sources:
  readings:
    topic: {src}
    columns:
      id: INT NOT NULL
      host: STRING
      usage: DOUBLE
      tags: ARRAY<STRING>
      occurred_at: BIGINT
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 1s}}
    bad_records: {mode}
    dead_letter_topic: {dlq}
    late_events_topic: {late}
metrics:
  reading:
    source: readings
    columns: [id, host, usage]
  per_10s:
    source: readings
    window: {{type: tumble, size: 10s}}
    aggregates: {{readings: count(*)}}
    sinks: [counts]
detectors:
  hot:
    type: filter
    metric: reading
    where: [{{column: usage, op: ">", value: 80}}]
    sinks: [alerts]
sinks:
  alerts: {{type: kafka, topic: {out}}}
  counts: {{type: kafka, topic: {counts}}}
settings:
  restart-strategy.type: none
"""


def _valid(i: int, usage: float, **extra) -> dict:
    return {"id": i, "host": f"h{i % 3}", "usage": usage, "tags": ["a", "b"], "occurred_at": T0 + i * 1000, **extra}


def _stream() -> tuple[list[tuple[bytes | None, str | None]], list[int]]:
    """(value, expected dead-letter reason or None) in partition order, and the ids of hot valid events."""
    huge_host = "é" * 120_000  # a valid 240 KB value
    events: list[tuple[bytes | None, str | None]] = []

    def ok(record: dict) -> None:
        events.append((json.dumps(record, ensure_ascii=False).encode(), None))

    def bad(raw: bytes | None, reason: str) -> None:
        events.append((raw, reason))

    ok(_valid(1, 91.5))
    bad(b'{"id": 2, "host": "h2", "usage": 95.0, "occurred_at": 17000', "malformed JSON")  # truncated
    ok(_valid(3, 12.0, host="z\u00fcrich-\U0001f600-\u6771\u4eac"))  # unicode, passes through untouched
    bad(json.dumps(_valid(4, 99.0) | {"usage": "very high"}).encode(), 'field "usage" is not a DOUBLE')
    bad(b"", "empty message")
    ok(_valid(5, 85.25) | {"extra": {"nested": [1, 2]}})  # unknown fields are ignored
    bad(json.dumps({k: v for k, v in _valid(6, 97.0).items() if k != "occurred_at"}).encode(),
        'missing or null field "occurred_at"')  # fmt: skip
    bad(json.dumps({k: v for k, v in _valid(7, 97.0).items() if k != "id"}).encode(), 'missing or null field "id"')
    bad(b'{"id": 8, "usage": 1e400, "occurred_at": %d}' % (T0 + 8000), 'field "usage" is not a finite DOUBLE')
    bad(b'{"id": 9, "usage": 90.0, "occurred_at": 99999999999999999999999}', 'field "occurred_at" is not a BIGINT')
    bad(b'{"id": 10, "usage": 90.0, "occurred_at": %d}' % (10**17), 'event time "occurred_at" is out of range')
    ok(_valid(11, 88.0, host=huge_host))  # huge but valid
    bad(None, "no value (tombstone)")
    bad(b'[{"id": 12}]', "not a JSON object")
    bad(b'{"id": 13, "host": "\xff\xfe", "usage": 1.0, "occurred_at": %d}' % (T0 + 13000), "not UTF-8 text")
    bad(json.dumps(_valid(14, 99.0) | {"tags": "not-a-list"}).encode(), 'field "tags" is not an ARRAY<STRING>')
    bad('{"id": 15, "host": "\u00e9\U0001f600", "usage": 9'.encode(), "malformed JSON")  # truncated unicode
    ok(_valid(16, 70.0) | {"usage": "70.5", "host": None})  # numeric text and null are valid
    bad(json.dumps(_valid(17, 1.0) | {"id": 3_000_000_000}).encode(), 'field "id" is not an INT')
    ok(_valid(18, 99.9) | {"occurred_at": T0 + 3_600_000})  # moves the watermark past every window
    hot = [1, 5, 11, 18]
    return events, hot


def _read_raw(bootstrap: str, topic: str, expected: int, idle_s: float = 4.0, timeout_s: float = 120.0) -> list:
    """(offset, key, value bytes, headers dict, timestamp) until `expected` and then idle (nothing more)."""
    consumer = open_consumer([topic], bootstrap=bootstrap)
    out: list = []
    began = last = time.monotonic()
    try:
        while time.monotonic() - began < timeout_s:
            if len(out) >= expected and time.monotonic() - last >= idle_s:
                break
            for m in consumer.consume(num_messages=500, timeout=0.2):
                if m.error():
                    continue
                last = time.monotonic()
                headers = {k: v.decode() for k, v in (m.headers() or [])}
                out.append((m.offset(), m.key(), m.value(), headers, m.timestamp()[1]))
    finally:
        consumer.close()
    return out


def _render(tmp_path: Path, **values: str):
    path = tmp_path / "bad_records_e2e.yaml"
    path.write_text(PIPELINE.format(**values))
    return with_fast_checkpoints(render_pipeline(path, "local", targets_file=ROOT / "targets.yaml"))


def test_every_record_is_either_processed_or_dead_lettered(stack, stack_env_vars, table_env_factory, tmp_path):
    src, dlq, late, out, counts = fresh_topics(stack, "br_in", "br_dlq", "br_late", "br_alerts", "br_counts")
    bundle = _render(tmp_path, src=src, dlq=dlq, late=late, out=out, counts=counts, mode="dead-letter")
    events, hot = _stream()
    with JsonProducer(stack.bootstrap) as producer:
        for i, (value, _) in enumerate(events):
            producer.send(src, value, key=f"k{i}", timestamp_ms=T0 + i)
    result = run_pipeline(bundle, stack_env_vars, table_env=table_env_factory(), workdir=stack.workdir, wait=False)
    try:
        alerts = consume(out, expected=len(hot), idle_s=60, bootstrap=stack.bootstrap)
        assert sorted(r.value["id"] for r in alerts) == hot
        # A valid event an hour behind the watermark: alerted (row level), dropped by the window, copied
        # to the late-events topic. (Sent once the first events are through, so the watermark has moved.)
        time.sleep(1.5)
        late_event = json.dumps(_valid(19, 93.0)).encode()
        with JsonProducer(stack.bootstrap) as producer:
            producer.send(src, late_event, key="late", timestamp_ms=T0)
        alerts = consume(out, expected=len(hot) + 1, idle_s=60, bootstrap=stack.bootstrap)
        dead = _read_raw(stack.bootstrap, dlq, expected=sum(reason is not None for _, reason in events))
        late_copies = _read_raw(stack.bootstrap, late, expected=1)
        windows = consume(counts, idle_s=5, bootstrap=stack.bootstrap)
        alerts = consume(out, idle_s=3, bootstrap=stack.bootstrap)  # again from the start: nothing more came
    finally:
        result.cancel()

    assert sorted(r.value["id"] for r in alerts) == [*hot, 19]
    assert all(r.value["usage"] > 80 for r in alerts)
    # The dead-letter topic holds exactly the bad records, unchanged, each with its origin and reason.
    bad = [(i, value, reason) for i, (value, reason) in enumerate(events) if reason is not None]
    # In source order; offsets rise but need not be consecutive: each exactly-once commit is a
    # transaction marker that takes an offset of its own.
    assert [(d[1], d[2]) for d in dead] == [(f"k{i}".encode(), value) for i, value, _ in bad]
    assert [d[0] for d in dead] == sorted({d[0] for d in dead})
    for (i, _, reason), (_, _, _, headers, timestamp) in zip(bad, dead, strict=True):
        assert headers == {"flinksql-gen.reason": reason, "flinksql-gen.topic": src, "flinksql-gen.partition": "0",
                           "flinksql-gen.offset": str(i), "flinksql-gen.pipeline": "bad_records_e2e",
                           "flinksql-gen.source": "readings"}  # fmt: skip
        assert timestamp == T0 + i
    # in = valid + dead-lettered: every offset exactly once.
    valid_offsets = {i for i, (_, reason) in enumerate(events) if reason is None}
    dead_offsets = {int(d[3]["flinksql-gen.offset"]) for d in dead}
    assert valid_offsets.isdisjoint(dead_offsets) and valid_offsets | dead_offsets == set(range(len(events)))
    # The windows saw exactly the valid events (the trailing one opens a window that never closes).
    assert sum(r.value["readings"] for r in windows) == len(valid_offsets) - 1
    # The late event, unchanged, with its reason.
    assert [(c[1], c[2]) for c in late_copies] == [(b"late", late_event)]
    assert late_copies[0][3]["flinksql-gen.reason"].startswith("event time 2023-11-14 22:13:39")
    assert "is not after the watermark 2023-11-14 23:13:19" in late_copies[0][3]["flinksql-gen.reason"]


def test_fail_stops_the_job_naming_topic_partition_offset_and_reason(stack, stack_env_vars, table_env_factory,
                                                                     tmp_path):
    src, late, out, counts = fresh_topics(stack, "brf_in", "brf_late", "brf_alerts", "brf_counts")
    text = PIPELINE.replace("    dead_letter_topic: {dlq}\n", "")
    path = tmp_path / "bad_records_e2e.yaml"
    path.write_text(text.format(src=src, late=late, out=out, counts=counts, mode="fail"))
    bundle = render_pipeline(path, "local", targets_file=ROOT / "targets.yaml")
    with JsonProducer(stack.bootstrap) as producer:
        producer.send(src, _valid(1, 95.0))
        producer.send(src, _valid(2, 96.0))
        producer.send(src, b'{"id": 3, "usage": 97')
    with pytest.raises(RunError) as err:
        run_pipeline(bundle, stack_env_vars, table_env=table_env_factory(), workdir=stack.workdir)
    message = str(err.value)
    assert (f"flinksql-gen: bad record at topic {src} partition 0 offset 2 (source 'readings' of pipeline "
            "'bad_records_e2e', bad_records: fail): malformed JSON") in message
    assert err.value.exit_code == 2


def test_dead_letters_are_counted_in_the_cluster_metrics(cluster, stack_env_vars, table_env_factory, tmp_path):
    """On a session cluster, `status --metrics` (observe.pipeline_metrics) shows the records read and the
    records dead-lettered, next to the alerts written."""
    src, dlq, late, out, counts = fresh_topics(cluster, "brm_in", "brm_dlq", "brm_late", "brm_alerts", "brm_counts")
    bundle = _render(tmp_path, src=src, dlq=dlq, late=late, out=out, counts=counts, mode="dead-letter")
    events, hot = _stream()
    with JsonProducer(cluster.bootstrap) as producer:
        for i, (value, _) in enumerate(events):
            producer.send(src, value, key=f"k{i}", timestamp_ms=T0 + i)
    bad = sum(reason is not None for _, reason in events)
    result = run_pipeline(bundle, stack_env_vars, table_env=table_env_factory(cluster.rest_url),
                          workdir=cluster.workdir, wait=False)

    def read():
        return next((m for m in pipeline_metrics(cluster.rest_url, ["bad_records_e2e"]) if m.job_id == result.job_id),
                    None)  # fmt: skip

    def complete(m) -> bool:
        sinks = {s.name: s.records_out for s in m.sinks} if m else {}
        return sinks.get("readings_dead_letter") == bad and sinks.get("alerts") == len(hot)

    try:
        m = wait_for_metric(read, complete, timeout=120)
    finally:
        result.cancel()
    assert m is not None and complete(m), m
    assert m.source("readings").records_in == len(events)
