"""Offline evaluation of root-cause localisation on RCA snapshots (Squeeze/RiskLoc format).

A corpus is a folder of settings, each a folder of `<timestamp>.csv` snapshots (dimension columns +
`real` (current) + `predict` (baseline/forecast)) plus `injection_info.csv` with the truth
(`timestamp,set`, `set` like `a=a1&b=b2;c=c3`; other columns are ignored, except `kind`, kept for a
breakdown). A single setting folder works too, and so does the generator's layout (a snapshot
folder and a separate truth CSV).

Scoring as in the Squeeze and RiskLoc papers: an element counts as a TP when it matches a true
element exactly (same dimensions, same values). TP/FP/FN are summed over a setting's snapshots
(micro precision, recall, F1), and the corpus figure is the mean F1 over the settings. A truth row
without its snapshot, or a snapshot without a truth row, is reported and left out of the scores.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from flinksql_gen.errors import DefinitionError, Location, Problem, UsageError, relative
from flinksql_gen.rca.baseline import localize_baseline
from flinksql_gen.rca.leaves import LeafTable, format_root_cause_set, parse_root_cause_set
from flinksql_gen.rca.localize import Explanation, localize

TRUTH_FILE = "injection_info.csv"
METHODS: dict[str, Callable[..., list[Explanation]]] = {"localize": localize, "baseline": localize_baseline}


@dataclass
class RcaCase:
    setting: str
    timestamp: str
    kind: str
    truth: str
    predicted: str
    tp: int
    fp: int
    fn: int
    seconds: float  # wall time of the localisation
    cpu_seconds: float = 0.0  # this process's CPU time for it: the cost, without other processes' load


def _prf(cases: Sequence[RcaCase]) -> tuple[float, float, float]:
    tp, fp, fn = sum(c.tp for c in cases), sum(c.fp for c in cases), sum(c.fn for c in cases)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0  # nothing to find and nothing found
    return p, r, f


def _group(cases: Sequence[RcaCase], key: str) -> dict[str, dict[str, Any]]:
    out = {}
    for name in sorted({getattr(c, key) for c in cases}):
        sub = [c for c in cases if getattr(c, key) == name]
        p, r, f = _prf(sub)
        secs = [c.seconds for c in sub]
        cpu = [c.cpu_seconds for c in sub]
        out[name] = {"cases": len(sub), "precision": p, "recall": r, "f1": f,
                     "mean_ms": 1000 * statistics.fmean(secs), "max_ms": 1000 * max(secs),
                     "mean_cpu_ms": 1000 * statistics.fmean(cpu), "max_cpu_ms": 1000 * max(cpu)}  # fmt: skip
    return out


@dataclass
class RcaReport:
    method: str = "localize"
    cases: list[RcaCase] = field(default_factory=list)
    missing_snapshots: list[str] = field(default_factory=list)  # truth rows (file:line) without a snapshot
    unlabelled_snapshots: list[str] = field(default_factory=list)  # snapshots without a truth row

    def summary(self) -> dict[str, Any]:
        p, r, f = _prf(self.cases)
        secs = [c.seconds for c in self.cases]
        by_setting = _group(self.cases, "setting")
        return {
            "method": self.method,
            "cases": len(self.cases),
            "settings": len(by_setting),
            "mean_setting_f1": statistics.fmean(s["f1"] for s in by_setting.values()) if by_setting else 0.0,
            "min_setting_f1": min((s["f1"] for s in by_setting.values()), default=0.0),
            "precision": p,
            "recall": r,
            "f1": f,
            "exact_cases": sum(1 for c in self.cases if c.fp == 0 and c.fn == 0),
            "mean_ms": 1000 * statistics.fmean(secs) if secs else 0.0,
            "max_ms": 1000 * max(secs) if secs else 0.0,
            "mean_cpu_ms": 1000 * statistics.fmean(c.cpu_seconds for c in self.cases) if secs else 0.0,
            "max_cpu_ms": 1000 * max(c.cpu_seconds for c in self.cases) if secs else 0.0,
            "by_setting": by_setting,
            "by_kind": _group(self.cases, "kind"),
            "missing_snapshots": self.missing_snapshots,
            "unlabelled_snapshots": self.unlabelled_snapshots,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "cases": [asdict(c) for c in self.cases]}


def read_truth(path: Path) -> list[dict[str, str]]:
    """Truth rows with their line number (`_line`); bad rows are errors with file:line."""
    if not path.is_file():
        raise UsageError(f"{relative(path)}: no such file")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "timestamp" not in reader.fieldnames or "set" not in reader.fieldnames:
            raise DefinitionError([Problem(Location(relative(path), 1), "", "expected a header with 'timestamp' and 'set'")])
        rows, seen, problems = [], {}, []
        for line, row in enumerate(reader, start=2):
            loc = Location(relative(path), line)
            ts = (row["timestamp"] or "").strip()
            if not ts:
                problems.append(Problem(loc, "timestamp", "empty timestamp"))
                continue
            if ts in seen:
                problems.append(Problem(loc, "timestamp", f"{ts!r} repeats line {seen[ts]}"))
                continue
            seen[ts] = line
            try:
                parse_root_cause_set(row["set"] or "")
            except ValueError as exc:
                problems.append(Problem(loc, "set", str(exc), "write dim=value&dim=value;dim=value"))
                continue
            rows.append({**row, "timestamp": ts, "_line": str(line)})
    if problems:
        raise DefinitionError(problems)
    return rows


def read_snapshot(path: Path) -> LeafTable:
    """One snapshot: every column but `real` and `predict` is a dimension."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DefinitionError([Problem(Location(relative(path), 1), "", "empty file: expected a header")]) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(Location(relative(path)), "", f"cannot read CSV: {exc}")]) from None
    missing = {"real", "predict"} - set(frame.columns)
    if missing:
        raise DefinitionError([Problem(Location(relative(path), 1), "", f"missing column(s) {sorted(missing)}",
                                       "a snapshot has dimension columns plus 'real' and 'predict'")])  # fmt: skip
    if len(frame.columns) < 3:
        raise DefinitionError([Problem(Location(relative(path), 1), "", "no dimension column besides real and predict")])
    for col in ("real", "predict"):
        values = pd.to_numeric(frame[col].str.strip(), errors="coerce")
        bad = values.isna()
        if bad.any():
            line = int(bad.to_numpy().nonzero()[0][0]) + 2
            raise DefinitionError([Problem(Location(relative(path), line), col, f"not a number: {frame[col][bad].iloc[0]!r}")])
        frame[col] = values
    return LeafTable.from_frame(frame, baseline="predict", current="real")


def _key(element: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(element.items())


def find_settings(root: Path) -> list[tuple[str, Path, Path]]:
    """(name, snapshot folder, truth CSV) of a setting folder, or of each setting under a corpus folder."""
    if not root.is_dir():
        raise UsageError(f"{relative(root)}: not a directory")
    if (root / TRUTH_FILE).is_file():
        return [(root.name, root, root / TRUTH_FILE)]
    settings = sorted(p for p in root.rglob(TRUTH_FILE) if p.is_file())
    if not settings:
        raise UsageError(f"{relative(root)}: no {TRUTH_FILE} in it or in any folder below it")
    return [(p.parent.relative_to(root).as_posix(), p.parent, p) for p in settings]


def evaluate_corpus(
    root: Path | str,
    truth_csv: Path | str | None = None,
    methods: Sequence[str] = ("localize",),
    **localize_options: Any,
) -> dict[str, RcaReport]:
    """One report per method; every snapshot is read once and given to each method."""
    root = Path(root)
    settings = [(root.name, root, Path(truth_csv))] if truth_csv is not None else find_settings(root)
    if truth_csv is not None and not root.is_dir():
        raise UsageError(f"{relative(root)}: not a directory")
    for m in methods:
        if m not in METHODS:
            raise UsageError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    reports = {m: RcaReport(m) for m in methods}
    for name, snap_dir, truth_path in settings:
        rows = read_truth(truth_path)
        known = {r["timestamp"] for r in rows}
        extra = sorted(p for p in snap_dir.glob("*.csv") if p != truth_path and p.stem not in known)
        for r in reports.values():
            r.unlabelled_snapshots += [relative(p) for p in extra]
        for row in rows:
            ts = row["timestamp"]
            path = snap_dir / f"{ts}.csv"
            if not path.is_file():
                for r in reports.values():
                    r.missing_snapshots.append(f"{relative(truth_path)}:{row['_line']}: no snapshot {relative(path)}")
                continue
            leaves = read_snapshot(path)
            truth = {_key(e) for e in parse_root_cause_set(row["set"] or "")}
            for m, report in reports.items():
                start, cpu = time.perf_counter(), time.process_time()
                found = METHODS[m](leaves, **localize_options)
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
                pred = {_key(e.dims) for e in found}
                report.cases.append(RcaCase(name, ts, row.get("kind") or "", row["set"],
                                            format_root_cause_set([e.dims for e in found], leaves.dimensions),
                                            len(truth & pred), len(pred - truth), len(truth - pred), seconds,
                                            cpu))  # fmt: skip
    return reports


def evaluate_rca(snapshot_dir: Path | str, truth_csv: Path | str | None = None, **localize_options: Any) -> RcaReport:
    """The new localisation on one snapshot folder + truth CSV, or on a corpus folder."""
    return evaluate_corpus(snapshot_dir, truth_csv, ("localize",), **localize_options)["localize"]


def format_rca_report(reports: RcaReport | dict[str, RcaReport]) -> str:
    """Per setting: cases, precision, recall, F1, time per case; one F1 and time column per further method."""
    if isinstance(reports, RcaReport):
        reports = {reports.method: reports}
    main, *others = reports.values()
    s = main.summary()
    o = [r.summary() for r in others]
    head = "| setting | cases | precision | recall | F1 | ms/case mean (CPU) | ms/case max (CPU) |"
    head += "".join(f" F1 {x['method']} | ms/case {x['method']} (CPU) |" for x in o)
    lines = [head, "|---" + "|---:" * (6 + 2 * len(o)) + "|"]

    def ms(k: dict[str, Any], which: str) -> str:
        return f"{k[which + '_ms']:.1f} ({k[which + '_cpu_ms']:.1f})"

    for name, k in s["by_setting"].items():
        row = f"| {name} | {k['cases']} | {k['precision']:.3f} | {k['recall']:.3f} | {k['f1']:.3f} | {ms(k, 'mean')} | {ms(k, 'max')} |"
        row += "".join(f" {x['by_setting'][name]['f1']:.3f} | {ms(x['by_setting'][name], 'mean')} |" for x in o)
        lines.append(row)
    row = f"| **mean over settings** | {s['cases']} | | | **{s['mean_setting_f1']:.3f}** | {ms(s, 'mean')} | {ms(s, 'max')} |"
    row += "".join(f" {x['mean_setting_f1']:.3f} | {ms(x, 'mean')} |" for x in o)
    lines.append(row)
    row = f"| all cases (micro) | {s['cases']} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | | |"
    row += "".join(f" {x['f1']:.3f} | |" for x in o)
    lines.append(row)
    if any(s["by_kind"]) and len(s["by_kind"]) > 1:
        lines += ["", "| kind | cases | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {kind} | {k['cases']} | {k['precision']:.3f} | {k['recall']:.3f} | {k['f1']:.3f} |"
                  for kind, k in s["by_kind"].items()]  # fmt: skip
    lines.append("")
    lines.append(f"method {s['method']}: exact localisations {s['exact_cases']}/{s['cases']}; lowest setting F1 "
                 f"{s['min_setting_f1']:.3f}; time per case is the localisation alone (CSV reading excluded), wall clock "
                 "and (this process's CPU time, unaffected by other processes' load)")  # fmt: skip
    for what, items in (("truth rows without a snapshot (not scored)", s["missing_snapshots"]),
                        ("snapshots without a truth row (not scored)", s["unlabelled_snapshots"])):  # fmt: skip
        if items:
            lines.append(f"{len(items)} {what}:")
            lines += [f"  {x}" for x in items]
    return "\n".join(lines)
