"""pipelines/cpu.yaml end to end: threshold filter, 30 s averages, per-host thresholds from PostgreSQL.

Readings every 5 s for 8 hosts x 2 CPUs over four 30 s windows. Each (host, cpu, window) has a
designed level; its six readings are level + (-3, +3, -2, +2, -1, +1) in a rotating order. All
levels are multiples of 0.5, so every sum and average is exact in floating point: averages equal
to a host's threshold (strict `>`: no alert) and readings of exactly 80 (strict: not filtered)
are tested exactly. Host `ghost` has no row in thresholds/cpu_thresholds.csv (inner join: no
alert however high). One trailing reading per source partition, 60 s after the last window,
closes every window.
"""

from __future__ import annotations

import csv

import pytest
from e2e_helpers import ROOT, Event, prepare, produce, run_and_collect, trailer_keys, ts_ms, values

from flinksql_gen.stack import up
from flinksql_gen.stack.postgres import connect

slow = pytest.mark.slow  # the tests that run the pipeline; the design checks are quick

T0 = 1_700_000_010_000  # a multiple of 30 s
WINDOW_MS, STEP_MS, TICKS_PER_WINDOW, WINDOWS = 30_000, 5_000, 6, 4
OFFSETS = (-3.0, 3.0, -2.0, 2.0, -1.0, 1.0)
# host -> {cpu: [level of window 0..3]}; thresholds (allowed_top) in the comments
LEVELS = {
    "doc": {"cpu1": [15, 25, 20, 35], "cpu2": [10, 18, 20, 22]},  # 20
    "grumpy": {"cpu1": [28, 31, 29, 50], "cpu2": [30, 30, 12, 45]},  # 30
    "sleepy": {"cpu1": [40, 41, 85, 39], "cpu2": [20, 20, 20, 20]},  # 40
    "bashful": {"cpu1": [59.5, 60.5, 60, 10], "cpu2": [61, 5, 70, 60]},  # 60
    "happy": {"cpu1": [69, 71, 70, 90], "cpu2": [70, 70.5, 69.5, 30]},  # 70
    "sneezy": {"cpu1": [78, 80, 83, 79], "cpu2": [81, 77, 80, 80]},  # 80
    "dopey": {"cpu1": [88, 91, 90, 95], "cpu2": [90, 89.5, 92, 30]},  # 90
    "ghost": {"cpu1": [95, 95, 95, 95], "cpu2": [96.5, 50, 85, 97]},  # no threshold row
}


def csv_thresholds() -> dict[str, float]:
    with open(ROOT / "thresholds" / "cpu_thresholds.csv", newline="") as f:
        return {row["hostname"]: float(row["allowed_top"]) for row in csv.DictReader(f)}


def readings() -> list[Event]:
    """Every reading in event-time order (per host and cpu; the order across keys is fixed too)."""
    out = []
    for w in range(WINDOWS):
        for i in range(TICKS_PER_WINDOW):
            ts = T0 + w * WINDOW_MS + i * STEP_MS
            for n, (host, cpus) in enumerate(LEVELS.items()):
                for c, (cpu, levels) in enumerate(cpus.items()):
                    usage = float(levels[w]) + OFFSETS[(i + n + c) % len(OFFSETS)]
                    out.append(Event(host, {"hostname": host, "cpu": cpu, "usage": usage, "occurred_at": ts}, ts))
    return out


@pytest.fixture(scope="module")
def cpu_run(stack, stack_workdir, stack_env_vars, table_env_factory, tmp_path_factory):
    state = up(stack_workdir, thresholds_dir=ROOT / "thresholds")  # idempotent: the stack's own loader
    prepared = prepare(state, "cpu.yaml", tmp_path_factory.mktemp("e2e_cpu"))
    data = readings()
    last = T0 + WINDOWS * WINDOW_MS + 60_000
    trailers = [Event(k, {"hostname": k, "cpu": "cpu1", "usage": 1.0, "occurred_at": last}, last)
                for k in trailer_keys("trailer-", prepared.partitions)]
    produce(state, prepared.sources["cpu_load"], data + trailers)
    expected = {"cpu_high_alerts": len(expected_high(data)), "cpu_agg_stats": len(expected_windows()),
                "cpu_threshold_alerts": len(expected_alerts(csv_thresholds()))}
    env = {**stack_env_vars, "SLACK_TOKEN": "xoxb-e2e-not-a-real-token"}
    out = run_and_collect(prepared, env, table_env_factory(), stack_workdir, expected)
    return state, data, out


def expected_high(data: list[Event]) -> list[tuple]:
    return sorted((e.value["occurred_at"], e.value["hostname"], e.value["cpu"], e.value["usage"])
                  for e in data if e.value["usage"] > 80)


def expected_windows() -> dict[tuple, tuple[float, float]]:
    """(window_start, host, cpu) -> (avg, max)."""
    return {(T0 + w * WINDOW_MS, host, cpu): (float(levels[w]), float(levels[w]) + 3.0)
            for host, cpus in LEVELS.items() for cpu, levels in cpus.items() for w in range(WINDOWS)}


def expected_alerts(tops: dict[str, float]) -> dict[tuple, tuple[float, float]]:
    """(window_start, host, cpu) -> (avg, allowed_top) for averages over the host's own threshold."""
    return {key: (avg, tops[key[1]]) for key, (avg, _) in expected_windows().items()
            if key[1] in tops and avg > tops[key[1]]}


def test_the_design_covers_the_edges():
    tops = csv_thresholds()
    data = readings()
    assert "ghost" not in tops and set(LEVELS) - {"ghost"} <= set(tops)
    assert any(e.value["usage"] == 80.0 for e in data)  # on the filter's edge, not emitted
    windows = expected_windows()
    assert any(avg == tops[h] for (_, h, _), (avg, _) in windows.items() if h in tops)  # on the join's edge
    assert max(avg for (_, h, _), (avg, _) in windows.items() if h == "ghost") > max(tops.values())
    alerts = expected_alerts(tops)
    assert 10 < len(alerts) < len(windows) - 10


@slow
def test_thresholds_table_holds_the_csv_rows(cpu_run):
    state, _, _ = cpu_run
    conn = connect(state.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT hostname, allowed_top FROM cpu_thresholds")
            assert dict(cur.fetchall()) == csv_thresholds()
    finally:
        conn.close()


@slow
def test_the_job_runs_until_cancelled(cpu_run):
    _, _, out = cpu_run
    assert out.result.job_id and out.status == "RUNNING"  # a streaming job: it neither failed nor ended
    assert out.complete, f"sinks stopped short of the expected rows after {out.seconds:.0f} s"


@slow
def test_threshold_filter_emits_exactly_the_readings_over_80(cpu_run):
    _, data, out = cpu_run
    got = sorted((ts_ms(v["occurred_ts"]), v["hostname"], v["cpu"], v["usage"])
                 for v in values(out.records["cpu_high_alerts"]))
    assert got == expected_high(data)
    # keyed by hostname;cpu (key.fields)
    for r in out.records["cpu_high_alerts"]:
        assert json_key(r.key) == {"hostname": r.value["hostname"], "cpu": r.value["cpu"]}


@slow
def test_30s_windows_have_the_exact_average_and_max(cpu_run):
    _, _, out = cpu_run
    got = {}
    for v in values(out.records["cpu_agg_stats"]):
        key = (ts_ms(v["window_start"]), v["hostname"], v["cpu"])
        assert key not in got, f"window emitted twice: {key}"
        assert ts_ms(v["window_end"]) == key[0] + WINDOW_MS
        assert ts_ms(v["window_time"]) == key[0] + WINDOW_MS - 1
        got[key] = (v["usage_avg"], v["usage_max"])
    assert got == expected_windows()


@slow
def test_lookup_join_alerts_exactly_the_windows_over_the_hosts_threshold(cpu_run):
    _, _, out = cpu_run
    got = {}
    for v in values(out.records["cpu_threshold_alerts"]):
        key = (ts_ms(v["window_start"]), v["hostname"], v["cpu"])
        assert key not in got, f"alert emitted twice: {key}"
        assert v["usage_max"] == v["usage_avg"] + 3.0
        got[key] = (v["usage_avg"], v["allowed_top"])
    assert got == expected_alerts(csv_thresholds())
    assert not any(h == "ghost" for _, h, _ in got)  # no threshold row: no alert (inner join)


@slow
def test_slack_alerts_go_to_a_print_sink_locally(cpu_run):
    _, _, out = cpu_run  # what it prints (the TaskManager's stdout) is not asserted
    slack = next(t for t in out.bundle.tables if t.name == "slack_alerts")
    assert (slack.role, slack.connector, slack.topic) == ("sink", "print", None)
    assert "FROM `cpu_over_host_threshold`" in out.bundle.statement("cpu_over_host_threshold__slack_alerts").sql


def json_key(key: str | None):
    import json

    return None if key is None else json.loads(key)
