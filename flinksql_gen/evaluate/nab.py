"""NAB scoring (Numenta Anomaly Benchmark, Lavin & Ahmad 2015), vectorised with numpy.

The rules, as in NAB's nab/sweeper.py:
  - probation: the first min(floor(0.15 n), 750) rows of each file are not scored (neither
    detections nor window rows); a window with no row after probation is not scored either;
  - a row inside a window scores tp * S(p) / S(-1), p = -(right - i + 1) / width, where
    S(x) = 2 sigmoid(-5x) - 1 (right = index of the window's last row, width its row count):
    only the window's best, i.e. earliest, detection counts; a missed window costs -fn;
  - a row outside any window, when detected, scores fp * S(d), d = (i - right_prev) /
    (width_prev - 1) after the previous window (S = -1 before the first window, and for d >= 3),
    so detections just after a window cost little and far ones cost fp each;
  - one threshold per profile is swept over the whole corpus (a row is detected when its score
    is >= the threshold) and the best corpus total is kept;
  - normalised score = 100 (raw - null) / (perfect - null), with perfect = tp x windows and
    null = -fn x windows (NAB's null detector on data whose windows all lie after probation: here
    windows inside probation cannot be scored, so a null detector scores a little above 0 and a
    perfect one a little below 100).
Windows are matched to rows by time (start <= t <= end), in arrival order: the window spans the
first to the last row inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

PROFILES: dict[str, tuple[float, float, float]] = {  # tp, fp, fn weights
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP": (1.0, 0.22, 1.0),
    "reward_low_FN": (1.0, 0.11, 2.0),
}
PROBATION = 0.15
PROBATION_CAP = 750  # NAB: probationPercent * 5000


def scaled_sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    out = 2.0 / (1.0 + np.exp(np.clip(5.0 * x, -700, 700))) - 1.0
    return np.where(x >= 3.0, -1.0, out)


MAX_TP = float(scaled_sigmoid(np.array(-1.0)))


def probation_rows(n: int) -> int:
    return int(min(math.floor(PROBATION * n), PROBATION_CAP))


@dataclass
class FileRows:
    """One file's rows prepared for the sweep (independent of the profile's weights)."""

    name: str
    scores: np.ndarray  # detector score per row (NaN -> 0)
    window: np.ndarray  # window number in the file per row, -1 outside
    tp_unit: np.ndarray  # S(p) / S(-1) inside windows, 0 outside
    fp_unit: np.ndarray  # S(d) outside windows (<= 0), 0 inside
    scored: np.ndarray  # bool: after probation
    windows: int  # labelled windows
    scorable: list[int] = field(default_factory=list)  # window numbers with a row after probation


def prepare(name: str, seconds: np.ndarray, scores: np.ndarray, windows: list[tuple[float, float]]) -> FileRows:
    n = len(seconds)
    seconds = np.asarray(seconds, dtype=float)
    win = np.full(n, -1, dtype=np.int64)
    tp_unit = np.zeros(n)
    bounds: list[tuple[int, int]] = []
    for k, (a, b) in enumerate(sorted(windows)):
        idx = np.flatnonzero((seconds >= a) & (seconds <= b))
        if idx.size == 0:
            bounds.append((-1, -1))
            continue
        left, right = int(idx[0]), int(idx[-1])
        bounds.append((left, right))
        width = right - left + 1
        rows = np.arange(left, right + 1)
        free = win[rows] < 0  # overlapping windows: the earlier one keeps its rows
        rows = rows[free]
        win[rows] = k
        tp_unit[rows] = scaled_sigmoid(-(right - rows + 1) / width) / MAX_TP
    fp_unit = np.zeros(n)
    outside = np.flatnonzero(win < 0)
    if outside.size:
        # previous window end and width for each outside row
        ends = np.array([r for _, r in bounds if r >= 0], dtype=np.int64)
        widths = np.array([r - left + 1 for left, r in bounds if r >= 0], dtype=float)
        order = np.argsort(ends)
        ends, widths = ends[order], widths[order]
        pos = np.searchsorted(ends, outside, side="left") - 1  # last window ending before the row
        dist = np.full(outside.size, 3.0)
        has = pos >= 0
        if has.any():
            w = widths[pos[has]]
            d = (outside[has] - ends[pos[has]]) / np.maximum(w - 1.0, 1.0)
            dist[has] = np.where(w > 1, d, 3.0)
        fp_unit[outside] = scaled_sigmoid(dist)
    skip = probation_rows(n)
    scored = np.arange(n) >= skip
    scorable = sorted({int(k) for k in np.unique(win[scored]) if k >= 0})
    clean = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0, posinf=1.0, neginf=0.0)
    return FileRows(name, clean, win, tp_unit, fp_unit, scored, len(windows), scorable)


@dataclass
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    tp: int  # detected windows
    fn: int  # missed scorable windows
    fp: int  # detected rows outside windows (after probation)

    @property
    def score(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null) if self.perfect != self.null else math.nan


def sweep(files: list[FileRows], profile: str) -> ProfileResult:
    """The best corpus total over all thresholds, for one cost profile."""
    tp_w, fp_w, fn_w = PROFILES[profile]
    total_windows = sum(f.windows for f in files)
    scores, fp_gain, win_id, tp_gain = [], [], [], []
    offset = 0
    n_scorable = 0
    for f in files:
        m = f.scored
        scores.append(f.scores[m])
        fp_gain.append(np.where(f.window[m] < 0, fp_w * f.fp_unit[m], 0.0))
        win_id.append(np.where(f.window[m] >= 0, f.window[m] + offset, -1))
        tp_gain.append(tp_w * f.tp_unit[m])
        offset += max(f.windows, 1)
        n_scorable += len(f.scorable)
    s = np.concatenate(scores) if scores else np.zeros(0)
    fpg = np.concatenate(fp_gain) if fp_gain else np.zeros(0)
    wid = np.concatenate(win_id) if win_id else np.zeros(0, dtype=np.int64)
    tpg = np.concatenate(tp_gain) if tp_gain else np.zeros(0)
    base = -fn_w * n_scorable
    order = np.argsort(-s, kind="stable")
    s, fpg, wid, tpg = s[order], fpg[order], wid[order], tpg[order]
    # window part: a window's value is max(-fn, best tp gain among its detected rows so far)
    delta = np.zeros(s.size)
    inw = np.flatnonzero(wid >= 0)
    if inw.size:
        g = wid[inw]
        by = np.lexsort((inw, g))  # group by window, in sweep order
        gi, pos = g[by], inw[by]
        # running max per group: offset each group above the previous ones
        rank = np.cumsum(np.r_[True, gi[1:] != gi[:-1]]) * 10.0
        run = np.maximum.accumulate(tpg[pos] + rank) - rank
        eff = np.maximum(run, -fn_w)
        first = np.r_[True, gi[1:] != gi[:-1]]
        prev = np.where(first, -fn_w, np.r_[-fn_w, eff[:-1]])
        delta[pos] = eff - prev
    total = base + np.cumsum(fpg + delta)
    # only the last row of each run of equal scores is a threshold
    last = np.r_[s[1:] != s[:-1], True] if s.size else np.zeros(0, dtype=bool)
    cand = np.flatnonzero(last)
    best_i = int(cand[np.argmax(total[cand])]) if cand.size else -1
    if cand.size == 0 or total[best_i] <= base:
        raw, thr, k = base, math.inf, -1  # detecting nothing is best
    else:
        raw, thr, k = float(total[best_i]), float(s[best_i]), best_i
    det = np.zeros(s.size, dtype=bool)
    det[: k + 1] = True
    tp = len(np.unique(wid[det & (wid >= 0)]))
    fp = int(np.sum(det & (wid < 0)))
    return ProfileResult(profile, thr, raw, -fn_w * total_windows, tp_w * total_windows, tp, n_scorable - tp, fp)


def score_corpus(files: list[FileRows]) -> dict[str, ProfileResult]:
    return {p: sweep(files, p) for p in PROFILES}


def format_nab(results: dict[str, ProfileResult]) -> str:
    lines = [
        "| NAB profile | score | threshold | detected windows | missed | false positive rows |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results.values():
        lines.append(f"| {r.profile} | {r.score:.1f} | {r.threshold:.4g} | {r.tp} | {r.fn} | {r.fp} |")
    return "\n".join(lines)
