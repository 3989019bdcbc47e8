"""pipelines/cpu_anomalies.yaml end to end, against the Python detector library (one implementation).

Four hosts x 2 CPUs, one reading every 2 s for 300 s (thirty 10 s windows): a steady level per
host and CPU plus seeded Gaussian noise, and injected anomalies - a single-reading spike
(grumpy cpu1), a 10 s burst (sleepy, both CPUs +45) and a 10 s drop (bashful, both CPUs at 5).
Expected rows come from flinksql_gen.detectors run offline over the same per-host series:
MeanVarianceDetector and PercentageChangeDetector over the 10 s averages (the pure SQL forms),
ScoreDetector over every reading in the key's order (the `fsg_detect` UDAF, upsert-kafka by
hostname). The detector settings are read from the example's YAML. One trailing reading per
source partition (hosts of their own), 60 s after the last window, closes every window.

Two more hosts in the same run send one reading per window, some without `usage` (missing
values: the JSON format reads a missing field as NULL, so that window's average is NULL). The
Python detectors skip missing points entirely - they neither judge them nor count them in a
lookback window or as a baseline - and so must the SQL forms.
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass

import pytest
import yaml
from e2e_helpers import (
    PIPELINES,
    Event,
    Outputs,
    close,
    prepare,
    produce,
    run_and_collect,
    trailer_keys,
    ts_ms,
    values,
)

from flinksql_gen.detectors import build_detector, detector_class

slow = pytest.mark.slow  # the tests that run the pipeline; the design checks are quick

T0 = 1_700_000_010_000  # a multiple of 10 s
STEP_MS, WINDOW_MS, TICKS = 2_000, 10_000, 150
BASE = {"doc": (25.0, 35.0), "grumpy": (30.0, 40.0), "sleepy": (45.0, 50.0), "bashful": (60.0, 20.0)}
SPIKE = ("grumpy", "cpu1", 100, 99.0)  # host, cpu, tick, usage
BURST = ("sleepy", 25, 45.0)  # host, window, added to both CPUs
DROP = ("bashful", 15, 5.0)  # host, window, usage of both CPUs
SEED = 7


def readings() -> list[Event]:
    rng = random.Random(SEED)
    out = []
    for tick in range(TICKS):
        ts = T0 + tick * STEP_MS
        window = tick * STEP_MS // WINDOW_MS
        for host, levels in BASE.items():
            for c, level in enumerate(levels):
                cpu = f"cpu{c + 1}"
                usage = round(level + rng.gauss(0, 2), 1)
                if (host, window) == BURST[:2]:
                    usage = round(usage + BURST[2], 1)
                if (host, window) == DROP[:2]:
                    usage = DROP[2]
                if (host, cpu, tick) == SPIKE[:3]:
                    usage = SPIKE[3]
                out.append(Event(host, {"hostname": host, "cpu": cpu, "usage": usage, "occurred_at": ts}, ts))
    return out


@functools.cache
def _spec(name: str) -> tuple:
    d = yaml.safe_load((PIPELINES / "cpu_anomalies.yaml").read_text())["detectors"][name]
    fields = detector_class(d["type"]).config_model.model_fields
    return tuple((k, v) for k, v in d.items() if k in fields)


def detector_spec(name: str) -> dict:
    """The detector's own settings from the example (wiring keys such as metric/sinks dropped)."""
    return dict(_spec(name))


def window_series(data: list[Event]) -> dict[str, list[tuple[int, float | None]]]:
    """host -> [(window_start, average usage)] in time order (summed in arrival order, like AVG;
    None for a window whose readings all lack a usage)."""
    sums: dict[tuple[str, int], list[float]] = defaultdict(list)
    for e in data:
        sums[(e.key, e.timestamp_ms - e.timestamp_ms % WINDOW_MS)].append(e.value.get("usage"))
    series: dict[str, list[tuple[int, float | None]]] = defaultdict(list)
    for (host, start), xs in sorted(sums.items()):
        present = [x for x in xs if x is not None]
        total = 0.0
        for x in present:
            total += x
        series[host].append((start, total / len(present) if present else None))
    return series


def offline_window_anomalies(name: str, data: list[Event]) -> dict[tuple[str, int], dict]:
    """(host, window_start) -> the detector's result for every anomalous window."""
    out = {}
    for host, series in window_series(data).items():
        det = build_detector(detector_spec(name))
        for start, avg in series:
            r = det.update(start, avg)
            if r.is_anomaly:
                out[(host, start)] = {"usage_avg": avg, "expected": r.expected, "lower": r.lower, "upper": r.upper,
                                      "score": r.score}
    return out


def finite(x: float) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else x


def offline_scores(data: list[Event]) -> dict[str, list[tuple]]:
    """host -> [(ts, value, expected, lower, upper, score, is_anomaly)] for every reading, in order."""
    dets: dict[str, object] = {}
    out: dict[str, list[tuple]] = defaultdict(list)
    for e in data:
        if e.key not in dets:
            dets[e.key] = build_detector(detector_spec("usage_score"))
        det = dets[e.key]
        r = det.update(e.timestamp_ms, e.value.get("usage"))
        out[e.key].append((e.timestamp_ms, e.value.get("usage"), finite(r.expected), finite(r.lower), finite(r.upper),
                           finite(r.score), bool(r.is_anomaly)))
    return out


@dataclass
class Run:
    data: list[Event]  # the main hosts' readings
    gaps: list[Event]  # the gap hosts' readings, usage None where missing
    everything: list[Event]  # all records sent, in order
    out: Outputs

    def rows(self, table: str, hosts) -> dict[tuple[str, int], dict]:
        rows = window_rows(self.out.records[table])
        known = {e.key for e in self.data + self.gaps}
        assert {h for h, _ in rows} <= known, "rows for a host that sent no complete window"
        return {k: v for k, v in rows.items() if k[0] in set(hosts)}


@pytest.fixture(scope="module")
def anomalies_run(stack, stack_workdir, stack_env_vars, table_env_factory, tmp_path_factory):
    prepared = prepare(stack, "cpu_anomalies.yaml", tmp_path_factory.mktemp("e2e_cpu_anomalies"))
    data, gaps = readings(), readings_with_gaps()
    last = T0 + TICKS * STEP_MS + 60_000
    trailers = [Event(k, {"hostname": k, "cpu": "cpu1", "usage": 50.0, "occurred_at": last}, last)
                for k in trailer_keys("trailer-", prepared.partitions)]
    everything = sorted(data + gaps, key=lambda e: e.timestamp_ms) + trailers  # stable: time order per key
    produce(stack, prepared.sources["cpu_load"], everything)
    # lower bounds (rows of the gap hosts come on top)
    expected = {"usage_band_alerts": len(offline_window_anomalies("usage_out_of_band", data)),
                "usage_jump_alerts": len(offline_window_anomalies("usage_jump", data)),
                "cpu_scored": len(everything)}  # at least every reading (see the score test on tombstones)
    out = run_and_collect(prepared, stack_env_vars, table_env_factory(), stack_workdir, expected)
    return Run(data, [Event(e.key, {**e.value, "usage": e.value.get("usage")}, e.timestamp_ms) for e in gaps],
               everything, out)


def test_the_design_holds_the_injected_anomalies():
    data = readings()
    band = offline_window_anomalies("usage_out_of_band", data)
    jump = offline_window_anomalies("usage_jump", data)
    for host, window in (BURST[:2], DROP[:2]):
        assert (host, T0 + window * WINDOW_MS) in band
    assert (SPIKE[0], T0 + SPIKE[2] * STEP_MS // WINDOW_MS * WINDOW_MS) in band
    # percentage_change (pattern up, +50 %): the burst, and the recovery after the drop; not the drop
    assert (BURST[0], T0 + BURST[1] * WINDOW_MS) in jump
    assert (DROP[0], T0 + (DROP[1] + 1) * WINDOW_MS) in jump and (DROP[0], T0 + DROP[1] * WINDOW_MS) not in jump
    # no judged window sits on a band edge (the SQL sums and Python's two-pass std may differ in ulps)
    for name in ("usage_out_of_band", "usage_jump"):
        for host, series in window_series(data).items():
            det = build_detector(detector_spec(name))
            for start, avg in series:
                r = det.update(start, avg)
                for edge in (r.lower, r.upper):
                    assert math.isnan(edge) or abs(avg - edge) > 1e-6 * max(1.0, abs(avg)), (name, host, start)
    scores = offline_scores(data)
    spike = next(s for s in scores[SPIKE[0]] if s[0] == T0 + SPIKE[2] * STEP_MS and s[1] == SPIKE[3])
    assert spike[6] is True


def window_rows(records) -> dict[tuple[str, int], dict]:
    got = {}
    for v in values(records):
        key = (v["hostname"], ts_ms(v["window_start"]))
        assert key not in got, f"window reported twice: {key}"
        assert ts_ms(v["window_end"]) == key[1] + WINDOW_MS and ts_ms(v["window_time"]) == key[1] + WINDOW_MS - 1
        assert v["is_anomaly"] is True
        got[key] = v
    return got


def assert_same_windows(got: dict, want: dict, rel: float) -> None:
    def name(keys) -> list[str]:
        return [f"{host}@w{(start - T0) // WINDOW_MS}" for host, start in sorted(keys)]

    missing, extra = set(want) - set(got), set(got) - set(want)
    assert not missing and not extra, f"SQL form missed {name(missing)}, added {name(extra)}"
    for key, w in want.items():
        g = got[key]
        for col in ("usage_avg", "expected", "lower", "upper", "score"):
            assert close(g[col], finite(w[col]), rel), (key, col, g[col], w[col])


@slow
def test_mean_variance_in_sql_finds_what_the_python_detector_finds(anomalies_run):
    want = offline_window_anomalies("usage_out_of_band", anomalies_run.data)
    assert_same_windows(anomalies_run.rows("usage_band_alerts", BASE), want, rel=1e-6)


@slow
def test_percentage_change_in_sql_finds_what_the_python_detector_finds(anomalies_run):
    want = offline_window_anomalies("usage_jump", anomalies_run.data)
    assert_same_windows(anomalies_run.rows("usage_jump_alerts", BASE), want, rel=1e-9)


def assert_scores_like_offline(records, everything: list[Event]) -> dict[str, list[tuple]]:
    """Every reading comes back once per key, in the key's order, judged like ScoreDetector offline."""
    got: dict[str, list[tuple]] = defaultdict(list)
    deleted: set[str] = set()
    for r in records:
        host = json.loads(r.key)["hostname"]
        v = r.value
        if v is None:
            # Flink derives no upsert key through a Python group aggregate, so the sink asks for
            # UPDATE_BEFORE, which upsert-kafka writes as a tombstone: each update is a delete
            # then the new value. The key must never be left deleted.
            assert host in got and host not in deleted, f"tombstone for {host} out of place"
            deleted.add(host)
            continue
        deleted.discard(host)
        assert v["hostname"] == host
        got[host].append((ts_ms(v["ts"]), v["value"], v["expected"], v["lower"], v["upper"], v["score"],
                          v["is_anomaly"]))
    assert not deleted, f"keys left deleted: {deleted}"
    want = offline_scores(everything)
    assert sorted(got) == sorted(want)
    for host, rows in want.items():
        assert len(got[host]) == len(rows), host
        for i, (g, w) in enumerate(zip(got[host], rows, strict=True)):
            assert g[:2] == w[:2] and g[6] == w[6], (host, i, g, w)
            assert all(close(a, b, 1e-12) for a, b in zip(g[2:6], w[2:6], strict=True)), (host, i, g, w)
    return got


@slow
def test_score_udaf_writes_every_reading_back_in_key_order_like_the_offline_detector(anomalies_run):
    got = assert_scores_like_offline(anomalies_run.out.records["cpu_scored"], anomalies_run.everything)
    spike = [g for g in got[SPIKE[0]] if g[0] == T0 + SPIKE[2] * STEP_MS and g[1] == SPIKE[3]]
    assert len(spike) == 1 and spike[0][6] is True


# ---------------------------------------------------------------------------- missing values
# A reading without `usage` (the JSON format reads a missing field as NULL) makes a 10 s window
# whose average is NULL when all its readings lack it. The Python detectors skip missing points
# entirely: they neither judge them nor count them in a window or as a baseline.

MISSING_WINDOWS = 20
MV_VALUES = [50, 52, None, 49, 51, 50, 48, 52, 50, 49, 51, 50, 52, 80, 50, 49, 51, 50, 52, 95]
PC_VALUES = [40, 41, 39, 40, 42, 41, 40, 39, None, 80, 40, 41, 39, 40, 42, 41, 40, 39, 41, 90]
GAP_HOSTS = {"dopey": MV_VALUES, "sneezy": PC_VALUES}  # a gap in w2 (mean_variance) and in w8 (change)


def readings_with_gaps() -> list[Event]:
    """One reading per 10 s window and host; a None usage is sent as a reading without `usage`."""
    out = []
    for w in range(MISSING_WINDOWS):
        ts = T0 + w * WINDOW_MS + 1_000
        for host, series in GAP_HOSTS.items():
            value = {"hostname": host, "cpu": "cpu1", "occurred_at": ts}
            if series[w] is not None:
                value["usage"] = float(series[w])
            out.append(Event(host, value, ts))
    return out


def test_the_gaps_change_what_the_python_detectors_judge():
    data = [Event(e.key, {**e.value, "usage": e.value.get("usage")}, e.timestamp_ms) for e in readings_with_gaps()]
    band = offline_window_anomalies("usage_out_of_band", data)
    jump = offline_window_anomalies("usage_jump", data)
    last = T0 + (MISSING_WINDOWS - 1) * WINDOW_MS
    assert ("dopey", T0 + 13 * WINDOW_MS) in band and ("dopey", last) in band  # 12 present points before w13
    assert ("sneezy", T0 + 9 * WINDOW_MS) in jump and ("sneezy", last) in jump  # baseline: w7, the last present


@slow
def test_mean_variance_in_sql_skips_missing_values_like_the_python_detector(anomalies_run):
    want = offline_window_anomalies("usage_out_of_band", anomalies_run.gaps)
    assert_same_windows(anomalies_run.rows("usage_band_alerts", GAP_HOSTS), want, rel=1e-6)


@slow
def test_percentage_change_in_sql_skips_missing_values_like_the_python_detector(anomalies_run):
    want = offline_window_anomalies("usage_jump", anomalies_run.gaps)
    assert_same_windows(anomalies_run.rows("usage_jump_alerts", GAP_HOSTS), want, rel=1e-9)


@slow
def test_score_udaf_passes_missing_values_through_unjudged(anomalies_run):
    got = assert_scores_like_offline(anomalies_run.out.records["cpu_scored"], anomalies_run.everything)
    gap = [g for g in got["dopey"] if g[0] == T0 + 2 * WINDOW_MS + 1_000]
    assert gap == [(T0 + 2 * WINDOW_MS + 1_000, None, None, None, None, None, False)]
