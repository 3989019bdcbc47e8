"""Every pure-SQL detector form runs on Aiven's Flink (1.20) with the Python detector's judgements.

tests/data/aiven/aiven_detectors.yaml holds threshold, mean_variance (plain, and with daily and
weekly seasonality on hourly averages), percentage_change (1 point back) and absolute_change (30 s
back: the interval self-join form). Its Aiven bodies run on the Flink 1.20 process, one job per
application; expected rows come from flinksql_gen.detectors run offline over the same series.

Input: the 2 s readings of test_e2e_cpu_anomalies (steady hosts with noise, a spike, a burst, a
drop, and two hosts with missing values), plus two hosts with one reading an hour
on a daily curve for three weeks, one with rises at 09:00 on days 4 and 17, one with drops at
15:00 on days 5 and 20 (the weekly detector judges from the third week on).
"""

from __future__ import annotations

import functools
import math
import random
from collections import defaultdict
from pathlib import Path

import pytest
import test_e2e_cpu_anomalies as mv
import yaml
from aiven120_helpers import prepare_aiven, run_aiven_and_collect
from e2e_helpers import Event, close, produce, trailer_keys, ts_ms, values

from flinksql_gen.detectors import build_detector, detector_class

YAML = Path(__file__).parent / "data" / "aiven" / "aiven_detectors.yaml"
HOUR_MS, DAYS = 3_600_000, 21
H0 = mv.T0 - mv.T0 % HOUR_MS + HOUR_MS  # the first full hour after the 2 s readings
# host -> [(day, hour, added)], None = a drop to 5; days 14-20 are the third week (weekly lookback 2)
HOURLY = {"happy": [(4, 9, +20.0), (17, 9, +20.0)], "ghost": [(5, 15, None), (20, 15, None)]}
# detector -> (sink table, metric window in ms, relative tolerance: sums in SQL, two passes in Python)
DETECTORS = {
    "usage_over_60": ("threshold_alerts", 10_000, 1e-9),
    "usage_out_of_band": ("band_alerts", 10_000, 1e-6),
    "usage_out_of_season": ("season_alerts", HOUR_MS, 1e-6),
    "usage_out_of_week": ("week_alerts", HOUR_MS, 1e-6),
    "usage_jump": ("jump_alerts", 10_000, 1e-9),
    "usage_step_30s": ("step_alerts", 10_000, 1e-9),
}


def hourly_readings() -> list[Event]:
    rng = random.Random(11)
    out = []
    for d in range(DAYS):
        for h in range(24):
            ts = H0 + (d * 24 + h) * HOUR_MS + 60_000
            for host, injected in HOURLY.items():
                usage = 40.0 + 15.0 * math.sin(2 * math.pi * h / 24) + rng.gauss(0, 1.5)  # unrounded: no ties
                for day, hour, added in injected:
                    if (d, h) == (day, hour):
                        usage = 5.0 if added is None else usage + added
                out.append(Event(host, {"hostname": host, "cpu": "cpu1", "usage": usage, "occurred_at": ts}, ts))
    return out


def everything() -> list[Event]:
    gaps = [Event(e.key, {**e.value, "usage": e.value.get("usage")}, e.timestamp_ms) for e in mv.readings_with_gaps()]
    return sorted(mv.readings() + gaps + hourly_readings(), key=lambda e: e.timestamp_ms)  # stable


@functools.cache
def spec(name: str) -> tuple:
    d = yaml.safe_load(YAML.read_text())["detectors"][name]
    fields = detector_class(d["type"]).config_model.model_fields
    return tuple((k, v) for k, v in d.items() if k in fields)


def series(data: list[Event], window_ms: int) -> dict[str, list[tuple[int, float | None]]]:
    """host -> [(window_start, AVG(usage))], None where every reading lacks a usage."""
    sums: dict[tuple[str, int], list[float | None]] = defaultdict(list)
    for e in data:
        sums[(e.key, e.timestamp_ms - e.timestamp_ms % window_ms)].append(e.value.get("usage"))
    out: dict[str, list[tuple[int, float | None]]] = defaultdict(list)
    for (host, start), xs in sorted(sums.items()):
        present = [x for x in xs if x is not None]
        total = 0.0
        for x in present:
            total += x
        out[host].append((start, total / len(present) if present else None))
    return out


def offline(name: str, data: list[Event]) -> dict[tuple[str, int], dict]:
    _, window_ms, _ = DETECTORS[name]
    found = {}
    for host, points in series(data, window_ms).items():
        det = build_detector(dict(spec(name)))
        for start, avg in points:
            r = det.update(start, avg)
            if r.is_anomaly:
                found[(host, start)] = {"usage_avg": avg, "expected": r.expected, "lower": r.lower, "upper": r.upper,
                                        "score": r.score}
    return found


def test_the_design_gives_every_detector_something_to_find_and_nothing_on_an_edge():
    data = everything()
    for name, (_, window_ms, _) in DETECTORS.items():
        assert offline(name, data), f"{name} finds nothing in the design"
        pattern = dict(spec(name)).get("pattern", "both")  # only the judged bounds matter
        for host, points in series(data, window_ms).items():
            det = build_detector(dict(spec(name)))
            for start, avg in points:
                r = det.update(start, avg)
                # a zero std (equal values in the window) is inf in Python's two passes, but the SQL
                # form's one-pass sums may leave a tiny non-zero one: floating point, on any version
                assert not (r.upper == r.lower and dict(spec(name))["type"] == "mean_variance"), (name, host, start)
                for edge in {"up": (r.upper,), "down": (r.lower,)}.get(pattern, (r.lower, r.upper)):
                    assert avg is None or math.isnan(edge) or abs(avg - edge) > 1e-6 * max(1.0, abs(avg)), (
                        name, host, start)
    season, week = offline("usage_out_of_season", data), offline("usage_out_of_week", data)
    for host, injected in HOURLY.items():
        for day, hour, _ in injected:
            assert (host, H0 + (day * 24 + hour) * HOUR_MS) in season
            assert ((host, H0 + (day * 24 + hour) * HOUR_MS) in week) == (day >= 14)
    assert {h for h, _ in season} == {h for h, _ in week} == set(HOURLY)  # the 2 s hosts: one hourly point


@pytest.fixture(scope="module")
def detectors_120(stack, stack_env_vars, flink120, tmp_path_factory):
    prepared = prepare_aiven(stack, stack_env_vars, YAML.name, tmp_path_factory.mktemp("aiven120_detectors"),
                             folder=YAML.parent)
    data = everything()
    last = data[-1].timestamp_ms + 2 * HOUR_MS
    trailers = [Event(k, {"hostname": k, "cpu": "cpu1", "usage": 50.0, "occurred_at": last}, last)
                for k in trailer_keys("trailer-", prepared.partitions)]
    produce(stack, prepared.sources["cpu_load"], data + trailers)
    expected = {sink: len(offline(name, data)) for name, (sink, _, _) in DETECTORS.items()}
    out = run_aiven_and_collect(prepared, flink120, stack.bootstrap, expected)
    assert out.complete, f"sinks stopped short of the expected rows after {out.seconds:.0f} s"
    return data, out


def rows(records, window_ms: int) -> dict[tuple[str, int], dict]:
    got = {}
    for v in values(records):
        key = (v["hostname"], ts_ms(v["window_start"]))
        assert key[0] is not None and not key[0].startswith("trailer-")
        assert key not in got, f"window reported twice: {key}"
        assert ts_ms(v["window_end"]) == key[1] + window_ms and v["is_anomaly"] is True
        got[key] = v
    return got


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DETECTORS))
def test_the_sql_form_on_flink_1_20_judges_like_the_python_detector(detectors_120, name):
    data, out = detectors_120
    sink, window_ms, rel = DETECTORS[name]
    got, want = rows(out.records[sink], window_ms), offline(name, data)
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, f"{name}: SQL on 1.20 missed {missing}, added {extra}"
    # the threshold's score too: 1 + the overshoot relative to the bound, as the Python form
    # (SqlBand.score; the generic distance-to-the-edge ratio was NULL past a threshold's bound)
    columns = ("usage_avg", "expected", "lower", "upper", "score")
    for key, w in want.items():
        for col in columns:
            assert close(got[key][col], mv.finite(w[col]), rel), (name, key, col, got[key][col], w[col])
