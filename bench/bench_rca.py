"""Root-cause localisation: `localize` against the previous algorithm (`baseline`), in one run.

    .venv/bin/python bench/bench_rca.py [--data /work/shared/data/rca-dev] [--no-doc]
    .venv/bin/python bench/bench_rca.py --no-noise --no-generated --no-doc          # smoke run

1. The Squeeze-format corpus (rca-dev: 9 settings x 8 snapshots of 21,600 leaves) exactly as
   `flinksql-gen evaluate-rca DATA --compare-baseline` scores it: F1 per setting, their mean, time
   per case (the localisation alone).
2. Robustness: the same snapshots with extra multiplicative leaf noise (sd 3 % and 8 %, seeded)
   on `real`, the truth unchanged: a stand-in for noisier data of the same family.
3. The project's generated RCA cases (flinksql_gen.evaluate.generate) at three noise/magnitude levels.
Not a test: numbers, no assertions. Writes its section of docs/benchmarks.md unless --no-doc.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
from _common import load_avg, load_note, section_header, write_section

from flinksql_gen.evaluate.generate import write_rca_benchmark
from flinksql_gen.evaluate.rca_eval import (
    METHODS,
    RcaCase,
    _key,
    _prf,
    evaluate_corpus,
    find_settings,
    format_rca_report,
    read_snapshot,
    read_truth,
)
from flinksql_gen.rca.leaves import LeafTable, parse_root_cause_set

NOISE_LEVELS = (0.03, 0.08)
GENERATED = [("noise 2 %, change 30-80 %", 0.02, (0.3, 0.8)), ("noise 5 %, change 10-40 %", 0.05, (0.1, 0.4)),
             ("noise 8 %, change 10-30 %", 0.08, (0.1, 0.3))]  # fmt: skip


def noisy_corpus(data: Path, extra: float, seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean and lowest setting F1 per method with `real` *= 1 + N(0, extra) on every leaf."""
    rng = np.random.default_rng(seed)
    per_method: dict[str, list[float]] = {m: [] for m in METHODS}
    for name, snap_dir, truth_path in find_settings(data):
        cases: dict[str, list[RcaCase]] = {m: [] for m in METHODS}
        for row in read_truth(truth_path):
            t = read_snapshot(snap_dir / f"{row['timestamp']}.csv")
            noisy = LeafTable(t.dimensions, t.codes, t.labels, t.baseline,
                              t.current * (1.0 + rng.normal(0.0, extra, len(t))))  # fmt: skip
            truth = {_key(e) for e in parse_root_cause_set(row["set"])}
            for m, fn in METHODS.items():
                pred = {_key(e.dims) for e in fn(noisy)}
                cases[m].append(RcaCase(name, row["timestamp"], "", row["set"], "", len(truth & pred),
                                        len(pred - truth), len(truth - pred), 0.0))  # fmt: skip
        for m in METHODS:
            per_method[m].append(_prf(cases[m])[2])
    return {m: {"mean": statistics.fmean(f), "min": min(f)} for m, f in per_method.items()}


def generated(work: Path) -> list[str]:
    rows = ["| generated RCA cases (3 seeds) | cases | F1 localize | F1 baseline | ms/case localize | ms/case baseline |",
            "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for label, noise, magnitude in GENERATED:
        cases: dict[str, list[RcaCase]] = {m: [] for m in METHODS}
        for seed in (0, 1, 2):
            d = work / f"rca_{seed}_{noise}"
            write_rca_benchmark(d, seed, noise, magnitude)
            for m, r in evaluate_corpus(d / "rca" / "snapshots", d / "rca" / "truth.csv", tuple(METHODS)).items():
                cases[m] += r.cases
        f = {m: _prf(c)[2] for m, c in cases.items()}
        ms = {m: 1000 * statistics.fmean(x.seconds for x in c) for m, c in cases.items()}
        rows.append(f"| {label} | {len(cases['localize'])} | {f['localize']:.3f} | {f['baseline']:.3f} | "
                    f"{ms['localize']:.1f} | {ms['baseline']:.1f} |")  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/rca-dev"))
    ap.add_argument("--no-noise", action="store_true", help="skip the extra-noise robustness runs")
    ap.add_argument("--no-generated", action="store_true", help="skip the generated cases")
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    args = ap.parse_args()
    load_start = load_avg()
    reports = evaluate_corpus(args.data, None, tuple(METHODS))
    lines = [f"Corpus `{args.data.name}`, scored as `flinksql-gen evaluate-rca {args.data} --compare-baseline` does:\n",
             format_rca_report(reports)]  # fmt: skip
    if not args.no_noise:
        lines += ["", "| same snapshots, extra leaf noise on `real` | mean F1 localize | lowest setting | "
                  "mean F1 baseline | lowest setting |", "|---|---:|---:|---:|---:|"]  # fmt: skip
        for extra in NOISE_LEVELS:
            r = noisy_corpus(args.data, extra)
            lines.append(f"| sd {extra:.0%} | {r['localize']['mean']:.3f} | {r['localize']['min']:.3f} | "
                         f"{r['baseline']['mean']:.3f} | {r['baseline']['min']:.3f} |")  # fmt: skip
    if not args.no_generated:
        with tempfile.TemporaryDirectory() as tmp:
            lines += ["", *generated(Path(tmp))]
    body = "\n".join(lines)
    print(body)
    if not args.no_doc:
        note = load_note(load_start, load_avg()) + "; ms are single-threaded Python, offline"
        write_section("rca", "Root-cause localisation (bench_rca.py)", section_header("rca", note) + "\n" + body + "\n")


if __name__ == "__main__":
    main()
