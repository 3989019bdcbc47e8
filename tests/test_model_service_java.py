"""The java engine's connector code (flinksql_gen/java/src/org/flinksqlgen/model) without Flink:
its lanes and HTTP client driven by tests/java/.../ModelServiceProbe.java against real HTTP on
127.0.0.1, checked against the python engine's client on the same scripted answers (the reasons
must be the same), and for the lanes' promise: concurrent across keys, in order within a key.
The Flink side (the async lookup join) is covered by tests/test_e2e_model_service.py."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_model_service import Handler, ModelServer, ScoringModel, Scripted, config, healthy, series

from flinksql_gen.detectors.service_client import ScoringError, ServiceClient
from flinksql_gen.runtime.formats import SOURCES, _flink_lib, _javac
from flinksql_gen.runtime.java import find_java

PROBE = Path(__file__).resolve().parent / "java" / "org" / "flinksqlgen" / "model" / "ModelServiceProbe.java"
SPEC = {"type": "ewma", "span": 8, "min_points": 4}


@pytest.fixture(scope="module")
def probe_classes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("probe")
    sources = [str(p) for p in (SOURCES / "org" / "flinksqlgen" / "model").glob("*.java")] + [str(PROBE)]
    subprocess.run([str(_javac()), "--release", "11", "-nowarn", "-encoding", "UTF-8", "-d", str(out), "-cp",
                    str(_flink_lib() / "*"), *sources], check=True, capture_output=True, timeout=300)  # fmt: skip
    return out


def probe(classes: Path, cfg: dict, points: list[tuple[str, int, float | None]]) -> list[dict]:
    """The connector's answer for each point, in input order: {"result": [...]} or {"error": ...}."""
    java = find_java().home / "bin" / "java"
    lines = "".join(json.dumps({"key": k, "ts": ts, "value": v}) + "\n" for k, ts, v in points)
    done = subprocess.run([str(java), "-cp", f"{classes}:{_flink_lib() / '*'}", "org.flinksqlgen.model.ModelServiceProbe",
                           json.dumps({"type": "model_service", **cfg})], input=lines, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines()]


def python_reason(url: str, **kw) -> str:
    with pytest.raises(ScoringError) as err:
        ServiceClient(config(url, **kw)).score("k", series(2))
    return err.value.reason


@pytest.mark.parametrize(("answer", "delay"), [
    ({"results": [{"expected": 1, "lower": 0, "upper": 2, "score": 0.1, "is_anomaly": False}]}, 0.0),
    ({"scores": []}, 0.0),
    ({"results": [{"expected": "x", "is_anomaly": False}] * 2}, 0.0),
    ({"results": [{"expected": 1.0}] * 2}, 0.0),
    ({"results": [{"expected": 1.0, "is_anomaly": "yes"}] * 2}, 0.0),
    ("not json", 0.0),
    (None, 0.5),  # healthy, but after the client's timeout: retried, then given up
])  # fmt: skip
def test_java_gives_the_python_clients_reason(probe_classes, answer, delay):
    def script(n, body):
        if answer is None:
            return (*healthy(n, body)[:2], delay)
        return 200, answer, delay

    kw = {"retries": 1, "backoff": 0.01, "timeout": 0.2, "batch_size": 2, "linger": 5.0}  # one call of both
    with Scripted(script) as s:
        want = python_reason(s.server.url, **kw)
        calls = len(s.calls)
        got = probe(probe_classes, {"url": s.server.url, **kw}, [("k", ts, v) for ts, v in series(2)])
        assert len(s.calls) - calls == calls, "the same number of attempts as the python client"
    assert got == [{"result": [None] * 5 + [f"unscored: {want}"]}] * 2


def test_java_retries_5xx_with_one_batch_id_and_fails_the_job_with_fallback_fail(probe_classes):
    with Scripted(lambda n, b: (503, {"error": "busy"}, 0.0) if n < 3 else healthy(n, b)) as s:
        got = probe(probe_classes, {"url": s.server.url, "retries": 2, "backoff": 0.01}, [("k", 1, 1.0)])
        assert got == [{"result": [1.0, 0.0, 2.0, 0.5, False, None]}]
        assert len(s.calls) == 3 and len({c["body"]["batch_id"] for c in s.calls}) == 1
    with Scripted(lambda n, b: (503, {"error": "busy"}, 0.0)) as s:
        got = probe(probe_classes, {"url": s.server.url, "retries": 0, "fallback": "fail"}, [("k", 1, 1.0)])
    assert got == [{"error": f"model service {s.server.url}: HTTP 503 (after 1 attempts) (fallback: fail)"}]


def test_java_lanes_order_within_a_key_concurrency_across_keys_and_offline_results(probe_classes):
    """8 keys x 30 points over 4 lanes, calls of at most 5 records, each call held 30 ms: every
    key's records reach the service in order, never in two calls at once; several calls overlap;
    the results are what the detector gives offline."""
    keys = [f"host-{i}" for i in range(8)]
    calls: list[tuple[float, float, list[str], list[tuple[str, int]]]] = []
    lock = threading.Lock()
    model = ScoringModel(SPEC)

    class Slow(Handler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            began = time.monotonic()
            time.sleep(0.03)
            answer = model.score(body)
            with lock:
                records = [(r["key"], r["ts"]) for r in body["records"]]
                calls.append((began, time.monotonic(), sorted({k for k, _ in records}), records))
            self._send(200, answer)

    server = ModelServer(model, handler=Slow).start()
    try:
        data = {k: series(30, phase=i) for i, k in enumerate(keys)}
        points = [(k, *data[k][t]) for t in range(30) for k in keys]  # interleaved, as a stream
        got = probe(probe_classes, {"url": server.url, "max_concurrency": 4, "batch_size": 5, "linger": 0.01},
                    points)  # fmt: skip
    finally:
        server.stop()
    from test_model_service import offline

    want = {k: iter(offline(data[k], SPEC)) for k in keys}
    for (k, _, _), row in zip(points, got, strict=True):
        assert tuple(row["result"][:5]) == next(want[k]) and row["result"][5] is None
    for k in keys:  # in order, each record once
        seen = [ts for _, _, _, records in sorted(calls) for key, ts in records if key == k]
        assert seen == [ts for ts, _ in data[k]]
    overlapping = 0
    for i, (b1, e1, k1, _) in enumerate(calls):
        for b2, e2, k2, _ in calls[i + 1:]:
            if b1 < e2 and b2 < e1:
                overlapping += 1
                assert not set(k1) & set(k2), "one key in two calls at once"
    assert overlapping > 0, "no two calls ran at once"
    assert max(len(records) for *_, records in calls) <= 5
