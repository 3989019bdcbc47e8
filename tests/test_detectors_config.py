"""Registry, strict configs and post-processing."""

from __future__ import annotations

import pytest

from flinksql_gen.detectors import (
    REGISTRY,
    AnomalyTracker,
    MeanVarianceConfig,
    Result,
    build_detector,
    detector_types,
    merge_anomalies,
    parse_detector_config,
)
from flinksql_gen.errors import DefinitionError


def test_registry_and_typed_configs():
    assert detector_types() == sorted(
        ["threshold", "percentage_change", "absolute_change", "mean_variance", "ewma", "holt_winters", "score",
             "windowed_gaussian", "model_service"]
    )
    cfg = parse_detector_config({"type": "mean_variance", "lookback": 12, "sensitivity": 5})
    assert isinstance(cfg, MeanVarianceConfig) and cfg.lookback == 12
    assert type(build_detector(cfg)) is REGISTRY["mean_variance"]


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        ({"type": "mean_variance", "lookbak": 12}, "lookbak", "Extra inputs"),
        ({"type": "nope"}, "", "unknown or missing detector type 'nope'"),
        ({"lookback": 3}, "", "unknown or missing detector type"),
        ({"type": "threshold"}, "", "at least one of min and max"),
        ({"type": "percentage_change"}, "threshold", "Field required"),
        ({"type": "mean_variance", "lookback": 5, "min_points": 9}, "", "cannot exceed lookback"),
        ({"type": "absolute_change", "threshold": 1, "offset": "7 weeks"}, "offset", "not a duration"),
        ({"type": "score", "postprocess": {"merge_gap": "soon"}}, "postprocess.merge_gap", "not a duration"),
    ],
)
def test_config_errors_name_the_key(spec, path, fragment):
    with pytest.raises(DefinitionError) as err:
        parse_detector_config(spec, "defs/cpu.yaml")
    problems = err.value.problems
    assert any(p.path == path and fragment in p.message for p in problems), [str(p) for p in problems]
    assert str(err.value).startswith("defs/cpu.yaml")


def r(flag: bool, score: float = 1.0) -> Result:
    return Result(score, 0.0, 0.0, 0.0, flag)


def test_tracker_merges_gaps_and_requires_duration():
    tracker = AnomalyTracker({"merge_gap": "10min", "min_duration": "5min"})
    t0 = 1_700_000_000
    kinds = []
    for i, flag in enumerate([1, 0, 1, 0, 0, 0, 1, 0, 0, 0]):  # 5-minute points
        kinds += [(i, e.kind) for e in tracker.update(t0 + 300 * i, r(bool(flag)))]
    # points 0 and 2 merge (10 min apart) and last 10 min >= 5 min: open at 2; point 6 is 20 min
    # later: the first closes when point 5 arrives (15 min > gap); the lone point 6 never lasts 5 min
    assert kinds == [(2, "open"), (5, "close")]
    assert tracker.flush() == []


def test_tracker_renotifies_only_when_severity_grows():
    tracker = AnomalyTracker({"merge_gap": 1, "renotify_growth": 0.5})
    events = []
    for i, score in enumerate([1.0, 1.2, 1.6, 1.7, 2.5]):
        events += [(i, e.kind, e.anomaly.peak) for e in tracker.update(i, r(True, score))]
    assert events == [(0, "open", 1.0), (2, "escalate", 1.6), (4, "escalate", 2.5)]
    state = tracker.state_dict()
    again = AnomalyTracker({"merge_gap": 1, "renotify_growth": 0.5})
    again.load_state(state)
    assert [e.kind for e in again.flush()] == ["close"]


def test_merge_anomalies_offline():
    flags = [0, 1, 1, 0, 0, 0, 0, 1, 0]
    out = merge_anomalies(list(range(9)), [r(bool(f)) for f in flags], {"merge_gap": 1})
    assert [(a.start, a.end, a.points) for a in out] == [(1, 2, 2), (7, 7, 1)]


def test_every_config_type_has_a_registered_detector():
    from flinksql_gen.detectors.config import config_types

    assert config_types() == detector_types()
