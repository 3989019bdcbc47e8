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

from flinksql_gen.detectors import build_detector, to_seconds
from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.detectors.postprocess import AnomalyTracker
from flinksql_gen.errors import UsageError, relative
from flinksql_gen.evaluate.io import Series, read_labels, read_series, spec_source


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

    @property
    def false_events(self) -> int:
        return self.events - self.true_events


@dataclass
class EvalReport:
    files: list[FileScore]

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
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "files": [asdict(f) for f in self.files]}


def detect_events(
    series: Series, spec: dict[str, Any], probation: float = 0.0
) -> tuple[list[Any], list[tuple[float, float, float]]]:
    """Run the detector over a series: (results, events as (start, end, notify_time) seconds)."""
    config = parse_detector_config(spec)
    det = build_detector(config)
    tracker = AnomalyTracker(config.postprocess) if config.postprocess is not None else None
    skip = int(probation * len(series.values))
    results = []
    events: list[tuple[float, float, float]] = []
    run: list[float] | None = None  # [start, end, notify] of the current raw run
    pending: dict[tuple[float], float] = {}
    for i, (t, v) in enumerate(zip(series.seconds, series.values, strict=True)):
        r = det.update(t, None if math.isnan(v) else v)
        results.append(r)
        flagged = r.is_anomaly and i >= skip
        if tracker is not None:
            if i < skip:
                continue
            r_eff = r if flagged else type(r)(r.score, r.expected, r.lower, r.upper, False)
            for ev in tracker.update(t, r_eff):
                if ev.kind == "open":
                    pending[(ev.anomaly.start,)] = t
                elif ev.kind == "close":
                    events.append((ev.anomaly.start, ev.anomaly.end, pending.pop((ev.anomaly.start,), ev.anomaly.start)))
            continue
        if flagged:
            if run is None:
                run = [t, t, t]
            run[1] = t
        elif run is not None:
            events.append((run[0], run[1], run[2]))
            run = None
    if tracker is not None:
        for ev in tracker.flush():
            events.append((ev.anomaly.start, ev.anomaly.end, pending.pop((ev.anomaly.start,), ev.anomaly.start)))
    elif run is not None:
        events.append((run[0], run[1], run[2]))
    return results, events


def score_file(series: Series, windows: list[tuple[float, float]], events: list[tuple[float, float, float]], probation: float) -> FileScore:
    skip = int(probation * len(series.seconds))
    secs = series.seconds[skip:]
    days = (secs[-1] - secs[0]) / 86_400.0 if len(secs) > 1 else 0.0
    detected = 0
    delays: list[float] = []
    for ws, we in windows:
        hits = [e for e in events if e[0] <= we and e[1] >= ws]
        if hits:
            detected += 1
            first = min(max(e[2], e[0]) for e in hits)
            delays.append(max(0.0, first - ws))
    true_events = sum(1 for e in events if any(e[0] <= we and e[1] >= ws for ws, we in windows))
    return FileScore(series.name, len(series.values), days, len(windows), detected, len(events), true_events, delays)


def evaluate(
    detector_spec: dict[str, Any],
    series_dir: Path | str,
    labels: Path | str | dict[str, list[tuple[float, float]]],
    scores_out: Path | str | None = None,
    probation: float = 0.0,
) -> EvalReport:
    """Run the detector causally over every CSV of `series_dir` and score it against the labels."""
    spec, source = spec_source(detector_spec)
    parse_detector_config(spec, source)  # validate once, with the spec's file name in errors
    series_dir = Path(series_dir)
    if not series_dir.is_dir():
        raise UsageError(f"{relative(series_dir)}: not a directory")
    if isinstance(labels, dict):  # already loaded: {file: [[start, end], ...]} with any timestamp form
        label_map = {Path(k).name: [(to_seconds(a), to_seconds(b)) for a, b in v] for k, v in labels.items()}
    else:
        label_map = read_labels(Path(labels))
    files = sorted(series_dir.glob("*.csv"))
    if not files:
        raise UsageError(f"{relative(series_dir)}: no .csv series found")
    report = EvalReport([])
    writer = None
    fh = None
    if scores_out is not None:
        fh = Path(scores_out).open("w", newline="")  # noqa: SIM115 - closed in finally
        writer = csv.writer(fh)
        writer.writerow(["file", "timestamp", "value", "score", "expected", "lower", "upper", "is_anomaly", "in_window"])
    try:
        for path in files:
            series = read_series(path)
            windows = label_map.get(path.name, [])
            results, events = detect_events(series, spec, probation)
            report.files.append(score_file(series, windows, events, probation))
            if writer is not None:
                for ts, sec, v, r in zip(series.timestamps, series.seconds, series.values, results, strict=True):
                    inside = any(a <= sec <= b for a, b in windows)
                    writer.writerow([path.name, ts, _fmt(v), _fmt(r.score), _fmt(r.expected), _fmt(r.lower), _fmt(r.upper), int(r.is_anomaly), int(inside)])
    finally:
        if fh is not None:
            fh.close()
    return report


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
    return "\n".join(lines)
