"""The model service parts without Flink: the reference server (`serve-model`), the client
(batches, retries, timeouts, circuit breaker, malformed answers, secrets), the UDF's bundle logic
called the way PyFlink's group aggregate calls it, the config and the planner's refusals.
Real HTTP on 127.0.0.1 throughout (the reference server, or a scripted handler)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from flinksql_gen.api import render_pipeline
from flinksql_gen.detectors import build_detector
from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.detectors.service_client import ScoringError, ServiceClient
from flinksql_gen.errors import DefinitionError
from flinksql_gen.model_service.server import Handler, ModelServer, ScoringModel
from flinksql_gen.plan.service_dead_letters import UNUSABLE_ANSWER
from flinksql_gen.udfs.model_service import ModelServiceAggregate

ROOT = Path(__file__).resolve().parents[1]
SPEC = {"type": "ewma", "span": 8, "min_points": 4}


def series(n: int, phase: float = 0.0) -> list[tuple[int, float | None]]:
    return [(1_700_000_000_000 + i * 1000, None if i == 7 else 10 + 3 * math.sin(i / 3 + phase) + (25 if i == 40 else 0))
            for i in range(n)]  # fmt: skip


def offline(points, spec: dict = SPEC) -> list[tuple]:
    """(expected, lower, upper, score, is_anomaly) of the in-process detector over the points,
    infinities and NaN as None (as they come out of JSON)."""
    det = build_detector(spec)
    out = []
    for ts, v in points:
        r = det.update(ts, v)
        out.append(tuple(None if math.isnan(x) or math.isinf(x) else x for x in (r.expected, r.lower, r.upper, r.score))
                   + (bool(r.is_anomaly),))
    return out


def config(url: str, **kw):
    return parse_detector_config({"type": "model_service", "url": url, **kw})


@pytest.fixture
def server():
    s = ModelServer(ScoringModel(SPEC)).start()
    yield s
    s.stop()


class Scripted:
    """A server whose answer to call n is script(n, body) -> (status, body dict, delay)."""

    def __init__(self, script):
        self.calls: list[dict] = []
        outer = self

        class H(Handler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.calls.append({"body": body, "headers": dict(self.headers)})
                status, answer, delay = script(len(outer.calls), body)
                time.sleep(delay)
                self._send(status, answer)

        self.server = ModelServer(ScoringModel(SPEC), handler=H).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.stop()


def healthy(n, body):
    return 200, {"results": [{"expected": 1.0, "lower": 0.0, "upper": 2.0, "score": 0.5, "is_anomaly": False}
                             for _ in body["records"]]}, 0.0  # fmt: skip


# ---------------------------------------------------------------------------- server


def test_server_gives_what_the_detector_gives_offline_per_key_interleaved(server):
    a, b = series(60), series(60, phase=1.0)
    client = ServiceClient(config(server.url, batch_size=7))
    got_a, got_b = [], []
    for i in range(0, 60, 10):  # the keys' batches interleave, as bundles do
        got_a += client.score("a", a[i:i + 10])
        got_b += client.score("b", b[i:i + 10])
    assert got_a == offline(a) and got_b == offline(b)
    assert any(r[4] for r in got_a), "the designed spike at 40 is an anomaly"
    health = httpx.get(server.url.replace("/score", "/healthz")).json()
    assert health == {"status": "ok", "detector": "ewma", "keys": 2}


def test_server_answers_a_repeated_batch_id_from_its_cache(server):
    body = {"batch_id": "b1", "records": [{"key": "k", "ts": ts, "value": v} for ts, v in series(12)]}
    first = httpx.post(server.url, json=body).json()
    again = httpx.post(server.url, json=body).json()
    assert first == again
    twelve = build_detector(SPEC)
    twelve.run(series(12))
    assert server.model.detectors["k"].state_dict() == twelve.state_dict()  # judged once, not twice
    nxt = httpx.post(server.url, json={"records": [{"key": "k", "ts": 1_700_000_012_000, "value": 10.0}]}).json()
    assert nxt["results"][0]["expected"] == pytest.approx(offline([*series(12), (1_700_000_012_000, 10.0)])[-1][0])


@pytest.mark.parametrize(("body", "needle"), [
    (b"not json", "Expecting value"),
    (b'{"records": 3}', "list 'records'"),
    (b'{"records": [{"key": 1, "ts": 2}]}', "record 0 needs a string 'key'"),
    (b'{"records": [{"key": "k", "ts": 2, "value": "x"}]}', "'value' must be a number"),
])  # fmt: skip
def test_server_refuses_bad_requests_with_the_reason(server, body, needle):
    resp = httpx.post(server.url, content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 400 and needle in resp.json()["error"]


# ---------------------------------------------------------------------------- client


def test_client_retries_5xx_with_the_same_batch_id_then_succeeds():
    with Scripted(lambda n, b: (503, {"error": "busy"}, 0.0) if n < 3 else healthy(n, b)) as s:
        client = ServiceClient(config(s.server.url, retries=2, backoff=0.01))
        assert client.score("k", series(3)) == [(1.0, 0.0, 2.0, 0.5, False)] * 3
        assert len(s.calls) == 3 and len({c["body"]["batch_id"] for c in s.calls}) == 1


def test_client_times_out_slow_calls_and_retries():
    with Scripted(lambda n, b: (*healthy(n, b)[:2], 1.0 if n == 1 else 0.0)) as s:
        client = ServiceClient(config(s.server.url, timeout=0.2, retries=1, backoff=0.0))
        t = time.monotonic()
        assert client.score("k", series(2)) == [(1.0, 0.0, 2.0, 0.5, False)] * 2
        assert time.monotonic() - t < 0.9 and len(s.calls) == 2
    with Scripted(lambda n, b: (*healthy(n, b)[:2], 0.5)) as s:
        client = ServiceClient(config(s.server.url, timeout=0.1, retries=1, backoff=0.0))
        with pytest.raises(ScoringError, match=r"timeout after 0.1 s \(after 2 attempts\)"):
            client.score("k", series(2))


@pytest.mark.parametrize(("answer", "reason"), [
    ({"results": [{"expected": 1, "lower": 0, "upper": 2, "score": 0.1, "is_anomaly": False}]}, "1 results for 2 records"),
    ({"scores": []}, "no list 'results'"),
    ({"results": [{"expected": "x", "is_anomaly": False}] * 2}, "result 0: 'expected' is not a number or null"),
    ({"results": [{"expected": 1.0}] * 2}, "result 0: 'is_anomaly' is not true or false"),
])  # fmt: skip
def test_client_names_what_is_malformed_and_does_not_retry(answer, reason):
    with Scripted(lambda n, b: (200, answer, 0.0)) as s:
        client = ServiceClient(config(s.server.url, retries=3))
        with pytest.raises(ScoringError) as err:
            client.score("k", series(2))
        assert err.value.reason == f"malformed response: {reason}" and len(s.calls) == 1


def test_client_maps_request_and_response_fields_and_sends_resolved_headers(monkeypatch):
    monkeypatch.setenv("MODEL_TOKEN_T", "Bearer t0ken")

    def script(n, body):
        assert set(body) == {"batch_id", "points"} and set(body["points"][0]) == {"series", "t", "y"}
        return 200, {"out": [{"mean": 1.0, "lo": 0.0, "hi": 2.0, "s": 0.1, "flag": True} for _ in body["points"]]}, 0.0

    with Scripted(script) as s:
        cfg = config(s.server.url, headers={"Authorization": "${env:MODEL_TOKEN_T}"},
                     request={"records": "points", "key": "series", "ts": "t", "value": "y"},
                     response={"results": "out", "expected": "mean", "lower": "lo", "upper": "hi", "score": "s",
                               "is_anomaly": "flag"})  # fmt: skip
        assert ServiceClient(cfg).score("k", series(1)) == [(1.0, 0.0, 2.0, 0.1, True)]
        assert s.calls[0]["headers"]["Authorization"] == "Bearer t0ken"
    monkeypatch.delenv("MODEL_TOKEN_T")
    with pytest.raises(ScoringError, match=r"MODEL_TOKEN_T .* is not set"):
        ServiceClient(cfg)


def test_circuit_breaker_opens_skips_calls_then_a_trial_call_closes_it():
    state = {"down": True}
    with Scripted(lambda n, b: (503, {}, 0.0) if state["down"] else healthy(n, b)) as s:
        client = ServiceClient(config(s.server.url, retries=0, circuit_breaker={"failures": 2, "open_for": 0.3}))
        for _ in range(2):
            with pytest.raises(ScoringError, match="HTTP 503"):
                client.score("k", series(1))
        with pytest.raises(ScoringError, match="circuit open after 2 failed calls"):
            client.score("k", series(1))
        assert len(s.calls) == 2  # the open breaker did not call
        state["down"] = False
        time.sleep(0.35)
        assert client.score("k", series(1)) == [(1.0, 0.0, 2.0, 0.5, False)]
        assert client.score("k", series(1)) and len(s.calls) == 4


def test_a_killed_service_is_unreachable_and_comes_back_on_restart(server):
    client = ServiceClient(config(server.url, retries=1, backoff=0.01, circuit_breaker={"failures": 10}))
    pts = series(30)
    assert client.score("k", pts[:10]) == offline(pts)[:10]
    port = server.server_address[1]
    server.stop()
    with pytest.raises(ScoringError, match="service unreachable"):
        client.score("k", pts[10:20])
    again = ModelServer(server.model, port=port).start()
    try:
        # the restarted service kept its model: it continues from what it saw (10 points, not 20)
        assert client.score("k", pts[20:]) == offline(pts[:10] + pts[20:])[10:]
    finally:
        again.stop()


# ---------------------------------------------------------------------------- the UDF's bundle logic


def bundle(agg: ModelServiceAggregate, acc, cfg: str, key: str, points) -> list:
    """What PyFlink's GroupAggFunction.finish_bundle does for one key: previous value, accumulate, value."""
    assert agg.get_value(acc) == []
    for ts, v in points:
        agg.accumulate(acc, cfg, key, dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ts), v)
    return agg.get_value(acc)


def test_udf_batches_each_keys_bundle_and_falls_back_when_the_service_is_down(server):
    cfg = json.dumps({"type": "model_service", "url": server.url, "batch_size": 4, "retries": 0,
                      "fallback": {"detector": SPEC}})  # fmt: skip
    agg = ModelServiceAggregate()
    agg.open(None)
    acc_a, acc_b = agg.create_accumulator(), agg.create_accumulator()
    a, b = series(40), series(40, phase=2.0)
    rows_a = bundle(agg, acc_a, cfg, "a", a[:15]) + bundle(agg, acc_a, cfg, "a", a[15:30])
    rows_b = bundle(agg, acc_b, cfg, "b", b[:30])
    assert [tuple(r)[2:7] for r in rows_a] == offline(a[:30]) and all(r[7] is None for r in rows_a)
    assert [tuple(r)[2:7] for r in rows_b] == offline(b[:30])
    server.stop()
    down = bundle(agg, acc_a, cfg, "a", a[30:])
    # the fallback detector followed every point (its state is in the accumulator): it is warm
    assert [tuple(r)[2:7] for r in down] == offline(a)[30:]
    assert all(r[7].startswith("fallback ewma: service unreachable") for r in down)

    unscored = json.dumps({"type": "model_service", "url": server.url, "retries": 0})
    rows = bundle(agg, agg.create_accumulator(), unscored, "c", a[:3])
    assert [tuple(r)[2:] for r in rows] == [(None,) * 5 + (rows[0][7],)] * 3
    assert rows[0][7].startswith("unscored: service unreachable")

    fail = json.dumps({"type": "model_service", "url": server.url, "retries": 0, "fallback": "fail"})
    with pytest.raises(RuntimeError, match=r"service unreachable.*\(fallback: fail\)"):
        bundle(agg, agg.create_accumulator(), fail, "d", a[:3])


# ---------------------------------------------------------------------------- config, secrets, targets


def test_config_errors_are_definition_errors():
    with pytest.raises(DefinitionError, match=r"headers\.Authorization: .*environment reference"):
        config("http://x", headers={"Authorization": "Bearer plain"})
    with pytest.raises(DefinitionError, match=r"fallback\.detector: alpha"):
        config("http://x", fallback={"detector": {"type": "ewma", "alpha": 3}})
    with pytest.raises(DefinitionError, match=r"url: .*must start with http://"):
        config("scorer:8000/score")
    with pytest.raises(DefinitionError, match="in-process detector"):
        config("http://x", fallback={"detector": {"type": "model_service", "url": "http://y"}})
    with pytest.raises(DefinitionError, match=r"detector fallback .* needs engine: python"):
        config("http://x", engine="java", fallback={"detector": {"type": "ewma"}})


PIPELINE = """
pipeline: scored
sources:
  readings:
    topic: readings
    columns: {host: STRING, usage: DOUBLE, occurred_at: BIGINT}
    event_time: {column: occurred_at, name: ts, watermark: 5s}
metrics:
  usage:
    source: readings
    dimensions: [host]
    value: usage
detectors:
  scored:
    type: model_service
    metric: usage
    url: ${env:MODEL_URL:-http://scorer:8000/score}
    headers: {X-Api-Key: "${env:MODEL_KEY}"}
    emit: all
    sinks: [out]
sinks:
  out: {type: upsert-kafka, topic: scored, key: [host]}
"""


def test_bundle_keeps_secret_references_and_aiven_refuses_it(tmp_path):
    path = tmp_path / "scored.yaml"
    path.write_text(PIPELINE)
    bundle_ = render_pipeline(path, "local", targets_file=ROOT / "targets.yaml")
    assert "'connector' = 'flinksql-gen-model-service'" in bundle_.script and "`reason` STRING" in bundle_.script
    assert "MODEL_KEY" in bundle_.env and "MODEL_URL" in bundle_.env
    with pytest.raises(DefinitionError, match=r"scored.yaml:\d+:\d+: detectors.scored.type: .*Aiven's managed Flink "
                       "runs no UDFs"):  # fmt: skip
        render_pipeline(path, "aiven", targets_file=ROOT / "targets.yaml")
    path.write_text(PIPELINE.replace('"${env:MODEL_KEY}"', "plain-key"))
    with pytest.raises(DefinitionError, match=r"headers\.X-Api-Key"):
        render_pipeline(path, "local", targets_file=ROOT / "targets.yaml")


def test_concurrent_callers_share_one_client_limit(server):
    client = ServiceClient(config(server.url, max_concurrency=2))
    errors: list[BaseException] = []

    def work(key: str) -> None:
        try:
            assert client.score(key, series(50)) == offline(series(50))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"k{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_udf_takes_the_header_values_the_runner_resolved_into_its_sql():
    # The bundle holds ${env:NAME}; the runner puts the value into the statement when the job starts.
    with Scripted(healthy) as s:
        cfg = json.dumps({"type": "model_service", "url": s.server.url, "headers": {"Authorization": "Bearer x1"}})
        agg = ModelServiceAggregate()
        agg.open(None)
        rows = bundle(agg, agg.create_accumulator(), cfg, "k", series(2))
        assert [r[7] for r in rows] == [None, None] and s.calls[0]["headers"]["Authorization"] == "Bearer x1"


def _render(tmp_path, text: str, target: str = "local"):
    path = tmp_path / "scored.yaml"
    path.write_text(text)
    return render_pipeline(path, target, targets_file=ROOT / "targets.yaml")


def _detector_lines(**fields) -> str:
    return PIPELINE.replace("    emit: all\n", "    emit: all\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items()))


def test_engine_choice(tmp_path):
    java = _render(tmp_path, PIPELINE)
    # java: an async lookup join, ordered, with room for two full batches per lane; Flink's own retries off
    assert "FOR SYSTEM_TIME AS OF `s`.`__proc`" in java.script and "fsg_model_service(" not in java.script
    assert java.settings["table.exec.async-lookup.output-mode"] == "ORDERED"
    assert java.settings["table.exec.async-lookup.buffer-capacity"] == str(2 * 4 * 500)
    assert not java.udfs and "state.backend.type" not in java.settings
    # a detector fallback keeps state in Flink: the Python aggregate (auto), refused with engine: java
    fallback = _render(tmp_path, _detector_lines(fallback="{detector: {type: ewma}}"))
    assert "fsg_model_service(" in fallback.script and "flinksql-gen-model-service" not in fallback.script
    python = _render(tmp_path, _detector_lines(engine="python"))
    assert "fsg_model_service(" in python.script and "async-lookup" not in python.script
    # a row-level metric above parallelism 1: a key's records may come from several partitions
    parallel = PIPELINE.replace("pipeline: scored\n", "pipeline: scored\nsettings: {parallelism.default: '2'}\n")
    assert "fsg_model_service(" in _render(tmp_path, parallel).script
    with pytest.raises(DefinitionError, match=r"scored.yaml:\d+:\d+: detectors.scored.engine: engine: java keeps "
                       "a key's records in order only"):  # fmt: skip
        _render(tmp_path, parallel.replace("    emit: all\n", "    emit: all\n    engine: java\n"))
    # the aiven target refuses either engine with the same message
    for text in (PIPELINE, _detector_lines(engine="python")):
        with pytest.raises(DefinitionError, match="Aiven's managed Flink runs no UDFs"):
            _render(tmp_path, text, "aiven")


def _optimized_plan(table_env, bundle_) -> str:
    """The optimized plan of the bundle's statement set (every INSERT together, so that they share
    what they can), explained by the real planner in a fresh database, with the pipeline's setting
    that shapes its sinks."""
    from flinksql_gen.runtime.check import placeholder_env, register_udfs
    from flinksql_gen.secrets import resolve

    env = placeholder_env()
    config = table_env.get_config()
    database = f"dlq_{uuid.uuid4().hex[:8]}"
    table_env.execute_sql(f"CREATE DATABASE {database}")
    table_env.use_database(database)
    materialize = "table.exec.sink.upsert-materialize"
    before = config.get(materialize, "AUTO")
    try:
        config.set(materialize, bundle_.settings.get(materialize, "AUTO"))
        register_udfs(table_env, bundle_.udfs_without_ddl)
        for statement in bundle_.ddl:
            table_env.execute_sql(resolve(statement.sql, env, bundle_.env))
        body = "".join(resolve(s.sql, env, bundle_.env).strip().rstrip(";") + ";\n" for s in bundle_.inserts)
        rows = table_env.execute_sql(f"EXPLAIN STATEMENT SET BEGIN\n{body}END").collect()
        return "\n".join(str(r[0]) for r in rows).split("== Optimized Execution Plan ==")[-1]
    finally:
        config.set(materialize, before)
        table_env.use_database("default_database")


def test_unusable_answers_become_dead_letters_from_the_one_scoring_step(tmp_path, table_env):
    # java, emit: anomalies: the dead letters read every judgement, before the anomaly filter
    java = _render(tmp_path, PIPELINE.replace("    emit: all\n", "    emit: anomalies\n"))
    assert "CREATE TABLE `scored_dead_letter`" in java.script and "'topic' = 'scored_scored_dead_letter'" in java.script
    assert "FROM `scored__scored`\nWHERE REGEXP(`reason`, " in java.script
    assert "FROM `scored__scored`\nWHERE `is_anomaly`" in java.script
    python = _render(tmp_path, _detector_lines(engine="python", dead_letter_topic="scorer.refused"))
    assert "'connector' = 'upsert-kafka',\n  'topic' = 'scorer.refused'" in python.script
    # one lookup join / one Python aggregate feeds both sinks: each record is sent to the service once
    java_plan, python_plan = _optimized_plan(table_env, java), _optimized_plan(table_env, python)
    assert java_plan.count("LookupJoin(") == 1 and java_plan.count("Sink(") == 3, java_plan
    assert python_plan.count("PythonGroupAggregate(") == 1 and python_plan.count("Sink(") == 3, python_plan
    assert "upsertMaterialize=[true]" not in python_plan
    # the name is taken in the pipeline's namespace; a topic name is checked where it is written
    with pytest.raises(DefinitionError, match=r"scored.yaml:\d+:\d+: detectors.scored: the name 'scored_dead_letter' \(of a table or view it adds\) "
                       "is already used by sinks.scored_dead_letter"):  # fmt: skip
        _render(tmp_path, PIPELINE + "  scored_dead_letter: {type: kafka, topic: x}\n")
    with pytest.raises(DefinitionError, match=r"scored.yaml:\d+:\d+: detectors.scored.dead_letter_topic"):
        _render(tmp_path, _detector_lines(dead_letter_topic="'no spaces'"))


@pytest.mark.parametrize(("reason", "dead"), [
    ("unscored: malformed response: 39 results for 40 records", True),
    ("fallback ewma: malformed response: not JSON: <html>", True),
    ("unscored: HTTP 400: {\"error\": \"bad value\"}", True),
    ("unscored: HTTP 503 (after 3 attempts)", False),
    ("unscored: HTTP 429 (after 3 attempts)", False),
    ("unscored: timeout after 2 s (after 3 attempts)", False),
    ("unscored: circuit open after 5 failed calls in a row", False),
    ("unscored: service unreachable: ConnectError (after 3 attempts)", False),
])  # fmt: skip
def test_which_reasons_are_dead_letters(reason, dead):
    # Flink's REGEXP is Java's find(); the pattern is anchored, so Python's search agrees with it
    assert bool(re.search(UNUSABLE_ANSWER, reason)) is dead
