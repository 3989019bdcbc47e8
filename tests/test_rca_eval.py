"""`evaluate-rca` on the Squeeze layout: per-setting scores, their mean, the baseline in the same run,
one-sided snapshots reported, bad input as file:line errors. The case is a real rca-dev snapshot."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from flinksql_gen.cli import main
from flinksql_gen.evaluate.rca_eval import evaluate_corpus, read_snapshot
from flinksql_gen.rca import localize

CASE = Path(__file__).parent / "data" / "rca_case" / "B_cuboid_layer_2_n_ele_2"
TS = "1450843800"
TRUTH = "a=a4&c=c2;a=a6&b=b2"
HEADER = "normal_predict_amount,normal_predict_error,set,significance,timestamp\n"


def setting(root: Path, name: str, truth_rows: list[tuple[str, str]]) -> Path:
    """A setting folder with the real snapshot and the given (timestamp, set) truth rows."""
    d = root / name
    d.mkdir(parents=True)
    (d / f"{TS}.csv").write_bytes(gzip.decompress((CASE / f"{TS}.csv.gz").read_bytes()))
    (d / "injection_info.csv").write_text(HEADER + "".join(f"1,1,{s},0.01,{ts}\n" for ts, s in truth_rows))
    return d


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["evaluate-rca", *map(str, args)])
    return res.exit_code, res.output


def test_corpus_scores_each_setting_and_the_baseline_in_the_same_run(tmp_path):
    setting(tmp_path / "corpus", "s1", [(TS, TRUTH)])
    setting(tmp_path / "corpus", "s2", [(TS, "a=a4&c=c2;a=a1")])  # one true element that is not there
    code, out = run(tmp_path / "corpus", "--compare-baseline", "--format", "json")
    assert code == 0, out
    reports = json.loads(out)
    new, old = reports["localize"]["summary"], reports["baseline"]["summary"]
    assert new["by_setting"]["s1"]["f1"] == 1.0  # both combined causes, nothing else
    assert reports["localize"]["cases"][0]["predicted"] in (TRUTH, ";".join(reversed(TRUTH.split(";"))))
    # s2: TP a4&c2, FP a6&b2, FN a1 -> F1 0.5; the corpus figure is the mean over the settings
    assert new["by_setting"]["s2"]["f1"] == 0.5 and new["mean_setting_f1"] == 0.75
    assert new["cases"] == old["cases"] == 2 and new["settings"] == 2
    assert old["method"] == "baseline" and 0.0 <= old["mean_setting_f1"] <= 1.0
    assert all(c["seconds"] > 0 for c in reports["localize"]["cases"])
    code, text = run(tmp_path / "corpus", "--compare-baseline")
    assert code == 0 and "| s1 | 1 |" in text and "F1 baseline" in text and "mean over settings" in text


def test_a_setting_folder_alone_and_one_sided_snapshots_are_reported(tmp_path):
    d = setting(tmp_path, "only", [(TS, TRUTH), ("1450000000", "a=a1")])
    shutil.copy(d / f"{TS}.csv", d / "1459999999.csv")  # a snapshot the truth does not list
    report = evaluate_corpus(d)["localize"]
    assert len(report.cases) == 1 and report.cases[0].fp == report.cases[0].fn == 0
    assert report.missing_snapshots == [f"{d / 'injection_info.csv'}:3: no snapshot {d / '1450000000.csv'}"]
    assert report.unlabelled_snapshots == [str(d / "1459999999.csv")]
    code, text = run(d)
    assert code == 0 and "1 truth rows without a snapshot" in text and "1 snapshots without a truth row" in text


def test_offline_result_is_the_localize_result_on_the_leaves(tmp_path):
    d = setting(tmp_path, "s", [(TS, TRUTH)])
    leaves = read_snapshot(d / f"{TS}.csv")
    assert len(leaves) == 21600 and leaves.dimensions == ["a", "b", "c", "d"]
    assert {frozenset(e.dims.items()) for e in localize(leaves)} == {
        frozenset({"a": "a4", "c": "c2"}.items()), frozenset({"a": "a6", "b": "b2"}.items())}  # fmt: skip


def test_bad_input_is_a_file_line_error(tmp_path):
    d = setting(tmp_path, "s", [(TS, TRUTH)])
    snap = d / f"{TS}.csv"
    lines = snap.read_text().splitlines()
    snap.write_text("\n".join([*lines[:3], "abc,1.0,a1,b1,c1,d1", *lines[3:]]) + "\n")
    code, out = run(d)
    assert code == 1 and f"{TS}.csv:4: real: not a number: 'abc'" in out and "Traceback" not in out

    snap.write_text("real,a,b\n1,a1,b1\n")
    code, out = run(d)
    assert code == 1 and f"{TS}.csv:1: missing column(s) ['predict']" in out

    (d / "injection_info.csv").write_text(HEADER + f"1,1,a=a1&b,0.1,{TS}\n1,1,a=a2,0.1,{TS}\n")
    code, out = run(d)
    assert code == 1 and "injection_info.csv:2: set: 'b' is not dim=value" in out
    assert "injection_info.csv:3: timestamp: '1450843800' repeats line 2" in out

    (d / "injection_info.csv").write_text("timestamp,root_cause\n1,a=a1\n")
    code, out = run(d)
    assert code == 1 and "injection_info.csv:1: expected a header with 'timestamp' and 'set'" in out

    (tmp_path / "empty").mkdir()
    code, out = run(tmp_path / "empty")
    assert code == 2 and "no injection_info.csv" in out
