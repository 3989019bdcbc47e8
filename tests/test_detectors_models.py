"""Model detectors (holt_winters, ewma, score): behaviour on synthetic series, state round-trips."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from flinksql_gen.detectors import REGISTRY, build_detector, restore_detector

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def five_min(n):
    return [START + timedelta(minutes=5 * i) for i in range(n)]


def anomalies(results, after=0):
    return [i for i, r in enumerate(results) if r.is_anomaly and i >= after]


def seasonal(n, rng, noise=1.0):
    t = np.arange(n)
    return 100 + 30 * np.sin(2 * np.pi * t / 288) + rng.normal(0, noise, n)


def test_holt_winters_learns_the_season_and_flags_a_spike():
    rng = np.random.default_rng(1)
    values = seasonal(288 * 5, rng)
    values[288 * 4 + 100] += 15
    det = build_detector({"type": "holt_winters", "period": "daily", "sensitivity": 0})  # z = 3
    rs = det.run(list(zip(five_min(len(values)), values, strict=True)))
    flagged = anomalies(rs, after=288 * 3)
    assert 288 * 4 + 100 in flagged
    assert len(flagged) <= 6  # z = 3 over 2 days of points: a handful at most
    ok = [r for r in rs[288 * 3 :] if not math.isnan(r.expected)]
    assert np.mean([abs(r.expected - v) for r, v in zip(ok, values[288 * 3 :], strict=True)]) < 2.0


def test_holt_winters_given_parameters_and_period_in_points():
    values = [10.0, 20.0, 30.0] * 20
    det = build_detector({"type": "holt_winters", "period": 3, "alpha": 0.5, "beta": 0.0, "gamma": 0.3})
    rs = det.run(values)
    assert rs[-1].expected == pytest.approx(30.0, abs=1e-6)
    assert not anomalies(rs)


def test_score_flags_spike_and_stops_after_level_shift():
    rng = np.random.default_rng(7)
    values = rng.normal(50, 2, 1500)
    values[600] += 20  # spike (10 sd)
    values[1000:] += 15  # level shift
    rs = build_detector({"type": "score"}).run(list(zip(five_min(1500), values, strict=True)))
    flagged = anomalies(rs)
    assert 600 in flagged and any(1000 <= i <= 1005 for i in flagged)
    assert not [i for i in flagged if i < 600 or 612 < i < 1000]
    assert not [i for i in flagged if i > 1030]  # re-adapted to the new level
    assert all(0.0 <= r.score <= 1.0 for r in rs if not math.isnan(r.score))


def test_score_quiet_on_clean_seasonal_noise_and_random_walk():
    rng = np.random.default_rng(11)
    values = seasonal(288 * 6, rng, noise=2.0)
    rs = build_detector({"type": "score"}).run(list(zip(five_min(len(values)), values, strict=True)))
    assert len(anomalies(rs)) <= 1
    walk = 100 + np.cumsum(rng.normal(0, 1, 3000))
    rs = build_detector({"type": "score"}).run(list(walk))
    assert len(anomalies(rs)) <= 1


def test_score_uses_seasonality_to_catch_an_off_pattern_value():
    rng = np.random.default_rng(5)
    values = seasonal(288 * 6, rng, noise=1.0)
    i = 288 * 5 + 72  # the daily peak (value ~130)
    values[i] = 100.0  # a normal level for the day, but not for this time of day
    # seasonality is opt-in since the level x change x forecast score (it used to be 'auto')
    rs = build_detector({"type": "score", "seasonality": "daily"}).run(list(zip(five_min(len(values)), values, strict=True)))
    assert i in anomalies(rs)


def test_windowed_gaussian_matches_a_rolling_numpy_window():
    rng = np.random.default_rng(4)
    values = rng.normal(10, 1, 400)
    values[350] = 30.0
    rs = build_detector({"type": "windowed_gaussian", "window": 100}).run(list(values))
    for i in (150, 350):
        past = values[i - 100 : i]
        z = abs(values[i] - past.mean()) / past.std()
        assert rs[i].score == pytest.approx(1 - math.erfc(z / math.sqrt(2)), abs=1e-9)
    assert [i for i in anomalies(rs) if i >= 100] == [350]  # (the first points see a near-zero std)


def test_score_step_from_constant():
    values = [5.0] * 200 + [6.0] * 50
    rs = build_detector({"type": "score"}).run(values)
    assert anomalies(rs)[0] == 200


def test_missing_values_are_skipped():
    for name in set(REGISTRY) - {"model_service"}:  # (judged by a service: tests/test_model_service.py)
        spec = {"type": name, "max": 1} if name == "threshold" else {"type": name, "threshold": 0.5} if "change" in name else {"type": name}
        r = build_detector(spec).update(0, None)
        assert not r.is_anomaly and math.isnan(r.score)


SPECS = [
    {"type": "threshold", "min": 0, "max": 120},
    {"type": "percentage_change", "threshold": 0.1, "offset": 3},
    {"type": "absolute_change", "threshold": 5, "offset": "1h"},
    {"type": "mean_variance", "lookback": 12, "seasonality": "daily"},
    {"type": "mean_variance", "lookback": 6, "seasonality": 4},
    {"type": "ewma", "span": 10},
    {"type": "holt_winters", "period": "daily"},
    {"type": "holt_winters", "period": 12, "alpha": 0.3, "beta": 0.01, "gamma": 0.2},
    {"type": "score"},
    {"type": "score", "seasonality": 24, "pattern": "up"},
    {"type": "score", "seasonality": "daily", "hold": 0},
    {"type": "windowed_gaussian", "window": 300},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["type"])
def test_state_round_trip_through_json_continues_identically(spec):
    rng = np.random.default_rng(2)
    values = seasonal(900, rng, noise=3.0)
    values[700] += 40
    points = list(zip(five_min(900), values, strict=True))
    straight = build_detector(spec).run(points)
    det = build_detector(spec)
    first = det.run(points[:500])
    state = json.loads(json.dumps(det.state_dict()))  # what a Flink accumulator would store
    resumed = restore_detector(spec, state).run(points[500:])
    assert [r.to_dict() for r in first + resumed] == [r.to_dict() for r in straight]
    assert len(json.dumps(state)) < 200_000


def test_run_accepts_pandas_and_pairs():
    import pandas as pd

    s = pd.Series([1.0, 2.0, 50.0], index=pd.date_range("2024-01-01", periods=3, freq="5min"))
    spec = {"type": "threshold", "max": 10}
    assert [r.is_anomaly for r in build_detector(spec).run(s)] == [False, False, True]
    df = pd.DataFrame({"timestamp": s.index, "value": s.values})
    assert [r.is_anomaly for r in build_detector(spec).run(df)] == [False, False, True]


def test_score_counts_surprise_per_hour_of_data():
    """A 1-minute series is judged per hour of data: its raw surprise is log10(60) below the same
    series on hourly timestamps; point indices get no correction; the learned step survives a
    state round trip."""
    from flinksql_gen.detectors.score import rate_penalty

    assert rate_penalty(60.0) == pytest.approx(math.log10(60)) and rate_penalty(3600.0) == 0.0
    assert rate_penalty(None) == 0.0
    rng = np.random.default_rng(3)
    values = rng.normal(10, 1, 400)
    values[300] += 8
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    minutes = [start + timedelta(minutes=i) for i in range(400)]
    hours = [start + timedelta(hours=i) for i in range(400)]
    by_minute = build_detector({"type": "score"}).run(list(zip(minutes, values, strict=True)))
    by_hour = build_detector({"type": "score"}).run(list(zip(hours, values, strict=True)))
    by_index = build_detector({"type": "score"}).run(list(zip(range(400), values, strict=True)))
    # same data, same model: only the per-hour correction differs (score = s / (s + 5))
    surprise = [5 * r.score / (1 - r.score) if 0 < r.score < 1 else None for r in (by_minute[300], by_hour[300])]
    assert surprise[1] - surprise[0] == pytest.approx(math.log10(60), abs=1e-6)
    assert by_index[300].score == pytest.approx(by_hour[300].score)
    detector = build_detector({"type": "score"})
    for t, v in zip(minutes[:50], values[:50], strict=True):
        detector.update(t, v)
    restored = restore_detector({"type": "score"}, json.loads(json.dumps(detector.state_dict())))
    assert [restored.update(t, v).score for t, v in zip(minutes[50:80], values[50:80], strict=True)] == [
        detector.update(t, v).score for t, v in zip(minutes[50:80], values[50:80], strict=True)]
