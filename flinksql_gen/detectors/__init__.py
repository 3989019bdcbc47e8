"""Anomaly detectors: one implementation each, incremental per key, serialisable state.

    det = build_detector({"type": "mean_variance", "lookback": 12, "sensitivity": 5})
    r = det.update(ts, value)          # Result(score, expected, lower, upper, is_anomaly)
    state = det.state_dict()           # small JSON-compatible dict (Flink accumulator / keyed state)
    det2 = restore_detector(spec, state)
    results = build_detector(spec).run(series)   # offline: same code, looped

SQL-expressible detectors (class attribute `sql_expressible`, narrowed per config by
`sql_form_available(config)`) write their SQL themselves (`sql_band`, see detectors.sql) and
document its exact semantics in their module docstring:
threshold (strict > / <, or >= / <= with inclusive), percentage_change / absolute_change
(LAG(value, offset) baseline; duration offsets = the value at exactly t - offset),
mean_variance (window = ROWS BETWEEN lookback PRECEDING AND 1 PRECEDING, AVG and STDDEV_SAMP,
strict comparison, COUNT >= min_points; daily/weekly phase = epoch seconds mod 86400/604800).
Missing values (None/NaN) are skipped entirely: they neither count in a window nor get judged.
"""

from flinksql_gen.detectors.base import Detector, Result, to_seconds
from flinksql_gen.detectors.config import (
    AbsoluteChangeConfig,
    DetectorConfig,
    EwmaConfig,
    HoltWintersConfig,
    MeanVarianceConfig,
    PercentageChangeConfig,
    PostProcessConfig,
    ScoreConfig,
    ThresholdConfig,
    parse_detector_config,
)
from flinksql_gen.detectors.postprocess import Anomaly, AnomalyTracker, Event, merge_anomalies
from flinksql_gen.detectors.registry import (
    REGISTRY,
    build_detector,
    detector_class,
    detector_types,
    restore_detector,
)

__all__ = [
    "REGISTRY",
    "AbsoluteChangeConfig",
    "Anomaly",
    "AnomalyTracker",
    "Detector",
    "DetectorConfig",
    "Event",
    "EwmaConfig",
    "HoltWintersConfig",
    "MeanVarianceConfig",
    "PercentageChangeConfig",
    "PostProcessConfig",
    "Result",
    "ScoreConfig",
    "ThresholdConfig",
    "build_detector",
    "detector_class",
    "detector_types",
    "merge_anomalies",
    "parse_detector_config",
    "restore_detector",
    "to_seconds",
]
