"""Offline evaluation of root-cause localisation on RCA snapshots (Squeeze/RiskLoc format).

snapshot_dir holds one CSV per anomalous timestamp, named `<timestamp>.csv`: dimension columns +
`real` (current) + `predict` (baseline). truth_csv has `timestamp,set` (extra columns, e.g. `kind`,
are kept for the breakdown). Elements are compared exactly (same dimensions, same values):
TP/FP/FN are summed over all cases (micro-averaged), as in the Squeeze and RiskLoc papers.
"""

from __future__ import annotations

import csv
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from flinksql_gen.errors import DefinitionError, Location, Problem, UsageError, relative
from flinksql_gen.rca.leaves import LeafTable, format_root_cause_set, parse_root_cause_set
from flinksql_gen.rca.localize import localize


@dataclass
class RcaCase:
    timestamp: str
    kind: str
    truth: str
    predicted: str
    tp: int
    fp: int
    fn: int
    seconds: float


@dataclass
class RcaReport:
    cases: list[RcaCase] = field(default_factory=list)

    def _prf(self, cases: list[RcaCase]) -> tuple[float, float, float]:
        tp = sum(c.tp for c in cases)
        fp = sum(c.fp for c in cases)
        fn = sum(c.fn for c in cases)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        return p, r, f

    def summary(self) -> dict[str, Any]:
        p, r, f = self._prf(self.cases)
        secs = [c.seconds for c in self.cases]
        by_kind = {}
        for kind in sorted({c.kind for c in self.cases}):
            sub = [c for c in self.cases if c.kind == kind]
            kp, kr, kf = self._prf(sub)
            by_kind[kind] = {"cases": len(sub), "precision": kp, "recall": kr, "f1": kf}
        return {
            "cases": len(self.cases),
            "precision": p,
            "recall": r,
            "f1": f,
            "exact_cases": sum(1 for c in self.cases if c.fp == 0 and c.fn == 0),
            "mean_ms": 1000 * statistics.fmean(secs) if secs else 0.0,
            "max_ms": 1000 * max(secs) if secs else 0.0,
            "by_kind": by_kind,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "cases": [asdict(c) for c in self.cases]}


def read_truth(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise UsageError(f"{relative(path)}: no such file")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "timestamp" not in reader.fieldnames or "set" not in reader.fieldnames:
            raise DefinitionError([Problem(Location(relative(path), 1), "", "expected a header with 'timestamp' and 'set'")])
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                parse_root_cause_set(row["set"] or "")
            except ValueError as exc:
                raise DefinitionError([Problem(Location(relative(path), line), "set", str(exc), "write dim=value&dim=value;dim=value")]) from None
            rows.append({**row, "_line": str(line)})
    return rows


def read_snapshot(path: Path) -> LeafTable:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(Location(relative(path)), "", f"cannot read CSV: {exc}")]) from None
    missing = {"real", "predict"} - set(frame.columns)
    if missing:
        raise DefinitionError([Problem(Location(relative(path), 1), "", f"missing column(s) {sorted(missing)}")])
    for col in ("real", "predict"):
        values = pd.to_numeric(frame[col].replace("", "0"), errors="coerce")
        bad = values.isna()
        if bad.any():
            line = int(bad.to_numpy().nonzero()[0][0]) + 2
            raise DefinitionError([Problem(Location(relative(path), line), col, f"not a number: {frame[col][bad].iloc[0]!r}")])
        frame[col] = values
    return LeafTable.from_frame(frame, baseline="predict", current="real")


def _key(element: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(element.items())


def evaluate_rca(snapshot_dir: Path | str, truth_csv: Path | str, **localize_options: Any) -> RcaReport:
    snapshot_dir, truth_csv = Path(snapshot_dir), Path(truth_csv)
    if not snapshot_dir.is_dir():
        raise UsageError(f"{relative(snapshot_dir)}: not a directory")
    report = RcaReport()
    for row in read_truth(truth_csv):
        ts = row["timestamp"].strip()
        path = snapshot_dir / f"{ts}.csv"
        if not path.is_file():
            raise DefinitionError([Problem(Location(relative(truth_csv), int(row["_line"])), "timestamp", f"no snapshot {relative(path)}")])
        leaves = read_snapshot(path)
        start = time.perf_counter()
        found = localize(leaves, **localize_options)
        seconds = time.perf_counter() - start
        truth = {_key(e) for e in parse_root_cause_set(row["set"] or "")}
        pred = {_key(e.dims) for e in found}
        report.cases.append(
            RcaCase(
                ts,
                row.get("kind") or "",
                row["set"],
                format_root_cause_set([e.dims for e in found], leaves.dimensions),
                len(truth & pred),
                len(pred - truth),
                len(truth - pred),
                seconds,
            )
        )
    return report


def format_rca_report(report: RcaReport) -> str:
    s = report.summary()
    lines = ["| kind | cases | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
    for kind, k in s["by_kind"].items():
        lines.append(f"| {kind or '-'} | {k['cases']} | {k['precision']:.3f} | {k['recall']:.3f} | {k['f1']:.3f} |")
    lines.append(f"| **all** | {s['cases']} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |")
    lines.append("")
    lines.append(f"exact localisations {s['exact_cases']}/{s['cases']}; time per localisation mean {s['mean_ms']:.1f} ms, max {s['max_ms']:.1f} ms")
    return "\n".join(lines)
