"""Offline, causal evaluation of a detector spec on labelled series.

Definitions:
  detection events: maximal runs of consecutive flagged points (or, when the spec has a
    `postprocess` block, the notified anomalies of AnomalyTracker; an event's time is when it is
    notified). Flags in the first `probation` fraction of each file are ignored (NAB uses 0.15).
  a window [start, end] is detected when an event overlaps it;
  an event is true when it overlaps a window, false otherwise.
  recall = detected windows / windows; precision = true events / events; F1 of the two.
  delay = time of the first overlapping event - window start (clipped at 0), per detected window.
  false positives per day = false events / days of data (after probation).
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flinksql_gen.detectors import build_detector, to_seconds
from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.detectors.postprocess import AnomalyTracker
from flinksql_gen.errors import UsageError, relative
from flinksql_gen.evaluate.io import Series, label_key, read_labels, read_series, spec_source
from flinksql_gen.evaluate.nab import ProfileResult, format_nab, prepare, probation_rows, score_corpus


@dataclass
class FileScore:
    file: str
    points: int
    days: float
    windows: int
    detected: int
    events: int
    true_events: int
    delays_s: list[float] = field(default_factory=list)
    backwards: int = 0  # rows whose time goes back (processed in arrival order)
    repeats: int = 0  # rows repeating the previous time
    missing: int = 0  # rows without a value
    gaps: int = 0  # steps over twice the median step

    @property
    def false_events(self) -> int:
        return self.events - self.true_events


@dataclass
class EvalReport:
    files: list[FileScore]
    nab: dict[str, ProfileResult] | None = None

    def _sum(self, attr: str) -> float:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def recall(self) -> float:
        w = self._sum("windows")
        return self._sum("detected") / w if w else math.nan

    @property
    def precision(self) -> float:
        e = self._sum("events")
        return self._sum("true_events") / e if e else (1.0 if self._sum("windows") == 0 else 0.0)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 and not math.isnan(r) else 0.0

    @property
    def delays(self) -> list[float]:
        return [d for f in self.files for d in f.delays_s]

    @property
    def fp_per_day(self) -> float:
        days = self._sum("days")
        return sum(f.false_events for f in self.files) / days if days else math.nan

    def summary(self) -> dict[str, Any]:
        d = self.delays
        return {
            "files": len(self.files),
            "windows": int(self._sum("windows")),
            "detected": int(self._sum("detected")),
            "events": int(self._sum("events")),
            "false_events": sum(f.false_events for f in self.files),
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "mean_delay_s": statistics.fmean(d) if d else math.nan,
            "median_delay_s": statistics.median(d) if d else math.nan,
            "fp_per_day": self.fp_per_day,
            "rows": int(self._sum("points")),
            "rows_back_in_time": int(self._sum("backwards")),
            "rows_repeated_time": int(self._sum("repeats")),
            "rows_missing_value": int(self._sum("missing")),
            "gaps": int(self._sum("gaps")),
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": self.summary(), "files": [asdict(f) for f in self.files]}
        if self.nab is not None:
            out["nab"] = {k: {**asdict(r), "score": r.score} for k, r in self.nab.items()}
        return out


def detect_events(
    series: Series, spec: dict[str, Any], probation: float = 0.0
) -> tuple[list[Any], list[tuple[float, float, float]]]:
    """Run the detector over a series: (results, events as (start, end, notify_time) seconds).

    Events are maximal runs of flagged rows, or the notified anomalies of the spec's `postprocess`
    block; flags in the first `probation` fraction of the file are ignored."""
    config = parse_detector_config(spec)
    det = build_detector(config)
    results = [det.update(t, None if v != v else v) for t, v in zip(series.seconds, series.values, strict=True)]
    run = FileRun(series.name, series, results)
    return results, _events(run, config, probation)


def score_file(series: Series, windows: list[tuple[float, float]], events: list[tuple[float, float, float]], probation: float) -> FileScore:
    skip = int(probation * len(series.seconds))
    secs = series.seconds[skip:]
    days = (max(secs) - min(secs)) / 86_400.0 if len(secs) > 1 else 0.0
    detected = 0
    delays: list[float] = []
    for ws, we in windows:
        hits = [e for e in events if e[0] <= we and e[1] >= ws]
        if hits:
            detected += 1
            first = min(max(e[2], e[0]) for e in hits)
            delays.append(max(0.0, first - ws))
    true_events = sum(1 for e in events if any(e[0] <= we and e[1] >= ws for ws, we in windows))
    return FileScore(series.name, len(series.values), days, len(windows), detected, len(events), true_events, delays,
                     series.backwards, series.repeats, series.missing, series.gaps)  # fmt: skip


def series_files(series_dir: Path) -> list[tuple[str, Path]]:
    """Every CSV under series_dir (recursively), keyed by its relative POSIX path, sorted."""
    return sorted((p.relative_to(series_dir).as_posix(), p) for p in series_dir.rglob("*.csv") if p.is_file())


def _match_labels(label_map: dict[str, list[tuple[float, float]]], keys: list[str], where: str) -> dict[str, list[tuple[float, float]]]:
    """Labels by file key; a label naming no file is an error (nothing silently skipped).

    A key without folder also matches a file of that name in a subfolder when the name is unique."""
    by_name: dict[str, list[str]] = {}
    for k in keys:
        by_name.setdefault(k.rsplit("/", 1)[-1], []).append(k)
    out: dict[str, list[tuple[float, float]]] = {}
    missing = []
    for name, windows in label_map.items():
        if name in by_name.get(name.rsplit("/", 1)[-1], []):
            out[name] = windows
        elif "/" not in name and len(by_name.get(name, [])) == 1:
            out[by_name[name][0]] = windows
        else:
            missing.append(name)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise UsageError(f"{where}: labels name files that are not in the series folder: {shown}")
    return out


@dataclass
class FileRun:
    """One file run through the detector: the series (with its counts) and per-row outputs."""

    key: str
    series: Series
    results: list[Any]


def _run_file(args: tuple[str, str, dict[str, Any]]) -> FileRun:
    key, path, spec = args
    series = read_series(Path(path), key)
    det = build_detector(parse_detector_config(spec))
    results = [det.update(t, None if v != v else v) for t, v in zip(series.seconds, series.values, strict=True)]
    return FileRun(key, series, results)


def run_corpus(spec: dict[str, Any], files: list[tuple[str, Path]], workers: int = 2) -> list[FileRun]:
    """Run the detector over every file, this process plus at most workers - 1 others."""
    jobs = [(k, str(p), spec) for k, p in files]
    if workers <= 1 or len(jobs) < 4:
        return [_run_file(j) for j in jobs]
    import concurrent.futures as cf
    import multiprocessing as mp

    # big files alternate between the helper process and this one
    sizes = sorted(range(len(jobs)), key=lambda i: -files[i][1].stat().st_size)
    remote = set(sizes[0::2])
    out: dict[int, FileRun] = {}
    with cf.ProcessPoolExecutor(max_workers=workers - 1, mp_context=mp.get_context("fork")) as pool:
        futures = {i: pool.submit(_run_file, jobs[i]) for i in sorted(remote)}
        for i in sizes[1::2]:
            out[i] = _run_file(jobs[i])
        for i, fut in futures.items():
            out[i] = fut.result()
    return [out[i] for i in range(len(jobs))]


def _events(run: FileRun, config: Any, probation: float) -> list[tuple[float, float, float]]:
    """Detection events of a run (see detect_events)."""
    series, results = run.series, run.results
    tracker = AnomalyTracker(config.postprocess) if config.postprocess is not None else None
    skip = int(probation * len(series.values))
    events: list[tuple[float, float, float]] = []
    run_ev: list[float] | None = None
    pending: dict[float, float] = {}
    for i, (t, r) in enumerate(zip(series.seconds, results, strict=True)):
        if i < skip:
            continue
        if tracker is not None:
            for ev in tracker.update(t, r):
                if ev.kind == "open":
                    pending[ev.anomaly.start] = t
                elif ev.kind == "close":
                    events.append((ev.anomaly.start, ev.anomaly.end, pending.pop(ev.anomaly.start, ev.anomaly.start)))
            continue
        if r.is_anomaly:
            if run_ev is None:
                run_ev = [t, t, t]
            run_ev[1] = t
        elif run_ev is not None:
            events.append((run_ev[0], run_ev[1], run_ev[2]))
            run_ev = None
    if tracker is not None:
        for ev in tracker.flush():
            events.append((ev.anomaly.start, ev.anomaly.end, pending.pop(ev.anomaly.start, ev.anomaly.start)))
    elif run_ev is not None:
        events.append((run_ev[0], run_ev[1], run_ev[2]))
    return events


def evaluate(
    detector_spec: dict[str, Any],
    series_dir: Path | str,
    labels: Path | str | dict[str, list[tuple[float, float]]],
    scores_out: Path | str | None = None,
    probation: float = 0.0,
    scoring: str = "windows",
    workers: int = 1,
) -> EvalReport:
    """Run the detector causally over every CSV under `series_dir` and score it against the labels.

    scoring 'windows': window F1, delay and false positives/day (with `probation` as given);
    'nab': the same report (probation NAB's 15 %, at most 750 rows) plus NAB scores (report.nab)."""
    spec, source = spec_source(detector_spec)
    config = parse_detector_config(spec, source)  # validate once, with the spec's file name in errors
    series_dir = Path(series_dir)
    if not series_dir.is_dir():
        raise UsageError(f"{relative(series_dir)}: not a directory")
    if isinstance(labels, dict):  # already loaded: {file: [[start, end], ...]} with any timestamp form
        label_map = {label_key(k): [(to_seconds(a), to_seconds(b)) for a, b in v] for k, v in labels.items()}
        where = "labels"
    else:
        label_map = read_labels(Path(labels))
        where = relative(Path(labels))
    files = series_files(series_dir)
    if not files:
        raise UsageError(f"{relative(series_dir)}: no .csv series found")
    label_map = _match_labels(label_map, [k for k, _ in files], where)
    runs = run_corpus(spec, files, workers)
    report = EvalReport([])
    nab_rows = []
    for run in runs:
        windows = label_map.get(run.key, [])
        n = len(run.series.values)
        prob = probation_rows(n) / n if scoring == "nab" and n else probation
        report.files.append(score_file(run.series, windows, _events(run, config, prob), prob))
        if scoring == "nab":
            scores = np.array([r.score for r in run.results], dtype=float)
            nab_rows.append(prepare(run.key, np.asarray(run.series.seconds), scores, windows))
    if nab_rows:
        report.nab = score_corpus(nab_rows)
    if scores_out is not None:
        write_scores(Path(scores_out), runs, label_map)
    return report


def write_scores(path: Path, runs: list[FileRun], label_map: dict[str, list[tuple[float, float]]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "timestamp", "value", "score", "expected", "lower", "upper", "is_anomaly", "in_window"])
        for run in runs:
            windows = label_map.get(run.key, [])
            s = run.series
            for ts, sec, v, r in zip(s.timestamps, s.seconds, s.values, run.results, strict=True):
                inside = any(a <= sec <= b for a, b in windows)
                writer.writerow([run.key, ts, _fmt(v), _fmt(r.score), _fmt(r.expected), _fmt(r.lower), _fmt(r.upper), int(r.is_anomaly), int(inside)])


def _fmt(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


def format_report(report: EvalReport) -> str:
    s = report.summary()
    lines = [
        "| file | windows | detected | events | false | mean delay (min) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in report.files:
        d = f"{statistics.fmean(f.delays_s) / 60:.0f}" if f.delays_s else "-"
        lines.append(f"| {f.file} | {f.windows} | {f.detected} | {f.events} | {f.false_events} | {d} |")
    delay = s["mean_delay_s"]
    lines.append("")
    lines.append(
        f"precision {s['precision']:.3f}  recall {s['recall']:.3f}  F1 {s['f1']:.3f}  "
        f"mean delay {(delay / 60 if delay == delay else math.nan):.1f} min  false positives/day {s['fp_per_day']:.3f}"
    )
    lines.append(
        f"rows {s['rows']}: time going back {s['rows_back_in_time']}, repeated time {s['rows_repeated_time']}, "
        f"missing values {s['rows_missing_value']}, gaps {s['gaps']} (all processed in arrival order)"
    )
    if report.nab is not None:
        lines += ["", format_nab(report.nab)]
    return "\n".join(lines)
