"""NAB scoring: the vectorised sweep against a direct row-by-row implementation of NAB's rules,
hand-checked cases, and `evaluate` on folders with subfolders, disorder and missing values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from flinksql_gen.errors import DefinitionError, UsageError
from flinksql_gen.evaluate.metrics import evaluate
from flinksql_gen.evaluate.nab import PROFILES, prepare, probation_rows, score_corpus, sweep


def _sig(x: float) -> float:
    return -1.0 if x >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def direct_score(files: list[tuple[np.ndarray, list[tuple[int, int]]]], threshold: float, profile: str) -> float:
    """NAB's rules one row at a time (windows as row index ranges)."""
    tp_w, fp_w, fn_w = PROFILES[profile]
    total = 0.0
    for scores, windows in files:
        n = len(scores)
        skip = probation_rows(n)
        for a, b in windows:
            if b < skip:
                continue  # entirely in probation: not scored
            hits = [i for i in range(max(a, skip), b + 1) if scores[i] >= threshold]
            total += tp_w * _sig(-(b - hits[0] + 1) / (b - a + 1)) / _sig(-1.0) if hits else -fn_w
        for i in range(skip, n):
            if scores[i] < threshold or any(a <= i <= b for a, b in windows):
                continue
            prev = [(a, b) for a, b in windows if b < i]
            if not prev:
                total += -fp_w
            else:
                a, b = max(prev, key=lambda w: w[1])
                total += fp_w * _sig((i - b) / (b - a))
    return total


def test_sweep_matches_direct_rules_on_random_corpora():
    rng = np.random.default_rng(3)
    for _ in range(5):
        files, rows = [], []
        for f in range(3):
            n = int(rng.integers(200, 900))
            secs = np.arange(n, dtype=float) * 60
            starts = sorted(rng.choice(np.arange(20, n - 30), size=3, replace=False))
            wins, idx = [], []
            for s0 in starts:
                if idx and s0 <= idx[-1][1] + 1:
                    continue
                e0 = min(n - 1, int(s0 + rng.integers(3, 25)))
                idx.append((int(s0), e0))
                wins.append((secs[s0], secs[e0]))
            scores = np.round(rng.random(n) ** 6, 2)  # ties on purpose
            files.append((scores, idx))
            rows.append(prepare(f"f{f}.csv", secs, scores, wins))
        for profile in PROFILES:
            best = sweep(rows, profile)
            thresholds = sorted({float(x) for s, _ in files for x in s} | {math.inf})
            direct = {t: direct_score(files, t, profile) for t in thresholds}
            assert best.raw == pytest.approx(max(direct.values()), abs=1e-9)
            assert direct[best.threshold] == pytest.approx(best.raw, abs=1e-9)


def test_perfect_and_null_detectors_score_100_and_0():
    n = 1000
    secs = np.arange(n, dtype=float)
    wins = [(300.0, 340.0), (700.0, 760.0)]
    perfect = np.zeros(n)
    perfect[[300, 700]] = 1.0
    res = score_corpus([prepare("a.csv", secs, perfect, wins)])
    assert all(r.score == pytest.approx(100.0) for r in res.values())
    res = score_corpus([prepare("a.csv", secs, np.zeros(n), wins)])
    assert all(r.score == pytest.approx(0.0) and r.threshold == math.inf for r in res.values())
    # a detection at the very end of a window earns almost nothing, a false one before any window costs fp
    late = np.zeros(n)
    late[[340, 760, 200]] = 1.0
    r = score_corpus([prepare("a.csv", secs, late, wins)])["standard"]
    tp_end = _sig(-1 / 41) / _sig(-1.0) + _sig(-1 / 61) / _sig(-1.0)
    assert r.raw == pytest.approx(max(-2.0, tp_end - 0.11))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_subfolders_disorder_missing_values_are_processed_and_counted(tmp_path):
    rows = ["timestamp,value"] + [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00,{1.0 + (i % 3) * 0.01}" for i in range(200)]
    rows[51] = "2024-01-01 00:20:00,1.0"  # goes back in time
    rows[52] = "2024-01-01 00:20:00,"  # repeated time, missing value
    rows[120] = rows[120].split(",")[0] + ",50"  # the anomaly
    write(tmp_path / "s" / "cat_a" / "m.csv", "\n".join(rows) + "\n")
    write(tmp_path / "s" / "cat_b" / "m.csv", "\n".join(rows[:100]) + "\n")
    labels = {"cat_a/m.csv": [["2024-01-01 01:55:00", "2024-01-01 02:05:00"]], "cat_b/m.csv": []}
    write(tmp_path / "labels.json", json.dumps(labels))
    rep = evaluate({"type": "threshold", "max": 10}, tmp_path / "s", tmp_path / "labels.json", scoring="nab",
                   scores_out=tmp_path / "scores.csv")  # fmt: skip
    s = rep.summary()
    assert [f.file for f in rep.files] == ["cat_a/m.csv", "cat_b/m.csv"]
    assert (s["rows_back_in_time"], s["rows_repeated_time"], s["rows_missing_value"]) == (2, 2, 2)
    # the anomaly (row 119, 01:59) lies 7 rows before the end of the 11-row window
    assert rep.nab is not None and rep.nab["standard"].raw == pytest.approx(_sig(-7 / 11) / _sig(-1.0))
    out = (tmp_path / "scores.csv").read_text().splitlines()
    assert len(out) == 1 + 200 + 99 and out[1].startswith("cat_a/m.csv,")


def test_bad_inputs_name_file_and_line(tmp_path):
    write(tmp_path / "s" / "m.csv", "timestamp,value\n2024-01-01 00:00:00,1\n")
    write(tmp_path / "l.json", json.dumps({"m.csv": [], "other/x.csv": []}))
    with pytest.raises(UsageError, match=r"l.json: labels name files that are not in the series folder: other/x.csv"):
        evaluate({"type": "score"}, tmp_path / "s", tmp_path / "l.json")
    write(tmp_path / "l2.json", '{\n  "m.csv": [["2024-01-01", "bad"]]\n}')
    with pytest.raises(DefinitionError, match=r"l2.json:2: m.csv: window .* has a bad timestamp"):
        evaluate({"type": "score"}, tmp_path / "s", tmp_path / "l2.json")
    write(tmp_path / "s2" / "m.csv", "time,val\n1,2\n")
    with pytest.raises(DefinitionError, match=r"m.csv:1: header"):
        evaluate({"type": "score"}, tmp_path / "s2", {})


def test_cli_scoring_nab_reports_the_three_profiles(tmp_path):
    from click.testing import CliRunner

    from flinksql_gen.cli import main

    rows = ["timestamp,value"] + [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00,{1.0 + (i % 3) * 0.01}" for i in range(300)]
    rows[201] = "2024-01-01 03:20:00,50"
    write(tmp_path / "s" / "a" / "m.csv", "\n".join(rows) + "\n")
    write(tmp_path / "l.json", json.dumps({"a/m.csv": [["2024-01-01 03:20:00", "2024-01-01 03:25:00"]]}))
    res = CliRunner().invoke(main, ["evaluate", "--detector", '{"type": "score"}', "--scoring", "nab", "--format", "json",
                                    str(tmp_path / "s"), str(tmp_path / "l.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    nab = json.loads(res.output)["nab"]
    assert set(nab) == {"standard", "reward_low_FP", "reward_low_FN"}
    assert nab["standard"]["score"] == pytest.approx(100.0) and nab["standard"]["tp"] == 1
