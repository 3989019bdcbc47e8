"""The `model_service` detector on the real stack: Kafka -> Flink -> our reference scoring service
over HTTP -> upsert-kafka, with the service misbehaving on purpose.

Run on both engines (docs/model_service.md): `python` (the fsg_model_service aggregate, bundles
of 40 records, so ~30 calls) and `java` (an async lookup join on flinksql-gen's Java connector:
calls of at most 10 records from two lanes, so ~40 calls, two at a time). One job each, one source
partition, three hosts. The service
(flinksql_gen.model_service.server, in this process on a free port, wrapping `ewma`) checks the
Authorization header the bundle resolves from ${env:MODEL_TOKEN} when the job starts, and follows
a script by call number: one call answers after the client's timeout (the client retries with the
same batch_id and gets the cached answer), one answers a malformed body (its records come out
unscored with the reason, and copies go to the dead-letter topic), and after one call the service is shut down and started again on the
same port 2 s later (calls fail, the circuit breaker opens, then a trial call closes it). The
second half of the input is produced only after the restart: it must all be scored again.

Checked: every record written exactly once; while healthy, exactly what the offline detector
gives over the input; after the outage, exactly what it gives over the records the service saw.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import test_bad_records_stack as br
from e2e_helpers import Event, produce, ts_ms
from test_model_service import offline as offline_judgements

from flinksql_gen.api import render_pipeline
from flinksql_gen.kafka.client import create_topics, iter_records
from flinksql_gen.model_service.server import Handler, ModelServer, ScoringModel
from flinksql_gen.runtime.runner import run_pipeline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HOSTS = ("alpha", "bravo", "charlie")
T0, STEP_MS, TICKS = 1_700_000_000_000, 1_000, 120  # 360 records in all
SPEC = {"type": "ewma", "span": 10, "min_points": 5}
TOKEN = "s3cret-" + uuid.uuid4().hex[:6]
SLOW_CALL, MALFORMED_CALL, KILL_AFTER_CALL = 3, 6, 8
MALFORMED = r"unscored: malformed response: "
def _pipeline(name: str, settings: str, detector: str) -> str:
    """One source of readings, the metric per host, the model_service detector with these settings
    (YAML lines), an upsert-kafka sink: a template for str.format(source=, sink=, ...)."""
    return f"pipeline: {name}\nsettings:\n{settings}" + """
sources:
  readings:
    topic: {source}
    columns: {{host: STRING, usage: DOUBLE, occurred_at: BIGINT}}
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 5s}}
metrics:
  host_usage:
    source: readings
    dimensions: [host]
    value: usage
detectors:
  usage_scored:
    type: model_service
    metric: host_usage
    url: ${{env:MODEL_URL}}
""" + detector + """    emit: all
    sinks: [scored]
sinks:
  scored:
    type: upsert-kafka
    topic: {sink}
    key: [host]
"""


PIPELINE = _pipeline("model_service_e2e", "  python.fn-execution.bundle.size: '40'\n"
                     "  execution.checkpointing.interval: 2 s\n", """\
    headers: {{Authorization: "${{env:MODEL_TOKEN}}"}}
    engine: {engine}
    timeout: 0.5
    retries: 2
    backoff: 0.05
    batch_size: {batch_size}
    max_concurrency: 2
    circuit_breaker: {{failures: 2, open_for: 1.0}}
    fallback: unscored
    dead_letter_topic: {dead_letters}
""")


def readings() -> list[Event]:
    out = []
    for tick in range(TICKS):
        ts = T0 + tick * STEP_MS
        for i, host in enumerate(HOSTS):
            usage = round(20 + 10 * i + 3 * math.sin(tick / 5 + i) + (40 if tick == 100 else 0), 3)
            out.append(Event(host, {"host": host, "usage": usage, "occurred_at": ts}, ts))
    return out


class ScriptedModel(ScoringModel):
    """ScoringModel that logs what it judged (once per batch_id) for the expected values."""

    def __init__(self, spec):
        super().__init__(spec)
        self.seen: dict[str, list[tuple[int, float]]] = {h: [] for h in HOSTS}
        self.calls = 0
        self.batch_ids: list[str] = []

    def judge(self, key, ts, value):
        self.seen[key].append((ts, value))
        return super().judge(key, ts, value)


class Service:
    """The scripted service, restartable on the same port."""

    def __init__(self) -> None:
        self.model = ScriptedModel(SPEC)
        self.restarted = threading.Event()
        self.lock = threading.Lock()
        # Down from the moment the kill call is answered: calls that reach the old server before
        # it has stopped get their connection closed unanswered, as a dead service would (without
        # this, fast calls could all land before the stop and no call would see the outage).
        self.down = False
        self.server = self._start(0)
        self.port = self.server.server_address[1]

    def _start(self, port: int) -> ModelServer:
        service = self

        class Scripted(Handler):
            def do_POST(self) -> None:
                if service.down:
                    self.close_connection = True
                    return None
                if self.headers.get("authorization") != TOKEN:
                    return self._send(401, {"error": "bad token"})
                model = service.model
                with service.lock:
                    model.calls += 1
                    call = model.calls
                data = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                model.batch_ids.append(data["batch_id"])
                if call == SLOW_CALL:
                    time.sleep(1.5)  # after the client's 0.5 s timeout: it retries
                answer = model.score(data)
                if call == MALFORMED_CALL:
                    return self._send(200, {"results": answer["results"][:-1]})
                if call == KILL_AFTER_CALL:
                    service.down = True
                    threading.Thread(target=service.kill_and_restart, daemon=True).start()
                self._send(200, answer)

        self.handler = Scripted
        return ModelServer(self.model, port=port, handler=Scripted).start()

    def kill_and_restart(self) -> None:
        self.server.stop()
        time.sleep(2.0)
        self.down = False
        self.server = self._start(self.port)
        self.restarted.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"


def offline(series: list[tuple[int, float]]) -> list[tuple]:
    return offline_judgements(series, SPEC)


def close(a, b) -> bool:
    return all((x is None and y is None) or (x is not None and y is not None and abs(x - y) <= 1e-9 * max(1, abs(x)))
               if not isinstance(x, bool) else x == y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("engine", "batch_size", "function"), [("python", 100, "fsg_model_service"),
                                                                 ("java", 10, "flinksql-gen-model-service")])
def test_model_service_on_the_stack(stack, stack_workdir, stack_env_vars, table_env_factory, tmp_path, engine,
                                    batch_size, function):  # fmt: skip
    suffix = uuid.uuid4().hex[:8]
    source, sink, dead_letters = f"ms_in_{suffix}", f"ms_out_{suffix}", f"ms_dead_{suffix}"
    path = tmp_path / "model_service_e2e.yaml"
    path.write_text(PIPELINE.format(source=source, sink=sink, engine=engine, batch_size=batch_size,
                                    dead_letters=dead_letters))  # fmt: skip
    bundle = render_pipeline(path, "local", targets_file=ROOT / "targets.yaml")
    assert TOKEN not in bundle.script and "${env:MODEL_TOKEN}" in bundle.script
    assert function in bundle.script
    create_topics([source], bootstrap=stack.bootstrap, partitions=1)
    create_topics([sink], bootstrap=stack.bootstrap, partitions=1)
    service = Service()
    data = readings()
    half = len(data) * 2 // 3
    env = {**stack_env_vars, "MODEL_URL": service.url, "MODEL_TOKEN": TOKEN}
    result = run_pipeline(bundle, env, table_env=table_env_factory(), workdir=stack_workdir, wait=False)
    rows: list[dict] = []
    try:
        produce(stack, source, data[:half])
        assert service.restarted.wait(150), f"the script did not reach its kill (calls: {service.model.calls})"
        time.sleep(1.5)  # past the breaker's open time: the next call is its trial call
        produce(stack, source, data[half:])
        rows = read_sink(stack, sink, len(data), grace_s=5)  # past two 2 s checkpoints
        malformed = sum(bool(re.match(MALFORMED, v["reason"] or "")) for v in values_of(rows))
        dead = br._read_raw(stack.bootstrap, dead_letters, expected=malformed)
    finally:
        result.cancel()
        service.server.stop()

    # every record exactly once
    got = {}
    for v in values_of(rows):
        key = (v["host"], ts_ms(v["ts"]))
        assert key not in got, f"written twice: {key}"
        got[key] = v
    assert set(got) == {(e.key, e.timestamp_ms) for e in data}
    by_host = {h: [got[(h, e.timestamp_ms)] for e in data if e.key == h] for h in HOSTS}

    reasons = [v["reason"] for v in got.values() if v["reason"]]
    summary = Counter(r.split(" (")[0] for r in reasons)
    assert all(v["is_anomaly"] is None and v["score"] is None for v in got.values() if v["reason"])
    assert any(re.fullmatch(r"unscored: malformed response: (\d+) results for \d+ records", r) for r in reasons), summary
    assert any("unreachable" in r for r in reasons), summary
    assert any("circuit open" in r for r in reasons), summary
    # the malformed answer's records, and only those, are also dead letters, once each
    want_dead = {k: v for k, v in got.items() if re.match(MALFORMED, v["reason"] or "")}
    assert want_dead and len(dead) == len(want_dead), (len(dead), len(want_dead))
    for _, key, value, headers, timestamp in dead:
        letter = json.loads(value)
        row = want_dead.pop((key.decode(), timestamp))
        assert letter == {"key": row["host"], "ts": iso_utc(timestamp), "value": row["value"], "reason": row["reason"]}
        assert headers == {"flinksql-gen.reason": row["reason"], "flinksql-gen.pipeline": "model_service_e2e",
                           "flinksql-gen.detector": "usage_scored"}  # fmt: skip
    # one scoring step for the output and the dead letters: no record was sent twice
    for host, seen in service.model.seen.items():
        assert len(seen) == len(set(seen)), host
    # the slow call was retried with the same batch_id and answered once
    assert len(service.model.batch_ids) > len(set(service.model.batch_ids))

    second_half = {(e.key, e.timestamp_ms) for e in data[half:]}
    assert all(got[k]["reason"] is None for k in second_half), "not recovered after the restart"

    for host, hrows in by_host.items():
        series = [(e.timestamp_ms, e.value["usage"]) for e in data if e.key == host]
        # healthy: the offline detector over the input, up to the first record the service never saw
        seen = service.model.seen[host]
        first_gap = next(i for i, (p, s) in enumerate(zip([*series, None], [*seen, None], strict=False)) if p != s)
        want = offline(series[:first_gap])
        for row, w in zip(hrows[:first_gap], want, strict=True):
            if row["reason"] is None:
                assert close(result_of(row), w), (host, row, w)
        assert first_gap < len(series), "the outage did not hit every host"
        # after the outage: the offline detector over what the service saw
        want_seen = dict(zip(seen, offline(seen), strict=True))
        for row in hrows:
            if row["reason"] is None:
                assert close(result_of(row), want_seen[(ts_ms(row["ts"]), row["value"])]), (host, row)


def read_sink(stack, sink: str, expected: int, grace_s: float) -> list:
    """The sink's record values until `expected` non-tombstones arrived, then on until `grace_s`
    without a new one: anything committed later would be a duplicate."""
    rows: list = []
    last = -1
    for r in iter_records([sink], bootstrap=stack.bootstrap, idle_s=60, timeout_s=300):
        rows.append(r.value)
        last = r.offset
        if len(values_of(rows)) >= expected:
            break
    for r in iter_records([sink], bootstrap=stack.bootstrap, idle_s=grace_s, start={(sink, 0): last + 1}):
        rows.append(r.value)
    return rows


def iso_utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def values_of(rows):
    return [r for r in rows if r is not None]


def result_of(row: dict) -> tuple:
    return (row["expected"], row["lower"], row["upper"], row["score"], row["is_anomaly"])


FAILOVER = _pipeline("model_service_failover", "  execution.checkpointing.interval: 1 s\n"
                     "  restart-strategy.fixed-delay.delay: 1 s\n", """\
    engine: java
    batch_size: 5
    max_concurrency: 2
    retries: 0
    fallback: fail
    dead_letter_topic: {source}_dead
""")
THRESHOLD = {"type": "threshold", "max": 35.0}  # stateless: a replayed record gets the same answer
FAIL_CALL = 20


def test_java_engine_fails_over_and_restores_its_in_flight_records(stack, stack_workdir, stack_env_vars,
                                                                   table_env_factory, tmp_path):  # fmt: skip
    """`fallback: fail` and one refused call (HTTP 400, not retried): the job fails, Flink restarts it
    from its last checkpoint (taken every second while slow calls are in flight in the async lookup
    operator), and the records after it are sent again. The transactional sink still holds every
    record exactly once, each with the service's answer."""
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"msf_in_{suffix}", f"msf_out_{suffix}"
    path = tmp_path / "model_service_failover.yaml"
    path.write_text(FAILOVER.format(source=source, sink=sink))
    bundle = render_pipeline(path, "local", targets_file=ROOT / "targets.yaml")
    create_topics([source, sink], bootstrap=stack.bootstrap, partitions=1)
    model, calls, lock = ScriptedModel(THRESHOLD), [0], threading.Lock()

    class Refusing(Handler):
        def do_POST(self) -> None:
            with lock:
                calls[0] += 1
                call = calls[0]
            if call == FAIL_CALL:
                return self._send(400, {"error": "refused once, on purpose"})
            time.sleep(0.1)  # calls stay in flight across checkpoints
            return super().do_POST()

    server = ModelServer(model, port=0, handler=Refusing).start()
    data = readings()
    env = {**stack_env_vars, "MODEL_URL": f"http://127.0.0.1:{server.server_address[1]}/score"}
    result = run_pipeline(bundle, env, table_env=table_env_factory(), workdir=stack_workdir, wait=False)
    rows: list[dict] = []
    try:
        produce(stack, source, data)
        rows = read_sink(stack, sink, len(data), grace_s=5)  # checkpoints come every second
    finally:
        result.cancel()
        server.stop()

    assert calls[0] > FAIL_CALL, "the refused call never came"
    replayed = sum(len(s) - len(set(s)) for s in model.seen.values())
    assert replayed > 0, "no record was sent again: the job did not fail over"
    got: dict[tuple[str, int], dict] = {}
    for v in values_of(rows):
        key = (v["host"], ts_ms(v["ts"]))
        assert key not in got, f"written twice: {key}"
        got[key] = v
    assert set(got) == {(e.key, e.timestamp_ms) for e in data}
    assert all(v["reason"] is None for v in got.values())
    for host in HOSTS:
        series = [(e.timestamp_ms, e.value["usage"]) for e in data if e.key == host]
        for (ts, _), want in zip(series, offline_judgements(series, THRESHOLD), strict=True):
            assert close(result_of(got[(host, ts)]), want), (host, ts, got[(host, ts)], want)
    assert any(v["is_anomaly"] for v in got.values()) and not all(v["is_anomaly"] for v in got.values())
