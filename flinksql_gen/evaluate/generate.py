"""Deterministic labelled benchmark: NAB-like series and Squeeze/RiskLoc-like RCA snapshots.

Layout written under OUT_DIR:
  series/<kind>_<i>.csv        timestamp,value (5-minute points, 14 days)
  labels.json                  {"<kind>_<i>.csv": [["start", "end"], ...]}  anomaly windows
  rca/snapshots/<ts>.csv       one per anomalous timestamp: dimension columns + real + predict
  rca/truth.csv                timestamp,set,kind  with set like  a=a3&b=b1;c=c2
Everything depends only on the seed.

Series kinds (anomalies start after the first 20 %, label window = [onset, onset + 4 h]):
  spike, level_shift, drift (slope change), seasonal (daily profile + spike/dip/pattern change),
  variance (noise x 4), random_walk (+ spikes), heavy_tail (Student-t noise + level shift),
  counts (Poisson, rate jump), and `clean` files (no anomaly: only false positives can happen there).
RCA cases: single-dimension, two- and three-dimension combinations, and two coexisting causes.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from itertools import pairwise, product
from pathlib import Path
from typing import Any

import numpy as np

STEP = timedelta(minutes=5)
DAY = 288
LENGTH = 14 * DAY
WINDOW = 48  # points (4 h)
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
SERIES_KINDS = ("spike", "level_shift", "drift", "seasonal", "variance", "random_walk", "heavy_tail", "counts", "clean")


def _ts(i: int) -> str:
    return (START + i * STEP).strftime("%Y-%m-%d %H:%M:%S")


def _onsets(rng: np.random.Generator, k: int, n: int = LENGTH) -> list[int]:
    """k onsets after the first 20 %, at least 2 days apart, ending a window before the end."""
    lo, hi = int(0.2 * n), n - 2 * WINDOW
    while True:
        pts = sorted(int(x) for x in rng.integers(lo, hi, size=k))
        if all(b - a >= 2 * DAY for a, b in pairwise(pts)):
            return pts


def make_series(kind: str, rng: np.random.Generator, n: int = LENGTH) -> tuple[np.ndarray, list[int]]:
    """(values, anomaly onsets) for one series of the given kind."""
    t = np.arange(n)
    base = rng.uniform(20, 200)
    sd = base * rng.uniform(0.01, 0.05)
    noise = rng.normal(0, sd, n)
    onsets: list[int] = []
    if kind == "spike":
        x = base + noise
        onsets = _onsets(rng, 3)
        for o in onsets:
            x[o] += rng.choice([-1, 1]) * rng.uniform(5, 10) * sd
    elif kind == "level_shift":
        x = base + noise
        onsets = _onsets(rng, 2)
        for o in onsets:
            x[o:] += rng.choice([-1, 1]) * rng.uniform(4, 8) * sd
    elif kind == "drift":
        x = base + noise
        onsets = _onsets(rng, 1)
        o = onsets[0]
        x[o:] += rng.choice([-1, 1]) * (t[o:] - o) * sd * rng.uniform(0.3, 0.6)  # 0.3-0.6 sd per point
    elif kind == "seasonal":
        amp = base * rng.uniform(0.2, 0.5)
        x = base + amp * np.sin(2 * np.pi * t / DAY + rng.uniform(0, 2 * np.pi)) + noise
        onsets = _onsets(rng, 2)
        o1, o2 = onsets
        x[o1] += rng.choice([-1, 1]) * rng.uniform(6, 10) * sd
        x[o2 : o2 + WINDOW // 2] -= amp * 0.8  # a dip lasting 2 h: the daily pattern breaks
    elif kind == "variance":
        x = base + noise
        onsets = _onsets(rng, 1)
        o = onsets[0]
        x[o:] = base + rng.normal(0, 4 * sd, n - o)
    elif kind == "random_walk":
        x = base + np.cumsum(rng.normal(0, sd * 0.3, n)) + rng.normal(0, sd * 0.3, n)
        onsets = _onsets(rng, 2)
        for o in onsets:
            x[o] += rng.choice([-1, 1]) * rng.uniform(6, 10) * sd
    elif kind == "heavy_tail":
        x = base + sd * rng.standard_t(3, n) / np.sqrt(3)
        onsets = _onsets(rng, 1)
        x[onsets[0] :] += rng.choice([-1, 1]) * rng.uniform(5, 8) * sd
    elif kind == "counts":
        lam = rng.uniform(3, 15)
        rate = np.full(n, lam)
        onsets = _onsets(rng, 1)
        rate[onsets[0] :] = lam * rng.uniform(2.0, 3.0)
        x = rng.poisson(rate).astype(float)
    elif kind == "clean":
        amp = base * rng.uniform(0.0, 0.4)
        x = base + amp * np.sin(2 * np.pi * t / DAY) + noise
    else:
        raise ValueError(f"unknown series kind {kind!r}")
    return np.round(x, 4), onsets


def write_series_benchmark(out: Path, seed: int = 0, per_kind: int = 2) -> dict[str, list[list[str]]]:
    rng = np.random.default_rng(seed)
    series_dir = out / "series"
    series_dir.mkdir(parents=True, exist_ok=True)
    labels: dict[str, list[list[str]]] = {}
    for kind in SERIES_KINDS:
        for i in range(per_kind):
            values, onsets = make_series(kind, rng)
            name = f"{kind}_{i}.csv"
            with (series_dir / name).open("w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["timestamp", "value"])
                for j, v in enumerate(values):
                    w.writerow([_ts(j), f"{v:g}"])
            labels[name] = [[_ts(o), _ts(o + WINDOW)] for o in onsets]
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    return labels


# --- RCA snapshots ---------------------------------------------------------------------------
RCA_DIMS = {"a": 6, "b": 5, "c": 4, "d": 8}
RCA_CASES = [("single", 1)] * 8 + [("pair", 2)] * 8 + [("triple", 3)] * 7 + [("two_causes", 0)] * 7


def _leaves(rng: np.random.Generator) -> list[dict[str, Any]]:
    names = list(RCA_DIMS)
    rows = []
    for combo in product(*(range(k) for k in RCA_DIMS.values())):
        if rng.random() < 0.25:  # sparse cube: not every combination exists
            continue
        predict = float(rng.lognormal(4.0, 1.2))
        rows.append({**{n: f"{n}{v + 1}" for n, v in zip(names, combo, strict=True)}, "predict": predict})
    return rows


def _random_element(rng: np.random.Generator, depth: int, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Dimensions at random; values from a leaf drawn in proportion to its size (so causes matter)."""
    dims = sorted(rng.choice(list(RCA_DIMS), size=depth, replace=False).tolist(), key=list(RCA_DIMS).index)
    weights = np.array([r["predict"] for r in rows])
    leaf = rows[int(rng.choice(len(rows), p=weights / weights.sum()))]
    return {d: leaf[d] for d in dims}


def _inside(row: dict[str, Any], element: dict[str, str]) -> bool:
    return all(row[k] == v for k, v in element.items())


def make_snapshot(
    rng: np.random.Generator, kind: str, depth: int, noise: float = 0.02, magnitude: tuple[float, float] = (0.3, 0.8)
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    rows = _leaves(rng)
    total = sum(r["predict"] for r in rows)
    while True:
        if kind == "two_causes":
            elements = [_random_element(rng, int(rng.integers(1, 3)), rows), _random_element(rng, int(rng.integers(1, 4)), rows)]
        else:
            elements = [_random_element(rng, depth, rows)]
        members = [[r for r in rows if _inside(r, e)] for e in elements]
        if any(len(m) < 2 for m in members):
            continue
        if len(elements) == 2 and any(_inside(r, elements[1]) for r in members[0]):
            continue  # overlapping causes: draw again
        shares = [sum(r["predict"] for r in m) / total for m in members]
        if min(shares) >= 0.01 and sum(shares) <= 0.6:
            break
    sign = rng.choice([-1.0, 1.0])
    for r in rows:
        r["real"] = r["predict"] * (1 + rng.normal(0, noise))
    for m in members:
        mag = sign * rng.uniform(*magnitude)
        for r in m:
            r["real"] = r["predict"] * (1 + mag) * (1 + rng.normal(0, noise))
    return rows, elements


def write_rca_benchmark(
    out: Path, seed: int = 0, noise: float = 0.02, magnitude: tuple[float, float] = (0.3, 0.8)
) -> list[tuple[int, str, str]]:
    """RCA cases; leaf noise is relative (sd), the cause's relative change is drawn from `magnitude`."""
    from flinksql_gen.rca.leaves import format_root_cause_set

    rng = np.random.default_rng(seed + 1_000_003)
    snap_dir = out / "rca" / "snapshots"
    snap_dir.mkdir(parents=True, exist_ok=True)
    truth = []
    dims = list(RCA_DIMS)
    for i, (kind, depth) in enumerate(RCA_CASES):
        ts = 1_704_067_200 + i * 3600
        rows, elements = make_snapshot(rng, kind, depth, noise, magnitude)
        with (snap_dir / f"{ts}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([*dims, "real", "predict"])
            for r in rows:
                w.writerow([*(r[d] for d in dims), f"{r['real']:.4f}", f"{r['predict']:.4f}"])
        truth.append((ts, format_root_cause_set(elements, dims), kind))
    with (out / "rca" / "truth.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "set", "kind"])
        w.writerows(truth)
    return truth


def generate_benchmark(out_dir: Path | str, seed: int = 0, per_kind: int = 2) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = write_series_benchmark(out, seed, per_kind)
    truth = write_rca_benchmark(out, seed)
    return {"series": len(labels), "windows": sum(len(v) for v in labels.values()), "rca_cases": len(truth)}
