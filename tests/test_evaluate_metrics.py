"""Evaluation metrics on tiny hand-made cases, RCA evaluation, generator determinism."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from flinksql_gen.errors import DefinitionError
from flinksql_gen.evaluate.generate import make_series, write_rca_benchmark
from flinksql_gen.evaluate.metrics import evaluate
from flinksql_gen.evaluate.rca_eval import evaluate_rca


def write_series(path: Path, values: list[float]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        for i, v in enumerate(values):
            w.writerow([f"2024-01-01 {i // 12:02d}:{(i % 12) * 5:02d}:00", v])


def ts(i: int) -> str:
    return f"2024-01-01 {i // 12:02d}:{(i % 12) * 5:02d}:00"


def test_window_precision_recall_delay_and_false_positives(tmp_path):
    d = tmp_path / "series"
    d.mkdir()
    # 48 points (4 h). Threshold max=10: flagged at 10-11 (one event, inside window 1 which starts
    # at 9 -> delay 5 min), 30 (false), 40 (inside window 2 at 40..44, delay 0); window 3 missed.
    values = [1.0] * 48
    for i in (10, 11, 30, 40):
        values[i] = 20.0
    write_series(d / "m.csv", values)
    labels = {"m.csv": [[ts(9), ts(14)], [ts(40), ts(44)], [ts(20), ts(25)]]}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    scores = tmp_path / "scores.csv"
    rep = evaluate({"type": "threshold", "max": 10}, d, tmp_path / "labels.json", scores_out=scores)
    s = rep.summary()
    assert (s["windows"], s["detected"], s["events"], s["false_events"]) == (3, 2, 3, 1)
    assert s["recall"] == pytest.approx(2 / 3) and s["precision"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["mean_delay_s"] == pytest.approx(150.0)  # (300 + 0) / 2
    assert s["fp_per_day"] == pytest.approx(1 / (47 * 300 / 86400))
    rows = list(csv.DictReader(scores.open()))
    assert len(rows) == 48 and rows[10]["is_anomaly"] == "1" and rows[9]["in_window"] == "1"


def test_probation_and_postprocess(tmp_path):
    d = tmp_path / "series"
    d.mkdir()
    values = [1.0] * 40
    for i in (2, 20, 22, 24):
        values[i] = 20.0
    write_series(d / "m.csv", values)
    labels = {"m.csv": [[ts(20), ts(30)]]}
    # probation 0.25 skips the flag at 2; merge_gap 10 min joins 20, 22, 24 into one notified event
    spec = {"type": "threshold", "max": 10, "postprocess": {"merge_gap": "10min"}}
    s = evaluate(spec, d, labels, probation=0.25).summary()
    assert (s["events"], s["false_events"], s["detected"]) == (1, 0, 1)
    s = evaluate({"type": "threshold", "max": 10}, d, labels).summary()
    assert (s["events"], s["false_events"]) == (4, 1)


def test_bad_series_file_names_file_and_line(tmp_path):
    d = tmp_path / "series"
    d.mkdir()
    (d / "x.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,oops\n")
    with pytest.raises(DefinitionError, match=r"x.csv:3: bad value 'oops'"):
        evaluate({"type": "score"}, d, {})


def test_generator_is_deterministic():
    a, oa = make_series("spike", np.random.default_rng(4))
    b, ob = make_series("spike", np.random.default_rng(4))
    assert oa == ob and np.array_equal(a, b)


def test_evaluate_rca_exact_match(tmp_path):
    truth = write_rca_benchmark(tmp_path, seed=1)
    rep = evaluate_rca(tmp_path / "rca" / "snapshots", tmp_path / "rca" / "truth.csv")
    s = rep.summary()
    assert s["cases"] == len(truth) == 30
    assert s["f1"] >= 0.9 and set(s["by_kind"]) == {"single", "pair", "triple", "two_causes"}
    # a wrong truth is counted as both a miss and a false positive
    lines = (tmp_path / "rca" / "truth.csv").read_text().splitlines()
    ts0 = lines[1].split(",")[0]
    (tmp_path / "t2.csv").write_text(f"timestamp,set\n{ts0},a=zz\n")
    case = evaluate_rca(tmp_path / "rca" / "snapshots", tmp_path / "t2.csv").cases[0]
    assert (case.tp, case.fn) == (0, 1) and case.fp >= 1
