"""Rule detectors (the SQL-expressible ones) on series with known answers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from flinksql_gen.detectors import build_detector
from flinksql_gen.detectors.base import holt_winters_zscore, mean_variance_sigma


def flags(spec, values, timestamps=None):
    det = build_detector(spec)
    ts = timestamps if timestamps is not None else range(len(values))
    return [r.is_anomaly for r in (det.update(t, v) for t, v in zip(ts, values, strict=True))]


def test_threshold_strict_and_inclusive():
    values = [5, 10, 11, 0, -1]
    assert flags({"type": "threshold", "min": 0, "max": 10}, values) == [False, False, True, False, True]
    assert flags({"type": "threshold", "min": 0, "max": 10, "inclusive": True}, values) == [False, True, True, True, True]
    assert flags({"type": "threshold", "max": 10}, values) == [False, False, True, False, False]
    r = build_detector({"type": "threshold", "max": 10}).update(0, 12)
    assert r.expected == 10 and r.upper == 10 and r.lower == -math.inf and r.score == pytest.approx(1.2)


def test_percentage_change_previous_point_and_direction():
    values = [100, 110, 130, 90, 91]
    # baseline = previous value; 15 % band: 110 vs 100 ok, 130 vs 110 (+18 %) up, 90 vs 130 (-31 %) down
    assert flags({"type": "percentage_change", "threshold": 0.15}, values) == [False, False, True, True, False]
    assert flags({"type": "percentage_change", "threshold": 0.15, "pattern": "up"}, values) == [False, False, True, False, False]
    assert flags({"type": "percentage_change", "threshold": 0.15, "pattern": "down"}, values) == [False, False, False, True, False]
    det = build_detector({"type": "percentage_change", "threshold": 0.1, "offset": 2})
    rs = det.run([100, 50, 105, 50, 200])
    assert [r.is_anomaly for r in rs] == [False, False, False, False, True]
    assert (rs[2].expected, rs[2].lower, rs[2].upper) == (100, 90, 110)


def test_change_with_duration_offset_uses_same_time_a_week_ago():
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ts = [start + timedelta(days=d) for d in range(15)]
    values = [10.0] * 7 + [10.5] * 7 + [20.0]  # day 14 compares with day 7 (10.5)
    det = build_detector({"type": "absolute_change", "threshold": 1.0, "offset": "7d"})
    rs = det.run(list(zip(ts, values, strict=True)))
    assert [r.is_anomaly for r in rs] == [False] * 14 + [True]
    assert math.isnan(rs[6].expected) and rs[7].expected == 10.0 and rs[14].expected == 10.5


def test_mean_variance_exact_semantics():
    rng = np.random.default_rng(3)
    values = list(rng.normal(50, 5, 200))
    values[150] = 90.0
    lookback = 20
    det = build_detector({"type": "mean_variance", "lookback": lookback, "sensitivity": 5})
    rs = det.run(values)
    for i in range(200):
        if i < lookback:
            assert math.isnan(rs[i].expected)
            continue
        window = np.array(values[i - lookback : i])  # the current point is NOT in the window
        mean, std = window.mean(), window.std(ddof=1)  # sample std, like STDDEV_SAMP
        k = mean_variance_sigma(5)
        assert rs[i].expected == pytest.approx(mean)
        assert rs[i].upper == pytest.approx(mean + k * std)
        assert rs[i].is_anomaly == (abs(values[i] - mean) > k * std)
    assert rs[150].is_anomaly


def test_mean_variance_sensitivity_mapping_and_sides():
    assert mean_variance_sigma(5) == pytest.approx(1.0)
    assert mean_variance_sigma(0) == pytest.approx(1.5)
    assert mean_variance_sigma(10) == pytest.approx(0.5)
    assert holt_winters_zscore(5) == pytest.approx(2.0)
    values = [10, 12, 10, 12, 10, 12, 10, 12, 14]  # window mean 11, sample std ~1.069
    det = build_detector({"type": "mean_variance", "lookback": 8, "upper_sensitivity": 0, "lower_sensitivity": 10})
    r = det.run(values)[-1]
    std = np.std([10, 12] * 4, ddof=1)
    assert r.upper == pytest.approx(11 + 1.5 * std) and r.lower == pytest.approx(11 - 0.5 * std)
    assert r.is_anomaly  # 14 > 11 + 1.6
    det = build_detector({"type": "mean_variance", "lookback": 8, "multiplier": 3})
    assert not det.run(values)[-1].is_anomaly


def test_mean_variance_min_points_and_constant_window():
    det = build_detector({"type": "mean_variance", "lookback": 10, "min_points": 3})
    rs = det.run([5, 5, 5, 5, 6])
    assert [r.is_anomaly for r in rs] == [False, False, False, False, True]  # std 0: any change is strict > 0
    assert math.isnan(rs[2].expected) and rs[3].expected == 5


def test_mean_variance_daily_seasonality_compares_same_time_of_day():
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rng = np.random.default_rng(0)
    ts, values = [], []
    for day in range(8):
        for hour in range(24):
            ts.append(start + timedelta(days=day, hours=hour))
            values.append(100.0 + 50 * (hour >= 12) + rng.uniform(-1, 1))  # strong day pattern, tiny noise
    values[-1] = 100.0  # 23:00 on day 7 looks like a morning value: anomalous at that time of day
    spec = {"type": "mean_variance", "lookback": 5, "seasonality": "daily", "multiplier": 4}
    rs = build_detector(spec).run(list(zip(ts, values, strict=True)))
    assert rs[-1].is_anomaly and rs[-1].expected == pytest.approx(np.mean(values[-1 - 5 * 24 :: 24][:5]))
    assert not any(r.is_anomaly for r in rs[:-1])
    # without seasonality the afternoon jump is flagged every day
    assert any(r.is_anomaly for r in build_detector({"type": "mean_variance", "lookback": 5, "multiplier": 4}).run(values))


def test_mean_variance_period_in_points():
    values = [1.0, 9.0] * 10 + [9.0]  # alternate; the last point should have been 1
    rs = build_detector({"type": "mean_variance", "lookback": 4, "seasonality": 2}).run(values)
    assert [i for i, r in enumerate(rs) if r.is_anomaly] == [20]


def test_ewma_recursion():
    det = build_detector({"type": "ewma", "alpha": 0.5, "k": 2, "min_points": 2})
    rs = det.run([10.0, 12.0, 11.0, 30.0])
    # after 10, 12: mean 11, var = 0.5 * (0 + 0.5 * 4) = 1
    assert rs[2].expected == pytest.approx(11.0) and rs[2].upper == pytest.approx(13.0)
    assert not rs[2].is_anomaly and rs[3].is_anomaly


def test_sql_expressible_flags():
    from flinksql_gen.detectors import REGISTRY

    assert {n for n, c in REGISTRY.items() if c.sql_expressible} == {
        "threshold",
        "percentage_change",
        "absolute_change",
        "mean_variance",
    }


def test_sql_form_narrowed_by_config():
    from flinksql_gen.detectors import REGISTRY, parse_detector_config

    mv = REGISTRY["mean_variance"]
    assert mv.sql_form_available(parse_detector_config({"type": "mean_variance", "seasonality": "weekly"}))
    assert not mv.sql_form_available(parse_detector_config({"type": "mean_variance", "seasonality": 24}))
    assert not REGISTRY["score"].sql_form_available(parse_detector_config({"type": "score"}))


def test_detectors_give_their_sql_band_through_the_registry():
    from flinksql_gen.detectors.config import parse_detector_config
    from flinksql_gen.detectors.registry import sql_band
    from flinksql_gen.detectors.sql import SqlBand, SqlRow

    row = SqlRow("CAST(`v` AS DOUBLE)", "`v`", ("`host`",), "`ts`", "`ts`")
    for spec in ({"type": "score"}, {"type": "mean_variance", "seasonality": 24},
                 {"type": "threshold", "max": 1, "postprocess": {"merge_gap": "1min"}}):
        assert sql_band(parse_detector_config(spec), row) is None, spec
    threshold = sql_band(parse_detector_config({"type": "threshold", "max": 2}), row)
    assert threshold == SqlBand("LEAST(CAST(`v` AS DOUBLE), 2.0)", "CAST(NULL AS DOUBLE)", "2.0",
                                anomaly="(CAST(`v` AS DOUBLE) > 2.0)", score=threshold.score)
    # its own score (1 + the overshoot relative to the bound), not the generic distance to the edge
    assert threshold.score.endswith("ELSE 1.0 + ABS(CAST(`v` AS DOUBLE) - LEAST(CAST(`v` AS DOUBLE), 2.0)) / "
                                    "GREATEST(ABS(LEAST(CAST(`v` AS DOUBLE), 2.0)), 1e-12) END")
    lagged = sql_band(parse_detector_config({"type": "absolute_change", "threshold": 3, "offset": 2}), row)
    assert lagged.offset is None and lagged.helpers[0].startswith("LAG(CAST(`v` AS DOUBLE), 2) OVER (PARTITION BY")
    daily = sql_band(parse_detector_config({"type": "percentage_change", "threshold": 0.5, "offset": "1d"}), row)
    assert daily.offset == "INTERVAL '1' DAY" and daily.upper == "`baseline` + 0.5 * ABS(`baseline`)"
    keyed = SqlRow(row.value, row.value_column, row.keys, row.order, row.stamp, {"k_upper": "`__k_upper`"})
    mv = sql_band(parse_detector_config({"type": "mean_variance", "lookback": 4}), keyed)
    assert len(mv.helpers) == 3 and "`__k_upper`" in mv.upper and "`__k_upper`" not in mv.lower
    assert mv.ready == "`mv_n` >= 4"
