"""Detector quality and root-cause localisation on the generated labelled benchmark.

    .venv/bin/python bench/bench_detectors.py [--seeds 0 1 2] [--per-kind 2] [--probation 0.15] [--no-doc]
    .venv/bin/python bench/bench_detectors.py --seeds 0 --per-kind 1 --no-doc      # smoke run
    .venv/bin/python bench/bench_detectors.py --nab /work/shared/data/anomaly-dev   # NAB table, real data
    .venv/bin/python bench/bench_detectors.py --nab /work/shared/data/anomaly-dev --split mscloudmon aiops18kpi
    .venv/bin/python bench/bench_detectors.py --per-point                           # per-point cost

With --per-point: the per-point cost of each detector type in the stream's terms (update; restore
a key's detector from its JSON state and dump it again, as `fsg_detect` does once per key and
bundle), on a 20,000-point random walk, best of 3.

With --nab DIR (DIR/series + DIR/labels.json): every detector type under NAB's rules
(`evaluate --scoring nab`), the windowed Gaussian baseline in the same run; printed only (the
table lives in docs/detection.md). With --split P1 P2 ...: instead, `score` and the windowed
Gaussian scored on each group of files whose key starts with P (its own threshold sweep), so a
change can be tuned on one source and checked on the other.

Generates the benchmark for each seed (flinksql_gen.evaluate.generate), evaluates every detector
spec below causally (window precision/recall/F1, detection delay, false positives per day,
throughput), then the RCA localisation at three noise/magnitude levels (exact-element F1, time per
localisation), and prints markdown tables. Not a test: numbers, no assertions.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from _common import load_avg, load_note, section_header, write_section

from flinksql_gen.evaluate.generate import generate_benchmark, write_rca_benchmark
from flinksql_gen.evaluate.metrics import EvalReport, evaluate
from flinksql_gen.evaluate.rca_eval import evaluate_rca

DETECTORS: list[tuple[str, dict]] = [
    ("percentage_change 20 % vs previous point", {"type": "percentage_change", "threshold": 0.2}),
    ("mean_variance lookback 288, sensitivity 5 (ThirdEye default, 1 sigma)", {"type": "mean_variance", "lookback": 288}),
    ("mean_variance lookback 288, multiplier 4", {"type": "mean_variance", "lookback": 288, "multiplier": 4}),
    ("mean_variance daily season, lookback 7, multiplier 4", {"type": "mean_variance", "lookback": 7, "seasonality": "daily", "multiplier": 4}),
    ("ewma span 20, k 4", {"type": "ewma", "span": 20, "k": 4}),
    ("holt_winters daily, fitted online, sensitivity 0 (z 3)", {"type": "holt_winters", "period": "daily", "sensitivity": 0}),
    ("score (defaults)", {"type": "score"}),
    ("score, threshold 0.7", {"type": "score", "threshold": 0.7}),
]

NAB_DETECTORS: list[tuple[str, dict]] = [
    ("`score` (default)", {"type": "score"}),
    ("`windowed_gaussian` (NAB's baseline, 6,400 points)", {"type": "windowed_gaussian"}),
    ("`ewma` (defaults: span 20)", {"type": "ewma"}),
    ("`mean_variance` (defaults: lookback 12)", {"type": "mean_variance"}),
    ("`holt_winters` (defaults, no season)", {"type": "holt_winters"}),
    ("`percentage_change` 20 %", {"type": "percentage_change", "threshold": 0.2}),
    ("`absolute_change` 1", {"type": "absolute_change", "threshold": 1}),
]


def bench_nab(corpus: Path, workers: int) -> list[str]:
    rows = [
        "| detector | NAB standard | NAB reward low FP | NAB reward low FN | window F1 (at `is_anomaly`) | false positives/day | s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, spec in NAB_DETECTORS:
        start = time.perf_counter()
        rep = evaluate(spec, corpus / "series", corpus / "labels.json", scoring="nab", workers=workers)
        elapsed = time.perf_counter() - start
        n, s = rep.nab or {}, rep.summary()
        rows.append(f"| {name} | {n['standard'].score:.1f} | {n['reward_low_FP'].score:.1f} | {n['reward_low_FN'].score:.1f} | "
                    f"{s['f1']:.3f} | {s['fp_per_day']:.2f} | {elapsed:.0f} |")  # fmt: skip
    rows.append("| `threshold` | not applicable: its `min`/`max` are per-series bounds | | | | | |")
    return rows


def bench_nab_split(corpus: Path, prefixes: list[str], workers: int) -> list[str]:
    """NAB scores of `score` and the windowed Gaussian per file group (one detector pass each)."""
    import numpy as np

    from flinksql_gen.evaluate.io import read_labels
    from flinksql_gen.evaluate.metrics import run_corpus, series_files
    from flinksql_gen.evaluate.nab import prepare, score_corpus

    files = series_files(corpus / "series")
    labels = read_labels(corpus / "labels.json")
    groups = [*prefixes, ""]  # "" = the whole corpus
    rows = ["| detector | files | NAB standard | NAB reward low FP | NAB reward low FN |", "|---|---|---:|---:|---:|"]
    for name, spec in NAB_DETECTORS[:2]:
        runs = run_corpus(spec, files, workers)
        prepared = [(r.key, prepare(r.key, np.asarray(r.series.seconds), np.array([x.score for x in r.results], dtype=float),
                                    labels.get(r.key, []))) for r in runs]  # fmt: skip
        for prefix in groups:
            group = [fr for key, fr in prepared if key.startswith(prefix)]
            if not group:
                raise SystemExit(f"--split {prefix}: no file key starts with it")
            n = score_corpus(group)
            rows.append(f"| {name} | {prefix or 'all'} ({len(group)}) | {n['standard'].score:.1f} | "
                        f"{n['reward_low_FP'].score:.1f} | {n['reward_low_FN'].score:.1f} |")  # fmt: skip
    return rows


def bench_per_point() -> list[str]:
    import json

    import numpy as np

    from flinksql_gen.detectors import build_detector
    from flinksql_gen.udfs.detect import dump_state, new_detector

    rng = np.random.default_rng(0)
    values = [float(x) for x in 100 + np.cumsum(rng.normal(0, 1, 20_000))]
    stamps = [1.7e9 + 60.0 * i for i in range(len(values))]
    rows = ["| detector | update us/point | restore from JSON us | dump to JSON us | state bytes |", "|---|---:|---:|---:|---:|"]
    for name, spec in NAB_DETECTORS:
        best = math.inf
        for _ in range(3):
            det = build_detector(spec)
            start = time.perf_counter()
            for t, v in zip(stamps, values, strict=True):
                det.update(t, v)
            best = min(best, (time.perf_counter() - start) / len(values))
        state, config = dump_state(det), json.dumps(spec)
        start = time.perf_counter()
        for _ in range(200):
            new_detector(config, state)
        restore = (time.perf_counter() - start) / 200
        start = time.perf_counter()
        for _ in range(200):
            dump_state(det)
        dump = (time.perf_counter() - start) / 200
        rows.append(f"| {name} | {best * 1e6:.1f} | {restore * 1e6:.0f} | {dump * 1e6:.0f} | {len(state):,} |")
    return rows


RCA_LEVELS = [
    ("noise 2 %, change 30-80 %", 0.02, (0.3, 0.8)),
    ("noise 5 %, change 10-40 %", 0.05, (0.1, 0.4)),
    ("noise 8 %, change 10-30 %", 0.08, (0.1, 0.3)),
]


def bench_detectors(dirs: list[Path], probation: float) -> list[str]:
    rows = [
        "| detector | precision | recall | F1 | mean delay (min) | false positives / day | points / s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, spec in DETECTORS:
        merged = EvalReport([])
        points = 0
        start = time.perf_counter()
        for d in dirs:
            rep = evaluate(spec, d / "series", d / "labels.json", probation=probation)
            merged.files.extend(rep.files)
            points += sum(f.points for f in rep.files)
        elapsed = time.perf_counter() - start
        s = merged.summary()
        delay = s["mean_delay_s"] / 60 if not math.isnan(s["mean_delay_s"]) else math.nan
        rows.append(
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {delay:.1f} | "
            f"{s['fp_per_day']:.2f} | {points / elapsed:,.0f} |"
        )
    return rows


def bench_rca(seeds: list[int], work: Path) -> list[str]:
    rows = [
        "| RCA cases | cases | precision | recall | F1 | exact | mean ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, noise, magnitude in RCA_LEVELS:
        cases = []
        for seed in seeds:
            d = work / f"rca_{seed}_{noise}"
            write_rca_benchmark(d, seed, noise, magnitude)
            cases += evaluate_rca(d / "rca" / "snapshots", d / "rca" / "truth.csv").cases
        tp, fp, fn = (sum(getattr(c, k) for c in cases) for k in ("tp", "fp", "fn"))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        exact = sum(1 for c in cases if c.fp == 0 and c.fn == 0)
        ms = [1000 * c.seconds for c in cases]
        rows.append(
            f"| {label} | {len(cases)} | {p:.3f} | {r:.3f} | {f:.3f} | {exact}/{len(cases)} | "
            f"{statistics.fmean(ms):.1f} | {max(ms):.1f} |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--per-kind", type=int, default=2)
    ap.add_argument("--probation", type=float, default=0.15)
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--nab", type=Path, help="a labelled corpus (series/ + labels.json): print the NAB table and stop")
    ap.add_argument("--split", nargs="+", metavar="PREFIX", help="with --nab: score and the windowed Gaussian per file-key prefix")
    ap.add_argument("--workers", type=int, choices=[1, 2], default=2)
    ap.add_argument("--per-point", action="store_true", help="print the per-point cost of each detector type and stop")
    args = ap.parse_args()
    if args.per_point:
        print("\n".join(bench_per_point()))
        return
    if args.nab is not None and args.split:
        print("\n".join(bench_nab_split(args.nab, args.split, args.workers)))
        return
    if args.nab is not None:
        print("\n".join(bench_nab(args.nab, args.workers)))
        return
    load_start = load_avg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dirs = []
        for seed in args.seeds:
            d = work / f"bench_{seed}"
            info = generate_benchmark(d, seed, args.per_kind)
            dirs.append(d)
        lines = [
            f"Benchmark: seeds {args.seeds}, {info['series'] * len(dirs)} series of 4032 5-minute points "
            f"({len(dirs) * info['windows']} labelled windows), probation {args.probation:.0%}.\n",
            "\n".join(bench_detectors(dirs, args.probation)),
            "",
            "\n".join(bench_rca(args.seeds, work)),
        ]
    body = "\n".join(lines)
    print(body)
    if not args.no_doc:
        note = load_note(load_start, load_avg()) + "; points/s and ms are single-threaded Python, offline"
        write_section("detectors", "Detector quality and RCA localisation (bench_detectors.py)",
                      section_header("detectors", note) + "\n" + body + "\n")


if __name__ == "__main__":
    main()
