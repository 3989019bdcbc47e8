"""Issue 7: faults on the real session cluster, embedded Apache Kafka and PostgreSQL.

Sinks write with exactly-once transactions and every read here is read_committed, so counts are
asserted exactly: after a restart, what the failed attempt wrote is aborted, never seen twice.

(a) The TaskManager is SIGKILLed mid-stream and a new one started: Flink restarts the job from its
    last checkpoint (every 2 s). The upsert sinks end exactly right (every window once, with the
    exact count and sum), the append sink holds each alert exactly once.
(b) Two partitions, one silent: event-time windows close only on the source with `idle_timeout`;
    the other source's watermark waits for the silent partition. Idleness never advances time:
    once the producer pauses, the window holding the latest events stays open on both.
(c) PostgreSQL stops during a lookup join and starts again: what Flink's JDBC lookup does, and
    that after recovery every alert is there exactly once.

Measured figures are printed (pytest -s) for the reliability notes; nothing is asserted on time.
"""

from __future__ import annotations

import json
import math
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from flinksql_gen.api import render_pipeline
from flinksql_gen.deploy.jobmanager import JobManagerClient
from flinksql_gen.kafka.client import JsonProducer, Record, create_topics, end_offsets, iter_records
from flinksql_gen.observe import pipeline_metrics, wait_for_metric
from flinksql_gen.runtime.runner import run_pipeline
from flinksql_gen.stack import flink_cluster, postgres, procs

pytestmark = pytest.mark.slow

T0 = 1_700_000_000_000  # a multiple of 10 s; one tick = 1 s of event time
WINDOW_MS = 10_000
FIGURES: dict[str, object] = {}


def report(key: str, value: object) -> None:
    FIGURES[key] = round(value, 2) if isinstance(value, float) else value
    print(f"\n[faults] {key}: {FIGURES[key]}")


# ---------------------------------------------------------------------------- helpers


def write_pipeline(folder: Path, name: str, text: str, topics: dict[str, int]) -> tuple[object, dict[str, str]]:
    """Render a definition whose `{topic}` placeholders get fresh topic names (created with the
    given partition counts); returns the bundle and the topic names."""
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"{name}_{k}_{suffix}" for k in topics}
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{name}.yaml"
    file.write_text(text.format(**names))
    return render_pipeline(file, "cluster"), names


def create(stack, names: dict[str, str], partitions: dict[str, int]) -> None:
    for key, topic in names.items():
        create_topics([topic], bootstrap=stack.bootstrap, partitions=partitions[key])


def submit(bundle, env: dict[str, str], table_env, url: str, timeout: float = 120.0) -> str:
    result = run_pipeline(bundle, env, table_env=table_env, wait=False, remote=url)
    with JobManagerClient(url) as jm:
        state = jm.wait_for(result.job_id, {"RUNNING"}, timeout)
        assert state == "RUNNING", f"job {result.job_id} is {state}: {jm.exception(result.job_id)}"
    return result.job_id


def cancel(url: str, job_id: str) -> None:
    with JobManagerClient(url) as jm:
        if jm.state(job_id) not in ("CANCELED", "FINISHED", "FAILED"):
            jm.cancel(job_id)
            jm.wait_for(job_id, {"CANCELED"}, timeout=60)


def settle(url: str, job_id: str, checkpoints: int = 2, timeout: float = 90.0) -> None:
    """Until `checkpoints` more checkpoints completed: whatever the job wrote before this call is
    then committed (or, after a failure, aborted), so a read_committed read to the end is final."""
    with JobManagerClient(url) as jm:
        def completed() -> int:
            return (jm.checkpoints(job_id).get("counts") or {}).get("completed", 0)

        target = completed() + checkpoints
        deadline = time.monotonic() + timeout
        while completed() < target:
            assert time.monotonic() < deadline, f"job {job_id}: no {checkpoints} checkpoints in {timeout:.0f}s"
            time.sleep(0.25)


def read_until(stack, topic: str, done, job: tuple[str, str], idle_s: float = 120.0,
               timeout_s: float = 300.0) -> list[Record]:
    """Committed records from the beginning until `done(records)`; then, once two more checkpoints
    of `job` (url, job id) completed, the rest of the topic up to its end (extra rows show up)."""
    out: list[Record] = []
    for r in iter_records(topic, bootstrap=stack.bootstrap, idle_s=idle_s, timeout_s=timeout_s):
        out.append(r)
        if done(out):
            break
    else:
        raise AssertionError(f"{topic}: the expected records did not arrive ({len(out)} read)")
    settle(*job)
    last = {}
    for r in out:
        last[(r.topic, r.partition)] = r.offset + 1
    return out + list(iter_records(topic, bootstrap=stack.bootstrap, idle_s=None, start=last, to_end=True))


def ts_ms(text: str) -> int:
    import datetime as dt

    s = text.strip().removesuffix("Z").replace("T", " ")
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in s else "%Y-%m-%d %H:%M:%S"
    return round(dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def latest_values(records: list[Record]) -> list[dict]:
    latest: dict[str | None, dict | None] = {}
    for r in records:
        latest[r.key] = r.value
    return [v for v in latest.values() if v is not None]


def send(stack, topic: str, rows: list[dict], partition: int | None = None) -> None:
    with JsonProducer(stack.bootstrap) as producer:
        for row in rows:
            producer.send(topic, row, key=row["hostname"], timestamp_ms=row["occurred_at"], partition=partition)


def epoch_ms() -> float:
    return time.time() * 1000


@pytest.fixture(scope="module")
def remote_env(cluster, table_env_factory):
    return table_env_factory(cluster.rest_url)


@pytest.fixture(scope="module", autouse=True)
def print_figures():
    yield
    print("\nfault figures:", json.dumps(FIGURES, indent=1, default=str))


# ---------------------------------------------------------------------------- (a) TaskManager killed

HOSTS = ("doc", "grumpy", "sleepy", "bashful")
TM_TICKS = 140  # 14 windows; 60 ticks before the kill, 80 produced while the TaskManager dies

TM_YAML = """\
pipeline: faults_tm
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
    sinks: [totals]
  host_readings:
    source: readings
    dimensions: [hostname]
    value: usage
detectors:
  hot:
    type: filter
    metric: host_readings
    where: [{{column: usage, op: ">", value: 80}}]
    sinks: [hot_alerts]
  usage_score:
    type: score
    metric: host_readings
    emit: all
    sinks: [scored]
sinks:
  totals: {{type: upsert-kafka, topic: {totals}, key: [window_start, window_end, hostname]}}
  hot_alerts: {{type: kafka, topic: {hot}}}
  scored: {{type: upsert-kafka, topic: {scored}, key: [hostname]}}
settings:
  execution.checkpointing.interval: 2s
  restart-strategy.fixed-delay.delay: 1s
  restart-strategy.fixed-delay.attempts: "100"
  state.backend.type: rocksdb  # the Python UDAF's state restores correctly only with RocksDB (see below)
"""


def tm_usage(tick: int, h: int) -> float:
    if (tick + h) % 4 == 0:
        return 85.0 + h  # one hot reading per tick
    return 30.0 + (tick * 7 + h * 11) % 40 + 0.5 * (tick % 2)


def tm_rows(ticks: range) -> list[dict]:
    return [{"hostname": host, "usage": tm_usage(t, h), "occurred_at": T0 + t * 1000}
            for t in ticks for h, host in enumerate(HOSTS)]


def job_timestamps(url: str, job_id: str) -> dict:
    with JobManagerClient(url) as jm:
        job = jm.job(job_id)
    return {**job.get("timestamps", {}), "_state": job.get("state"),
            "_running_vertices": sum(1 for v in job.get("vertices", []) if v.get("status") == "RUNNING"),
            "_vertices": len(job.get("vertices", []))}


def wait_recovered(url: str, job_id: str, after_ms: float, timeout: float = 150.0) -> dict:
    """Until the job restarted after `after_ms` and runs all its tasks again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ts = job_timestamps(url, job_id)
        if (ts.get("RESTARTING", 0) > after_ms and ts["_state"] == "RUNNING"
                and ts["_running_vertices"] == ts["_vertices"]):
            return ts
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not recover: {job_timestamps(url, job_id)}")


@pytest.fixture(scope="module")
def tm_killed(cluster, stack_env_vars, remote_env, tmp_path_factory):
    bundle, topics = write_pipeline(tmp_path_factory.mktemp("faults_tm"), "faults_tm", TM_YAML,
                                    {"readings": 1, "totals": 1, "hot": 1, "scored": 1})
    create(cluster, topics, {"readings": 1, "totals": 1, "hot": 1, "scored": 1})
    url = cluster.rest_url
    before, during = tm_rows(range(0, 60)), tm_rows(range(60, TM_TICKS))
    trailer = [{"hostname": "zz-trailer", "usage": 50.0, "occurred_at": T0 + (TM_TICKS + 60) * 1000}]
    job_id = submit(bundle, stack_env_vars, remote_env, url)
    killed: set[str] = set()
    try:
        send(cluster, topics["readings"], before)
        read_until(cluster, topics["hot"], lambda rs: len(rs) >= sum(r["usage"] > 80 for r in before), (url, job_id))
        with JobManagerClient(url) as jm:  # a checkpoint that holds the first records
            for _ in range(60):
                if (jm.checkpoints(job_id).get("counts") or {}).get("completed", 0) >= 2:
                    break
                time.sleep(0.5)

        producer = threading.Thread(target=lambda: _paced(cluster, topics["readings"], during, per_s=60),
                                    daemon=True)
        producer.start()
        time.sleep(2.0)  # mid-stream
        info = flink_cluster.refresh_pids(cluster.cluster)
        killed = flink_cluster.registered_taskmanagers(url)
        killed_at = epoch_ms()
        pid = flink_cluster.kill_taskmanager(info)
        assert pid and not procs.alive(pid)
        t = time.monotonic()
        flink_cluster.start_taskmanager(info)
        report("new TaskManager offers slots after (s)", time.monotonic() - t)
        ts = wait_recovered(url, job_id, killed_at)
        report("JobManager noticed the lost TaskManager after (s)", (ts["RESTARTING"] - killed_at) / 1000)
        report("job RUNNING again after the kill (s)", (ts["RUNNING"] - killed_at) / 1000)
        producer.join(120)
        send(cluster, topics["readings"], trailer)
        job = (url, job_id)
        outputs = {
            "totals": read_until(cluster, topics["totals"],
                                 lambda rs: len(latest_values(rs)) >= TM_TICKS // 10 * len(HOSTS), job),
            "hot": read_until(cluster, topics["hot"],
                              lambda rs: len({(r.value["hostname"], r.value["occurred_ts"]) for r in rs})
                              >= sum(r["usage"] > 80 for r in before + during), job),
            "scored": read_until(cluster, topics["scored"],
                                 lambda rs: {v["hostname"] for v in latest_values(rs)
                                             if ts_ms(v["ts"]) == T0 + (TM_TICKS - 1) * 1000} >= set(HOSTS), job),
        }
        report("kill -> every output (s)", (epoch_ms() - killed_at) / 1000)
        metrics = wait_for_metric(lambda: pipeline_metrics(url, ["faults_tm"])[0],
                                  lambda m: (m.restarts or 0) >= 1, timeout=30)
        yield before + during, outputs, metrics
    finally:
        cancel(url, job_id)
        flink_cluster.wait_until_taskmanagers_gone(cluster.cluster, killed)  # before the next test's job


def _paced(stack, topic: str, rows: list[dict], per_s: float) -> None:
    """Send `rows` at about `per_s` records a second (one flush per batch of ticks)."""
    with JsonProducer(stack.bootstrap) as producer:
        start = time.monotonic()
        for i, row in enumerate(rows):
            producer.send(topic, row, key=row["hostname"], timestamp_ms=row["occurred_at"])
            if i % 20 == 19:
                producer.flush()
                time.sleep(max(0.0, start + (i + 1) / per_s - time.monotonic()))


def test_tm_kill_upsert_sink_exact_every_window_once(tm_killed):
    rows, outputs, metrics = tm_killed
    want: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        want[(r["occurred_at"] - r["occurred_at"] % WINDOW_MS, r["hostname"])].append(r["usage"])
    got = {(ts_ms(v["window_start"]), v["hostname"]): (v["n"], v["total"]) for v in latest_values(outputs["totals"])}
    assert got == {k: (len(v), sum(v)) for k, v in want.items()}  # latest per key: exact, none missing
    rewrites = len([r for r in outputs["totals"] if r.value is not None]) - len(got)
    report("upsert sink: windows rewritten after the restart (same key, same value)", rewrites)
    assert metrics.restarts >= 1 and metrics.state == "RUNNING"
    assert metrics.checkpoints.completed >= 1


def test_tm_kill_append_sink_each_alert_exactly_once(tm_killed):
    rows, outputs, _ = tm_killed
    want = Counter((r["hostname"], r["occurred_at"]) for r in rows if r["usage"] > 80)
    got = Counter((r.value["hostname"], ts_ms(r.value["occurred_ts"])) for r in outputs["hot"])
    report("append sink: alerts", len(want))
    report("append sink: duplicates after the restart", sum(got.values()) - len(got))
    assert set(got) == set(want), "an alert is missing (or unexpected)"
    assert got == want, "an alert was delivered twice to a read_committed reader"


def test_tm_kill_udaf_detector_state_restored_from_checkpoint(tm_killed):
    from flinksql_gen.detectors import build_detector

    def finite(x):
        return None if x is None or math.isnan(x) or math.isinf(x) else x

    def same(a, b):
        return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))

    rows, outputs, _ = tm_killed
    last: dict[str, tuple] = {}
    detectors: dict[str, object] = {}
    for r in rows:  # every reading exactly once, in order: what a correctly restored detector has seen
        res = detectors.setdefault(r["hostname"], build_detector({"type": "score"})).update(r["occurred_at"], r["usage"])
        last[r["hostname"]] = (r["occurred_at"], finite(res.expected), finite(res.score))
    got = {v["hostname"]: (ts_ms(v["ts"]), v["expected"], v["score"]) for v in latest_values(outputs["scored"])}
    lost = sorted(h for h, want in last.items() if got[h][0] != want[0] or not all(map(same, got[h][1:], want[1:])))
    report("UDAF detector state lost after the TaskManager kill (hosts)", lost)
    assert lost == []


# ---------------------------------------------------------------------------- (b) a silent partition

IDLE_YAML = """\
pipeline: faults_idle
sources:
  with_idle:
    topic: {readings}
    group_id: faults-idle-with
    columns: {{hostname: STRING, usage: DOUBLE, occurred_at: BIGINT}}
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 0s}}
    idle_timeout: 2s
  without_idle:
    topic: {readings}
    group_id: faults-idle-without
    columns: {{hostname: STRING, usage: DOUBLE, occurred_at: BIGINT}}
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 0s}}
metrics:
  with_idle_10s:
    source: with_idle
    dimensions: [hostname]
    window: {{type: tumble, size: 10s}}
    aggregates: {{n: count(*)}}
    sinks: [closed_with_idle]
  without_idle_10s:
    source: without_idle
    dimensions: [hostname]
    window: {{type: tumble, size: 10s}}
    aggregates: {{n: count(*)}}
    sinks: [closed_without_idle]
sinks:
  closed_with_idle: {{type: kafka, topic: {with_idle}}}
  closed_without_idle: {{type: kafka, topic: {without_idle}}}
settings:
  execution.checkpointing.interval: 2s
"""


def windows_of(records: list[Record]) -> set[tuple[str, int]]:
    return {(r.value["hostname"], ts_ms(r.value["window_start"])) for r in records}


def test_windows_close_on_a_silent_partition_only_with_idle_timeout(cluster, stack_env_vars, remote_env,
                                                                     tmp_path):
    bundle, topics = write_pipeline(tmp_path, "faults_idle", IDLE_YAML,
                                    {"readings": 2, "with_idle": 1, "without_idle": 1})
    ddl = {s.name: s.sql for s in bundle.ddl}
    assert "'scan.watermark.idle-timeout'" in ddl["with_idle"] and "idle-timeout" not in ddl["without_idle"]
    create(cluster, topics, {"readings": 2, "with_idle": 1, "without_idle": 1})
    url = cluster.rest_url
    rows = [{"hostname": h, "usage": 1.0, "occurred_at": T0 + t * 1000} for t in range(40) for h in ("doc", "grumpy")]
    job_id = submit(bundle, stack_env_vars, remote_env, url)
    try:
        send(cluster, topics["readings"], rows, partition=0)  # partition 1 stays silent
        closed = {(h, T0 + w * WINDOW_MS) for h in ("doc", "grumpy") for w in range(3)}  # [30 s, 40 s) stays open
        job = (url, job_id)
        with_idle = read_until(cluster, topics["with_idle"], lambda rs: windows_of(rs) >= closed, job)
        assert windows_of(with_idle) == closed and len(with_idle) == len(closed)
        assert all(r.value["n"] == 10 for r in with_idle)
        # the same records, the same time, no idle timeout: the silent partition holds the watermark
        assert end_offsets([topics["without_idle"]], bootstrap=cluster.bootstrap) == {(topics["without_idle"], 0): 0}
        m = wait_for_metric(lambda: pipeline_metrics(url, ["faults_idle"])[0],
                            lambda m: len(m.sources) == 2 and m.source("with_idle").records_in == len(rows)
                            and m.source("without_idle").records_in == len(rows), timeout=30)
        report("idle test: source watermarks (ms after T0)",
               {s.name: None if s.watermark_ms is None else s.watermark_ms - T0 for s in m.sources})
        assert m.source("with_idle").watermark_ms == T0 + 39_000
        assert m.source("without_idle").watermark_ms is None

        # one record on the silent partition releases the held-back windows (none was lost)
        send(cluster, topics["readings"], [{"hostname": "other", "usage": 1.0, "occurred_at": T0 + 39_000}],
             partition=1)
        without_idle = read_until(cluster, topics["without_idle"], lambda rs: windows_of(rs) >= closed, job)
        assert windows_of(without_idle) == closed and all(r.value["n"] == 10 for r in without_idle)
        # the producer paused: idleness never moves event time, the latest window stays open on both
        settle(*job)
        late = list(iter_records(topics["with_idle"], bootstrap=cluster.bootstrap, idle_s=None, to_end=True,
                                 start={(topics["with_idle"], 0): with_idle[-1].offset + 1}))
        assert late == []
    finally:
        cancel(url, job_id)


# ---------------------------------------------------------------------------- (c) PostgreSQL down

PG_YAML = """\
pipeline: faults_pg
sources:
  readings:
    topic: {readings}
    columns: {{hostname: STRING, usage: DOUBLE, occurred_at: BIGINT}}
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 0s}}
lookups:
  limits:
    table: host_limits
    columns: {{hostname: STRING, allowed_top: DOUBLE}}
    key: [hostname]
    max_retries: 2
metrics:
  usage_10s:
    source: readings
    dimensions: [hostname]
    window: {{type: tumble, size: 10s}}
    aggregates: {{usage_avg: avg(usage)}}
detectors:
  over_limit:
    type: lookup_threshold
    metric: usage_10s
    lookup: limits
    on: {{hostname: hostname}}
    value: usage_avg
    threshold: allowed_top
    op: ">"
    sinks: [over_alerts]
sinks:
  over_alerts: {{type: kafka, topic: {alerts}}}
settings:
  execution.checkpointing.interval: 2s
  restart-strategy.fixed-delay.delay: 1s
  restart-strategy.fixed-delay.attempts: "100"
"""
LIMITS = {"doc": 50.0, "grumpy": 60.0}


def pg_usage(tick: int, host: str) -> float:
    high = (tick // 10 + (host == "grumpy")) % 2 == 0  # every other window over the limit
    return LIMITS[host] + (10.0 if high else -10.0) + (1.0 if tick % 2 else -1.0)


def pg_rows(ticks: range) -> list[dict]:
    return [{"hostname": h, "usage": pg_usage(t, h), "occurred_at": T0 + t * 1000} for t in ticks for h in LIMITS]


def expected_alerts(rows: list[dict], watermark_ms: int) -> set[tuple[str, int]]:
    sums: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rows:
        sums[(r["hostname"], r["occurred_at"] - r["occurred_at"] % WINDOW_MS)].append(r["usage"])
    return {k for k, v in sums.items() if k[1] + WINDOW_MS <= watermark_ms and sum(v) / len(v) > LIMITS[k[0]]}


def restart_postgres(info: postgres.PostgresInfo) -> postgres.PostgresInfo:
    """pg_ctl start on the stopped server's data dir (same port), as its owner."""
    owner = ["setpriv", f"--reuid={postgres.NOBODY}", f"--regid={postgres.NOBODY}", "--clear-groups"] \
        if info.as_nobody else []
    subprocess.run([*owner, str(Path(info.bin_dir) / "pg_ctl"), "-D", str(info.data_dir), "-l", info.log, "-w",
                    "-t", "60", "start"], cwd=info.root, check=True, capture_output=True, timeout=90)
    pid = int((info.data_dir / "postmaster.pid").read_text().split()[0])
    return replace(info, pid=pid, start_time=procs.start_time(pid) or 0)


def test_postgres_down_during_lookup_join_loses_no_alert(cluster, stack_env_vars, remote_env, tmp_path):
    pg = [postgres.start_postgres(tmp_path / "own-pg", procs.free_port())]  # ours alone: we stop it
    try:
        with postgres.connect(pg[0].dsn) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE host_limits (hostname TEXT PRIMARY KEY, allowed_top DOUBLE PRECISION)")
            cur.executemany("INSERT INTO host_limits VALUES (%s, %s)", list(LIMITS.items()))
        bundle, topics = write_pipeline(tmp_path, "faults_pg", PG_YAML, {"readings": 1, "alerts": 1})
        create(cluster, topics, {"readings": 1, "alerts": 1})
        env = {**stack_env_vars, "FLINKSQL_JDBC_URL": pg[0].jdbc_url}
        url = cluster.rest_url
        job_id = submit(bundle, env, remote_env, url)
        try:
            _postgres_outage(cluster, pg, job_id, topics, url)
        finally:
            cancel(url, job_id)
    finally:
        postgres.stop_postgres(pg[0])


def _postgres_outage(cluster, pg: list, job_id: str, topics: dict[str, str], url: str) -> None:
    """`pg` holds the server's current PostgresInfo (a restart changes its pid)."""
    first, second = pg_rows(range(0, 31)), pg_rows(range(31, 61))
    send(cluster, topics["readings"], first)
    want_first = expected_alerts(first, T0 + 30_000)
    read_until(cluster, topics["alerts"], lambda rs: windows_of(rs) >= want_first, (url, job_id))

    postgres.stop_postgres(pg[0], remove=False)
    down_at = epoch_ms()
    send(cluster, topics["readings"], second)  # closes windows 3..5: lookups while PostgreSQL is down
    failed = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ts = job_timestamps(url, job_id)
        if ts.get("RESTARTING", 0) > down_at or ts.get("FAILING", 0) > down_at:
            failed = ts
            break
        time.sleep(0.25)
    report("lookup with PostgreSQL down: the job failed (restart strategy took over)", failed is not None)
    if failed is not None:
        report("PostgreSQL down -> job restarting (s)", (failed.get("RESTARTING", failed.get("FAILING")) - down_at) / 1000)
        with JobManagerClient(url) as jm:
            from flinksql_gen.deploy.base import root_cause

            report("failure root cause", root_cause(jm.exception(job_id) or "").splitlines()[0])
    time.sleep(3.0)  # restarts keep failing while the database is away
    pg[0] = restart_postgres(pg[0])
    up_at = epoch_ms()
    want = expected_alerts(first + second, T0 + 60_000)
    alerts = read_until(cluster, topics["alerts"], lambda rs: windows_of(rs) >= want, (url, job_id))
    report("PostgreSQL back -> every alert (s)", (epoch_ms() - up_at) / 1000)
    got = Counter((r.value["hostname"], ts_ms(r.value["window_start"])) for r in alerts)
    report("lookup outage: alerts / duplicates", (len(want), sum(got.values()) - len(got)))
    assert set(got) == want, "an alert is missing (or unexpected)"
    assert all(n == 1 for n in got.values()), "the failing job's attempts wrote an alert twice"
    assert all(math.isclose(r.value["allowed_top"], LIMITS[r.value["hostname"]]) for r in alerts)
    m = pipeline_metrics(url, ["faults_pg"])[0]
    report("lookup outage: job state, restarts (metric may lag 10 s)", (m.state, m.restarts))
    assert m.state == "RUNNING"


# ---------------------------------------------------------------------------- (d) a missing lookup table

MISSING_YAML = """\
pipeline: faults_missing
sources:
  readings:
    topic: {readings}
    columns: {{hostname: STRING, usage: DOUBLE, occurred_at: BIGINT}}
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 0s}}
lookups:
  limits:
    table: no_such_limits_table
    columns: {{hostname: STRING, allowed_top: DOUBLE}}
    key: [hostname]
    max_retries: 0
metrics:
  usage_10s:
    source: readings
    dimensions: [hostname]
    window: {{type: tumble, size: 10s}}
    aggregates: {{usage_avg: avg(usage)}}
  host_readings:
    source: readings
    dimensions: [hostname]
    value: usage
detectors:
  over_limit:
    type: lookup_threshold
    metric: usage_10s
    lookup: limits
    on: {{hostname: hostname}}
    value: usage_avg
    threshold: allowed_top
    op: ">"
    sinks: [over_alerts]
  hot:
    type: filter
    metric: host_readings
    where: [{{column: usage, op: ">", value: 80}}]
    sinks: [hot_alerts]
sinks:
  over_alerts: {{type: kafka, topic: {alerts}}}
  hot_alerts: {{type: kafka, topic: {hot}}}
settings:
  execution.checkpointing.interval: 2s
  restart-strategy.fixed-delay.delay: 1s
  restart-strategy.fixed-delay.attempts: "3"
"""


def test_job_failing_on_a_missing_lookup_table_writes_nothing_twice(cluster, stack_env_vars, remote_env, tmp_path):
    """The first window to close looks up a table that does not exist: every restart replays
    from the last checkpoint and fails again until the job is FAILED. The rows the attempts
    wrote again belong to aborted transactions: a read_committed reader sees each alert once."""
    bundle, topics = write_pipeline(tmp_path, "faults_missing", MISSING_YAML,
                                    {"readings": 1, "alerts": 1, "hot": 1})
    create(cluster, topics, {"readings": 1, "alerts": 1, "hot": 1})
    url = cluster.rest_url
    job_id = submit(bundle, stack_env_vars, remote_env, url)
    job = (url, job_id)
    first, rest = tm_rows(range(0, 9)), tm_rows(range(9, 40))  # the first window closes with `rest`
    want_first = Counter((r["hostname"], r["occurred_at"]) for r in first if r["usage"] > 80)
    want_all = Counter((r["hostname"], r["occurred_at"]) for r in first + rest if r["usage"] > 80)
    try:
        send(cluster, topics["readings"], first)
        read_until(cluster, topics["hot"], lambda rs: len(rs) >= sum(want_first.values()), job)
        send(cluster, topics["readings"], rest)
        with JobManagerClient(url) as jm:
            # Region failover restarts only the window's side of the job, from its checkpoint: once the
            # source has read everything, no new watermark would close the window again, and the job
            # would sit RUNNING after a restart. A quiet row now and then moves the watermark on.
            deadline, tick = time.monotonic() + 180, 40
            while (state := jm.wait_for(job_id, {"FAILED"}, timeout=5)) != "FAILED" and time.monotonic() < deadline:
                send(cluster, topics["readings"], [{"hostname": HOSTS[0], "usage": 1.0, "occurred_at": T0 + tick * 1000}])
                tick += 1
            cause = jm.exception(job_id) or ""
        assert state == "FAILED"
        assert "no_such_limits_table" in cause
        hot = list(iter_records(topics["hot"], bootstrap=cluster.bootstrap, idle_s=None, to_end=True))
        got = Counter((r.value["hostname"], ts_ms(r.value["occurred_ts"])) for r in hot)
        report("missing lookup table: hot alerts committed of sent / written twice",
               (sum(got.values()), sum(want_all.values()), sum(got.values()) - len(got)))
        assert set(want_first) <= set(got) <= set(want_all)
        assert all(n == 1 for n in got.values()), "an alert was delivered twice to a read_committed reader"
        assert end_offsets([topics["alerts"]], bootstrap=cluster.bootstrap) == {(topics["alerts"], 0): 0}
    finally:
        cancel(url, job_id)
