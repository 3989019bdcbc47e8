"""Issue 5 on the real session cluster: stop with a savepoint, produce more, resume; nothing lost or doubled.

A pipeline with a Python UDAF (the `score` detector, `fsg_detect`) and pure SQL parts runs on the
session cluster against the embedded Apache Kafka (exactly-once sinks, read_committed reads):
- `window_totals`: 10 s count/sum per host into upsert-kafka keyed by (window, host);
- `scored`: every reading judged by the score detector, upsert-kafka keyed by host (its state is
  the detector's learned state, kept in the UDAF's accumulator);
- `hot_alerts`: readings over 80, plain (append) Kafka.
Each stop leaves a window half full (held in state); the next phase is produced while no job runs
and the resumed job must complete it. Expected rows come from the readings: every window's count
and sum over all phases, every reading judged once, every hot reading once.

Phase 1 -> stop (JobManager REST, flinksql_gen.deploy.jobmanager) -> phase 2 -> resume through the
library; the resumed job's metrics are checked with flinksql_gen.observe and `status --metrics`.
Then the CLI takes over: `jobs`, `stop --savepoint`, phase 3, `submit --from-savepoint` from a
process that exits (the job, Python UDF workers included, must not need its client), `cancel`,
and the errors for an unknown job and a missing savepoint.

PyFlink 2.0's Python group aggregate restores only some keys' accumulators from a savepoint or
checkpoint on the default HashMap state backend, and all of them on RocksDB: the renderer sets
state.backend.type = rocksdb for every pipeline with a Python UDF.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from flinksql_gen.api import render_pipeline
from flinksql_gen.cli import main
from flinksql_gen.deploy.jobmanager import JobManagerClient, JobManagerTarget
from flinksql_gen.detectors import build_detector, detector_class
from flinksql_gen.kafka.client import JsonProducer, Record, create_topics, iter_records
from flinksql_gen.observe import pipeline_metrics, wait_for_metric

pytestmark = pytest.mark.slow

T0 = 1_700_000_000_000  # a multiple of 10 s; one tick = 1 s of event time
HOSTS = ("doc", "grumpy", "sleepy", "bashful")
# each stop leaves a window half full (held in state): [30 s, 40 s) after phase 1, [50 s, 60 s) after 2
PHASE1, PHASE2, PHASE3 = range(0, 35), range(35, 55), range(55, 80)
TRAILER = ("zz-trailer", 150)  # a host of its own, far ahead: closes every window of the readings
HOT = {(20, "grumpy"), (21, "grumpy"), (33, "doc"), (47, "sleepy"), (58, "bashful"), (71, "doc")}
WINDOW_MS = 10_000
TIMINGS: dict[str, float] = {}  # printed at the end of the module (pytest -s) for the reliability notes

YAML = """\
pipeline: {name}
description: savepoint lifecycle test
sources:
  readings:
    topic: {readings}
    columns: {{hostname: STRING, usage: DOUBLE, occurred_at: BIGINT}}
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 0s}}
metrics:
  usage_10s:
    source: readings
    dimensions: [hostname]
    window: {{type: tumble, size: 10s}}
    aggregates: {{n: count(*), total: sum(usage)}}
    sinks: [window_totals]
  host_readings:
    source: readings
    dimensions: [hostname]
    value: usage
detectors:
  usage_score:
    type: score
    metric: host_readings
    emit: all
    sinks: [scored]
  hot:
    type: filter
    metric: host_readings
    where: [{{column: usage, op: ">", value: 80}}]
    sinks: [hot_alerts]
sinks:
  window_totals: {{type: upsert-kafka, topic: {totals}, key: [window_start, window_end, hostname]}}
  scored: {{type: upsert-kafka, topic: {scored}, key: [hostname]}}
  hot_alerts: {{type: kafka, topic: {hot}}}
settings:
  execution.checkpointing.interval: 2s
"""


def usage(tick: int, host: str) -> float:
    if (tick, host) in HOT:
        return 90.0 + HOSTS.index(host)
    return 40.0 + (tick * 7 + HOSTS.index(host) * 13) % 30 + 0.5 * (tick % 3)  # exact in binary


def reading(tick: int, host: str) -> dict:
    return {"hostname": host, "usage": usage(tick, host) if host in HOSTS else 50.0, "occurred_at": T0 + tick * 1000}


def phase_readings(ticks: range) -> list[dict]:
    return [reading(t, h) for t in ticks for h in HOSTS]


@dataclass
class Case:
    """One pipeline definition with fresh topics, rendered for the cluster target."""

    name: str
    file: Path
    topics: dict[str, str]  # readings / totals / scored / hot -> topic

    @property
    def bundle(self):
        return render_pipeline(self.file, "cluster")


def make_case(stack, folder: Path, name: str) -> Case:
    suffix = uuid.uuid4().hex[:8]
    topics = {k: f"{name}_{k}_{suffix}" for k in ("readings", "totals", "scored", "hot")}
    create_topics(list(topics.values()), bootstrap=stack.bootstrap)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{name}.yaml"
    file.write_text(YAML.format(name=name, **topics))
    return Case(name, file, topics)


def produce(stack, topic: str, rows: list[dict]) -> None:
    with JsonProducer(stack.bootstrap) as producer:
        for row in rows:
            producer.send(topic, row, key=row["hostname"], timestamp_ms=row["occurred_at"])


# ---------------------------------------------------------------------------- expected output


def score_spec() -> dict:
    """The score detector's settings from the definition (wiring keys dropped)."""
    d = yaml.safe_load(YAML.format(name="x", readings="r", totals="t", scored="s", hot="h"))["detectors"]["usage_score"]
    fields = detector_class(d["type"]).config_model.model_fields
    return {k: v for k, v in d.items() if k in fields}


def finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else x


def expected(rows: list[dict]) -> dict:
    totals: dict[tuple, list[float]] = defaultdict(list)
    last: dict[str, tuple] = {}
    detectors: dict[str, object] = {}
    for r in rows:  # in produce order = each key's order in its partition
        host, ts = r["hostname"], r["occurred_at"]
        if host in HOSTS:
            totals[(ts - ts % WINDOW_MS, host)].append(r["usage"])
        det = detectors.setdefault(host, build_detector(score_spec()))
        res = det.update(ts, r["usage"])
        last[host] = (ts, r["usage"], finite(res.expected), finite(res.lower), finite(res.upper), finite(res.score),
                      bool(res.is_anomaly))
    hot = sorted((r["hostname"], r["occurred_at"]) for r in rows if r["usage"] > 80)
    watermark = max(r["occurred_at"] for r in rows)  # `watermark: 0s`: a window closes once it is reached
    closed = {k: (len(v), sum(v)) for k, v in totals.items() if k[0] + WINDOW_MS <= watermark}
    return {"totals": closed, "last_score": last, "hot": hot,
            "readings_per_host": Counter(r["hostname"] for r in rows)}


def ts_ms(text: str) -> int:
    import datetime as dt

    s = text.strip().removesuffix("Z").replace("T", " ")
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in s else "%Y-%m-%d %H:%M:%S"
    return round(dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def read_until(stack, topic: str, done, idle_s: float = 120.0, timeout_s: float = 300.0,
               tail_s: float = 5.0) -> list[Record]:
    """Committed records from the beginning until `done(records)`, then on until `tail_s` pass
    without a new one: longer than two 2 s checkpoints, so late duplicates would be committed
    (and show up) by then."""
    out: list[Record] = []
    for r in iter_records(topic, bootstrap=stack.bootstrap, idle_s=idle_s, timeout_s=timeout_s):
        out.append(r)
        if done(out):
            break
    else:
        raise AssertionError(f"{topic}: the expected records did not arrive ({len(out)} read)")
    if out and tail_s:
        more = iter_records(topic, bootstrap=stack.bootstrap, idle_s=tail_s, start={(topic, 0): out[-1].offset + 1})
        out += list(more)
    return out


def values(records: list[Record]) -> list[dict]:
    return [r.value for r in records if r.value is not None]  # upsert-kafka tombstones carry no value


def totals_of(records: list[Record]) -> dict[tuple, tuple]:
    latest: dict[str, dict | None] = {}
    for r in records:
        latest[r.key] = r.value
    return {(ts_ms(v["window_start"]), v["hostname"]): (v["n"], v["total"]) for v in latest.values() if v}


def wait_for_outputs(stack, case: Case, rows: list[dict]) -> dict[str, list[Record]]:
    want = expected(rows)
    n_scored = sum(want["readings_per_host"].values())
    return {
        "totals": read_until(stack, case.topics["totals"], lambda rs: len(totals_of(rs)) >= len(want["totals"])),
        "scored": read_until(stack, case.topics["scored"], lambda rs: len(values(rs)) >= n_scored),
        "hot": read_until(stack, case.topics["hot"], lambda rs: len(rs) >= len(want["hot"])),
    }


def judgement(v: dict) -> tuple:
    return (ts_ms(v["ts"]), v["value"], v["expected"], v["lower"], v["upper"], v["score"], v["is_anomaly"])


def same_judgement(got: tuple, want: tuple) -> bool:
    def close(a, b):
        return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))

    return got[:2] == want[:2] and got[6] == want[6] and all(map(close, got[2:6], want[2:6]))


def assert_exactly_once(outputs: dict[str, list[Record]], rows: list[dict]) -> None:
    want = expected(rows)
    # windows: every (window, host) once, with the count and sum over both phases
    assert totals_of(outputs["totals"]) == want["totals"]
    assert len(values(outputs["totals"])) == len(want["totals"]), "a window was emitted twice"
    # the UDAF: every reading judged exactly once
    judged = Counter((v["hostname"], ts_ms(v["ts"])) for v in values(outputs["scored"]))
    assert judged == Counter((r["hostname"], r["occurred_at"]) for r in rows)
    # append sink: every hot reading exactly once
    assert sorted((v["hostname"], ts_ms(v["occurred_ts"])) for v in values(outputs["hot"])) == want["hot"]


def detector_state_mismatches(outputs: dict[str, list[Record]], rows: list[dict], upto_ms: int) -> list[str]:
    """Hosts whose judgement of their last reading at or before `upto_ms` differs from the offline
    detector's, which saw every reading before it exactly once."""
    want = expected([r for r in rows if r["occurred_at"] <= upto_ms])["last_score"]
    got = {v["hostname"]: judgement(v) for v in values(outputs["scored"]) if ts_ms(v["ts"]) <= upto_ms}
    return sorted(h for h, w in want.items() if not same_judgement(got[h], w))


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def stack_env_set(cluster, stack_env_vars, stack_workdir):
    """The job submission path resolves ${env:...} from os.environ, like the CLI does (and the CLI
    tests below take the work dir from FLINKSQL_WORKDIR)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**stack_env_vars, "FLINKSQL_WORKDIR": str(stack_workdir)}.items():
            mp.setenv(key, value)
        yield {**os.environ}


@dataclass
class Lifecycle:
    case: Case
    first_id: str
    second_id: str
    savepoint: str
    first_rows: list[dict]
    second_rows: list[dict]
    outputs: dict[str, list[Record]]


@pytest.fixture(scope="module")
def resumed(cluster, stack_env_set, stack_workdir, tmp_path_factory):
    """Phase 1 -> stop with a savepoint -> phase 2 produced -> resumed from the savepoint, through
    the library. The resumed job keeps running for the metric and CLI tests (the CLI test stops it)."""
    folder = tmp_path_factory.mktemp("lifecycle")
    case = make_case(cluster, folder / "pipelines", "lifecycle")
    target = JobManagerTarget(cluster.rest_url, settle=2.0, poll_interval=0.2, workdir=Path(stack_workdir))
    first_rows, second_rows = phase_readings(PHASE1), phase_readings(PHASE2)
    try:
        t = time.monotonic()
        first = target.submit(case.bundle)
        TIMINGS["submit (library, UDF pipeline) s"] = time.monotonic() - t
        produce(cluster, case.topics["readings"], first_rows)
        wait_for_outputs(cluster, case, first_rows)

        t = time.monotonic()
        savepoint = target.stop(case.name, str(folder / "savepoints"))
        TIMINGS["stop with savepoint s"] = time.monotonic() - t
        produce(cluster, case.topics["readings"], second_rows)  # while no job runs
        t = time.monotonic()
        second = target.submit(case.bundle, savepoint=savepoint)
        TIMINGS["resume from savepoint s"] = time.monotonic() - t
        outputs = wait_for_outputs(cluster, case, first_rows + second_rows)
        TIMINGS["resume -> every output s"] = time.monotonic() - t
        yield Lifecycle(case, first.job_id, second.job_id, savepoint, first_rows, second_rows, outputs)
    finally:
        cancel_jobs(cluster.rest_url, case.name)
        print("\nlifecycle timings:", json.dumps({k: round(v, 1) for k, v in TIMINGS.items()}))


def cancel_jobs(url: str, name: str) -> None:
    """Cancel every active job of that name (also after a failed test), so the slots free up."""
    with JobManagerClient(url) as jm:
        active = [j for j in jm.jobs() if j.name == name and j.active]
        for j in active:
            jm.cancel(j.job_id)
        for j in active:
            jm.wait_for(j.job_id, {"CANCELED"}, timeout=60)


# ---------------------------------------------------------------------------- tests


def test_stop_with_savepoint_and_resume_delivers_every_row_exactly_once(cluster, resumed):
    life = resumed
    assert life.first_id != life.second_id and life.savepoint.startswith("file:")
    assert_exactly_once(life.outputs, life.first_rows + life.second_rows)
    # before the stop, the UDAF judged every reading exactly like the offline detector
    assert detector_state_mismatches(life.outputs, life.first_rows, T0 + PHASE1[-1] * 1000) == []
    with JobManagerClient(cluster.rest_url) as jm:
        assert jm.state(life.first_id) == "FINISHED"
        restored = (jm.checkpoints(life.second_id).get("latest") or {}).get("restored") or {}
        assert restored.get("external_path", "").rstrip("/") == life.savepoint.rstrip("/")


def test_udaf_detector_state_survives_the_savepoint(resumed):
    """PyFlink 2.0's Python group aggregate restores only some keys from the HashMap backend (3 of 4
    hosts here); the renderer puts UDF pipelines on RocksDB, which restores every key."""
    rows = resumed.first_rows + resumed.second_rows
    assert detector_state_mismatches(resumed.outputs, rows, max(r["occurred_at"] for r in rows)) == []


def test_metrics_of_the_resumed_job(cluster, resumed, stack_workdir):
    life, name = resumed, resumed.case.name
    hot_after = sum(1 for r in life.second_rows if r["usage"] > 80)

    def read():
        return next(m for m in pipeline_metrics(cluster.rest_url, [name]) if m.job_id == life.second_id)

    # task metrics reach the REST API every metrics.fetcher.update-interval (2 s on the stack's cluster)
    m = wait_for_metric(read, lambda m: m.sources and m.source("readings").records_in == len(life.second_rows)
                        and m.sink("hot_alerts").records_out == hot_after, timeout=40)
    assert (m.pipeline, m.state, m.restarts) == (name, "RUNNING", 0)
    # the resumed job read exactly the records produced after the savepoint and wrote exactly the
    # phase-2 rows: windows [30 s, 40 s) (completed from the restored state) and [40 s, 50 s)
    assert m.source("readings").records_in == len(life.second_rows) and m.source("readings").errors == 0
    assert m.sink("hot_alerts").records_out == hot_after
    assert m.sink("window_totals").records_out == 2 * len(HOSTS)
    assert m.sink("scored").records_out >= len(life.second_rows)  # one update per reading (+ tombstones)
    assert m.source("readings").watermark_ms == T0 + PHASE2[-1] * 1000
    cp = m.checkpoints
    assert cp.restored == 1 and cp.restored_from.rstrip("/") == life.savepoint.rstrip("/")
    cp = wait_for_metric(lambda: read().checkpoints, lambda c: c.completed >= 1, timeout=20)
    assert cp.latest_duration_ms is not None and cp.latest_age_s is not None and cp.latest_path
    assert len(m.vertices) >= 2 and all(v.status == "RUNNING" for v in m.vertices)
    assert m.vertices[0].name.startswith("Source: readings")

    result = CliRunner().invoke(main, ["status", "--workdir", str(stack_workdir), "--metrics", "--json"])
    assert result.exit_code == 0, result.output
    shown = {j["pipeline"]: j for j in json.loads(result.output)["jobs"]}[name]
    assert shown["job_id"] == life.second_id and shown["state"] == "RUNNING"
    assert {s["name"]: s["records_in"] for s in shown["sources"]} == {"readings": len(life.second_rows)}
    # plus the source's dead-letter sink (bad_records: dead-letter is the default)
    assert {s["name"] for s in shown["sinks"]} >= {"window_totals", "scored", "hot_alerts"}
    result = CliRunner().invoke(main, ["status", "--workdir", str(stack_workdir), "--metrics"])
    assert result.exit_code == 0, result.output
    assert f"pipeline {name}: RUNNING" in result.output and "restored from" in result.output
    assert "hot_alerts" in result.output and "window_totals" in result.output


def test_status_metrics_without_a_cluster_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("FLINKSQL_JOBMANAGER", raising=False)
    result = CliRunner().invoke(main, ["status", "--workdir", str(tmp_path / "none"), "--metrics"])
    assert result.exit_code == 2 and "--metrics needs a Flink cluster" in result.output


def test_root_cause_of_a_trace_pyflink_kept_only_as_text():
    """PyFlink turns a Java TableException into a Python one holding just the trace's text."""
    from pyflink.util.exceptions import TableException

    from flinksql_gen.runtime.errors import root_cause

    trace = ("org.apache.flink.table.api.TableException: Failed to execute sql\n\tat a.B.c(B.java:1)\n"
             "Caused by: org.apache.flink.util.FlinkException: Failed to execute job 'x'.\n\t... 3 more\n"
             "Caused by: java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory "
             "'/nope' on file system 'file'.\n\tat d.E.f(E.java:2)")
    assert root_cause(TableException(trace)) == (
        "java.io.FileNotFoundException", "Cannot find checkpoint or savepoint file/directory '/nope' on file system 'file'.")
    plain = "org.apache.flink.table.api.TableException: Table sink 'x' doesn't support consuming update changes"
    assert root_cause(TableException(plain)) == ("TableException", plain)


def test_cli_jobs_stop_submit_from_savepoint_cancel(cluster, resumed, stack_env_set, tmp_path):
    """The CLI takes over the running job: a second savepoint, a resume submitted by a process
    that then exits (the job, Python UDF workers included, must not need it), phase 3, cancel."""
    life, name, url = resumed, resumed.case.name, cluster.rest_url
    env = {k: v for k, v in stack_env_set.items() if k.startswith("FLINKSQL_")}

    def cli(*args: str):
        return CliRunner().invoke(main, list(args), env=env)

    listed = cli("jobs", "--jobmanager", url)
    assert listed.exit_code == 0 and [name, "RUNNING", life.second_id] in [
        line.split() for line in listed.output.splitlines()], listed.output

    t = time.monotonic()
    stopped = cli("stop", name, "--savepoint", str(tmp_path / "sp"), "--jobmanager", url)
    TIMINGS["CLI stop with savepoint s"] = time.monotonic() - t
    assert stopped.exit_code == 0, stopped.output
    savepoint = stopped.output.strip()
    assert savepoint.startswith("file:") and Path(savepoint.removeprefix("file:")).is_dir()

    exe = Path(sys.executable).with_name("flinksql-gen")
    t = time.monotonic()
    proc = subprocess.run([str(exe), "submit", str(life.case.file), "--jobmanager", url, "--from-savepoint", savepoint],
                          env=stack_env_set, capture_output=True, text=True, timeout=240, check=False)
    TIMINGS["CLI submit --from-savepoint (own process) s"] = time.monotonic() - t
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"submitted {name}: job ") and f"(restored from {savepoint})" in proc.stdout
    third_rows = [*phase_readings(PHASE3), reading(TRAILER[1], TRAILER[0])]
    produce(cluster, life.case.topics["readings"], third_rows)  # only now that the submitting process is gone
    rows = life.first_rows + life.second_rows + third_rows
    assert_exactly_once(wait_for_outputs(cluster, life.case, rows), rows)

    cancelled = cli("cancel", name, "--jobmanager", url)
    assert cancelled.exit_code == 0 and cancelled.output.strip() == f"cancelled {name}"
    listed = cli("jobs", "--jobmanager", url, "--format", "json")
    listed_doc = json.loads(listed.output)
    assert "targets_file" in listed_doc["project"] and not [j for j in listed_doc["jobs"] if j["name"] == name]

    # user mistakes: one readable line, non-zero exit, no Java frames
    unknown = cli("stop", name, "--savepoint", str(tmp_path / "sp"), "--jobmanager", url)
    assert unknown.exit_code == 2 and unknown.output.startswith(f"error: no running job named '{name}'")
    missing = tmp_path / "no-such-savepoint"
    t = time.monotonic()
    bad = cli("submit", str(life.case.file), "--jobmanager", url, "--from-savepoint", str(missing))
    TIMINGS["CLI submit with a missing savepoint s"] = time.monotonic() - t
    assert bad.exit_code == 2, bad.output
    assert "Cannot find checkpoint or savepoint" in bad.output and str(missing) in bad.output, bad.output
    error_lines = [line for line in bad.output.strip().splitlines() if not line.startswith("using ")]  # project line
    assert "\tat " not in bad.output and len(error_lines) == 1
