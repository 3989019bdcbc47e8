"""A visual report of one metric: PNG charts + a small self-contained HTML page.

- series.png: the metric, the detector's expected value and band, detected anomalies, and the
  labelled windows (when labels are given);
- contributions.png (when an RCA snapshot is given): the drill-down, i.e. ThirdEye's contribution
  to the overall change of each dimension value, plus the localised root causes in the page.
"""

from __future__ import annotations

import base64
import html
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.evaluate.io import read_labels, read_series, spec_source
from flinksql_gen.evaluate.metrics import detect_events, score_file
from flinksql_gen.evaluate.rca_eval import read_snapshot
from flinksql_gen.rca.contribution import contribution_analysis
from flinksql_gen.rca.localize import localize


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def plot_series(series: Any, results: list[Any], events: list[tuple[float, float, float]], windows: list[tuple[float, float]], title: str, path: Path) -> None:
    times = [_dt(s) for s in series.seconds]
    fig, ax = plt.subplots(figsize=(13, 4.2), dpi=110)
    exp = [r.expected for r in results]
    lo = [r.lower if math.isfinite(r.lower) else math.nan for r in results]
    hi = [r.upper if math.isfinite(r.upper) else math.nan for r in results]
    for i, (ws, we) in enumerate(windows):
        ax.axvspan(_dt(ws), _dt(we), color="#f4c542", alpha=0.35, lw=0, label="labelled window" if i == 0 else None)
    ax.fill_between(times, lo, hi, color="#9ecae1", alpha=0.45, lw=0, label="expected band")
    ax.plot(times, series.values, color="#252525", lw=0.8, label="value")
    ax.plot(times, exp, color="#3182bd", lw=0.9, ls="--", label="expected")
    flagged = [(t, v) for t, v, r in zip(times, series.values, results, strict=True) if r.is_anomaly]
    if flagged:
        ax.scatter([t for t, _ in flagged], [v for _, v in flagged], s=22, color="#d62728", zorder=5, label="detected")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(alpha=0.25)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.legend(loc="upper left", fontsize=8, ncol=5, framealpha=0.85)
    finite = [v for v in series.values if math.isfinite(v)]
    if finite:  # keep the y range on the data, not on a band that exploded at cold start
        span = max(finite) - min(finite) or 1.0
        ax.set_ylim(min(finite) - 0.15 * span, max(finite) + 0.25 * span)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_contributions(contribs: list[Any], title: str, path: Path, top: int = 12) -> None:
    items = [c for c in contribs if not math.isnan(c.contribution_to_overall_change_pct)][:top]
    items = items[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.42 * max(len(items), 3) + 1.2), dpi=110)
    labels = [f"{c.dimension}={c.value}" for c in items]
    vals = [c.contribution_to_overall_change_pct for c in items]
    colors = ["#d62728" if v < 0 else "#2ca02c" for v in vals]
    ax.barh(labels, vals, color=colors)
    for y, (v, c) in enumerate(zip(vals, items, strict=True)):
        ax.text(v, y, f" {v:+.0f}% (value {c.value_change_pct:+.0f}%)", va="center", ha="left" if v >= 0 else "right", fontsize=8)
    ax.axvline(0, color="#444", lw=0.8)
    ax.set_xlabel("contribution to the overall change (%)")
    ax.set_title(title, fontsize=11, loc="left")
    lim = max([abs(v) for v in vals] + [1.0]) * 1.6
    ax.set_xlim(-lim, lim)
    ax.grid(axis="x", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _windows_of(label_map: dict[str, list[tuple[float, float]]], name: str) -> list[tuple[float, float]]:
    """The file's windows: its own key, else the one key `<folder>/<name>` (labels of a corpus)."""
    if name in label_map:
        return label_map[name]
    keys = [k for k in label_map if k.rsplit("/", 1)[-1] == name]
    return label_map[keys[0]] if len(keys) == 1 else []


def _drilldown_section(snapshot_csv: Path, png: Path) -> list[str]:
    """The root causes of a snapshot, and its contributions chart and table."""
    leaves = read_snapshot(snapshot_csv)
    contribs = contribution_analysis(leaves)
    causes = localize(leaves)
    plot_contributions(contribs, f"Drill-down of {snapshot_csv.name}", png)
    return [
        "<h2>Root causes</h2>",
        _table(
            ["element", "baseline", "current", "change", "share of total change"],
            [
                ["&".join(f"{k}={v}" for k, v in e.dims.items()), f"{e.baseline:.1f}", f"{e.current:.1f}", f"{e.change:+.1f}", f"{e.share:.0%}"]
                for e in causes
            ]
            or [["(none found)", "", "", "", ""]],
        ),
        "<h2>Contributions by dimension value</h2>",
        _img(png),
        _table(
            ["dimension", "value", "baseline", "current", "value change %", "contribution change %", "contribution to overall change %", "cost"],
            [
                [c.dimension, c.value, f"{c.baseline:.1f}", f"{c.current:.1f}", f"{c.value_change_pct:+.1f}",
                 f"{c.contribution_change_pct:+.2f}", f"{c.contribution_to_overall_change_pct:+.1f}", f"{c.cost:.1f}"]
                for c in contribs[:15]
            ],
        ),
    ]


def render_report(
    detector_spec: dict[str, Any],
    series_csv: Path | str,
    out_dir: Path | str,
    labels: Path | str | None = None,
    snapshot_csv: Path | str | None = None,
) -> dict[str, Path]:
    """Write series.png (+ contributions.png) and report.html into out_dir; return their paths."""
    spec, source = spec_source(detector_spec)
    config = parse_detector_config(spec, source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    series = read_series(Path(series_csv))
    windows = _windows_of(read_labels(Path(labels)), series.name) if labels else []
    results, events = detect_events(series, spec)
    score = score_file(series, windows, events, 0.0)
    paths = {"series_png": out / "series.png"}
    title = f"{series.name} - detector {config.type}"
    plot_series(series, results, events, windows, title, paths["series_png"])
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
        "th{background:#f2f2f2}code{background:#f6f6f6;padding:1px 4px}</style></head><body>",
        f"<h1>{html.escape(series.name)}</h1>",
        f"<p>Detector <code>{html.escape(config.model_dump_json(exclude_none=True))}</code></p>",
        _img(paths["series_png"]),
        "<h2>Detected anomalies</h2>",
        _table(
            ["start", "end", "notified"],
            [[_dt(a).isoformat(), _dt(b).isoformat(), _dt(n).isoformat()] for a, b, n in events] or [["-", "-", "-"]],
        ),
    ]
    if windows:
        parts.append(
            f"<p>Labelled windows: {score.windows}, detected: {score.detected}; "
            f"detection events: {score.events}, outside any window: {score.false_events}.</p>"
        )
    if snapshot_csv:
        paths["contributions_png"] = out / "contributions.png"
        parts += _drilldown_section(Path(snapshot_csv), paths["contributions_png"])
    parts.append("</body></html>")
    paths["html"] = out / "report.html"
    paths["html"].write_text("\n".join(parts))
    return paths
