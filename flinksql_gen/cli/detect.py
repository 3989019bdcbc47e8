"""Offline detector and root-cause evaluation: `evaluate`, `evaluate-rca`, `report`, `generate-benchmark`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from flinksql_gen.cli.output import format_option

# The evaluate modules import numpy, pandas and matplotlib (about 1.5 s): each command imports
# what it needs, so `validate` and `render` start fast.

SPEC_HELP = "detector spec: a YAML/JSON file, or inline JSON such as '{\"type\": \"mean_variance\", \"lookback\": 12}'"


def _json(data: Any) -> str:
    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(data), indent=2)


@click.command("evaluate")
@click.option("--detector", "spec", required=True, help=SPEC_HELP)
@click.argument("series_dir", type=click.Path(path_type=Path))
@click.argument("labels", type=click.Path(path_type=Path))
@click.option("--scores-out", type=click.Path(dir_okay=False, path_type=Path), help="write per-row scores to this CSV")
@click.option("--probation", type=click.FloatRange(0, 0.9), default=0.0, show_default=True,
              help="fraction at the start of each file where detections are ignored (NAB: 0.15)")  # fmt: skip
@click.option("--scoring", type=click.Choice(["windows", "nab"]), default="windows", show_default=True,
              help="'nab': also NAB's scores (standard, reward_low_FP, reward_low_FN; probation 15 %, <= 750 rows)")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 2), default=2, show_default=True,
              help="processes running detectors (this one plus at most one more)")  # fmt: skip
@format_option
def evaluate_cmd(spec: str, series_dir: Path, labels: Path, scores_out: Path | None, probation: float, scoring: str,
                 workers: int, fmt: str) -> None:  # fmt: skip
    """Run a detector causally over every CSV under SERIES_DIR (recursively, keyed by relative path) and score it
    against LABELS (JSON windows)."""
    from flinksql_gen.evaluate.io import load_spec
    from flinksql_gen.evaluate.metrics import evaluate as run_evaluate
    from flinksql_gen.evaluate.metrics import format_report

    report = run_evaluate(load_spec(spec), series_dir, labels, scores_out, probation, scoring, workers)
    click.echo(_json(report.to_dict()) if fmt == "json" else format_report(report))
    if scores_out and fmt == "text":
        click.echo(f"wrote {scores_out}")


@click.command("evaluate-rca")
@click.argument("data", type=click.Path(path_type=Path))
@click.argument("truth", type=click.Path(path_type=Path), required=False)
@click.option("--method", type=click.Choice(["localize", "baseline"]), default="localize", show_default=True,
              help="localisation to score (baseline: the previous algorithm)")  # fmt: skip
@click.option("--compare-baseline", is_flag=True, help="also run the baseline on the same cases, in the same run")
@click.option("--max-depth", type=click.IntRange(1, 10), default=3, show_default=True,
              help="largest number of dimensions in one root-cause element")  # fmt: skip
@format_option
def evaluate_rca_cmd(data: Path, truth: Path | None, method: str, compare_baseline: bool, max_depth: int,
                     fmt: str) -> None:  # fmt: skip
    """Localise root causes in Squeeze-format snapshots and compare them exactly with the truth.

    DATA is a folder of settings, each a folder of <timestamp>.csv (dimension columns, real, predict)
    plus injection_info.csv (timestamp,set), or one such setting folder. With TRUTH (timestamp,set),
    DATA is a folder of snapshots scored against that file. Reports precision, recall and F1 per
    setting, their mean, and the time per case.
    """
    from flinksql_gen.evaluate.rca_eval import evaluate_corpus, format_rca_report

    methods = [method] + (["baseline"] if compare_baseline and method != "baseline" else [])
    reports = evaluate_corpus(data, truth, methods, max_depth=max_depth)
    if fmt == "json":
        click.echo(_json({m: r.to_dict() for m, r in reports.items()} if len(reports) > 1 else reports[method].to_dict()))
    else:
        click.echo(format_rca_report(reports))


@click.command("report")
@click.option("--detector", "spec", required=True, help=SPEC_HELP)
@click.argument("series_csv", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("detector-report"),
              show_default=True, help="folder for series.png, contributions.png and report.html")  # fmt: skip
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), help="labels JSON to shade the windows")
@click.option("--snapshot", type=click.Path(dir_okay=False, path_type=Path),
              help="an RCA snapshot CSV (dimensions + real + predict) to drill down")  # fmt: skip
@format_option
def report_cmd(spec: str, series_csv: Path, out_dir: Path, labels: Path | None, snapshot: Path | None,
               fmt: str) -> None:  # fmt: skip
    """Chart a metric with the detector's expected band, anomalies and labels (+ a drill-down) as PNG + HTML."""
    from flinksql_gen.evaluate.io import load_spec
    from flinksql_gen.evaluate.report import render_report

    paths = render_report(load_spec(spec), series_csv, out_dir, labels, snapshot)
    if fmt == "json":
        click.echo(_json({"errors": [], "files": {name: str(path) for name, path in paths.items()}}))
        return
    for path in paths.values():
        click.echo(f"wrote {path}")


@click.command("generate-benchmark")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--per-kind", type=click.IntRange(1, 50), default=2, show_default=True, help="series per anomaly kind")
def generate_benchmark_cmd(out_dir: Path, seed: int, per_kind: int) -> None:
    """Write a deterministic labelled benchmark: series/*.csv + labels.json, rca/snapshots/*.csv + rca/truth.csv."""
    from flinksql_gen.evaluate.generate import generate_benchmark

    info = generate_benchmark(out_dir, seed, per_kind)
    click.echo(
        f"wrote {info['series']} series ({info['windows']} labelled windows) to {out_dir / 'series'}, "
        f"labels to {out_dir / 'labels.json'}, {info['rca_cases']} RCA snapshots to {out_dir / 'rca'}"
    )


COMMANDS: list[click.Command] = [evaluate_cmd, evaluate_rca_cmd, report_cmd, generate_benchmark_cmd]
