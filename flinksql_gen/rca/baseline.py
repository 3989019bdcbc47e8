"""The previous localisation (count-weighted layer-wise risk search), kept as the baseline that
`evaluate-rca --method baseline` measures next to `localize` in the same run.

It weights every leaf alike (so tables full of tiny or empty leaves dilute a true cause), uses one
ripple ratio per element without magnitude weights, and stops once the unexplained change is below
2 % of the anomalous change (so small causes beside a big one are missed). Original notes:
Multi-dimensional root-cause localisation: the few dimension-value combinations that explain a change.

Choice of method. Adtributor assumes the cause lives in ONE dimension; ThirdEye's hierarchical
cube summary ranks nodes by a cost but does not say which node is *the* cause; HotSpot's MCTS is
slow and random; Squeeze clusters leaves by deviation and needs a tuned density clustering. We use
a layer-wise weighted-risk search in the style of RiskLoc (Kalander 2022), which is simple,
deterministic, fast, and handles causes that are combinations of dimensions and several causes at
once. It rests on the "generalized ripple effect" (Squeeze): all leaves under a root-cause element
change by about the same relative amount, while the other leaves only carry noise.

Steps (our own implementation):
1. Per leaf, the relative deviation dev = 2 (current - baseline) / (|current| + |baseline|) (0 for
   0/0). Noise level sigma = 1.4826 * MAD(dev) over all leaves (most leaves are normal); a leaf is
   anomalous when |dev| > cutoff = max(2 sigma, min_deviation), and its soft membership is
   w = clip(dev / 3 sigma, 0, 1) in the searched direction (so a cause whose change is only ~2
   sigma per leaf still shows as a mostly-anomalous element). Each direction (up/down) is searched
   separately, so opposite-signed causes can coexist.
2. Explanatory power of an element e: ep(e) = sum over its leaves of (current - baseline), over the
   anomalous change of that direction.
3. Risk of e = purity - inconsistency, where
   purity = sum of w over e's leaves / (leaves + 0.5);
   inconsistency = max(0, mean |dev'| - 0.8 sigma) / mean |dev| over e's leaves, dev' comparing
            each leaf with the uniform ripple of e (baseline * current(e) / baseline(e)); a true
            cause changes all its leaves alike, so dev' is only noise (mean 0.8 sigma).
4. Search layer by layer (1 dimension, then pairs, then triples ... up to max_depth), elements in
   each cuboid by decreasing ep; the first one with risk >= risk_threshold is that cuboid's best; the
   best ep over the layer's cuboids wins. Shallow layers first = the most general explanation.
   An element must also be significant: its change beyond z noise sds of its leaves' sum
   (sigma * sqrt(sum baseline^2)), z = 3 for the first cause and 4.5 for further ones (many small
   noise-only elements get tried). Its leaves are removed and the search restarts, until the
   unexplained anomalous change is below min_share of it, no element qualifies, or max_causes.
Cost: O(cuboids x leaves) numpy per found cause; a few ms for thousands of leaves.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from flinksql_gen.rca.leaves import LeafTable
from flinksql_gen.rca.localize import Explanation, deviations


def _noise(dev: np.ndarray) -> float:
    """Robust noise level of the leaf deviations (most leaves are normal)."""
    return 1.4826 * float(np.median(np.abs(dev - np.median(dev)))) if len(dev) else 0.0


def localize_baseline(
    leaves: LeafTable,
    max_depth: int = 3,
    risk_threshold: float = 0.5,
    min_share: float = 0.02,
    min_deviation: float = 0.02,
    max_causes: int = 10,
) -> list[Explanation]:
    """Root-cause elements, most explanatory first."""
    if len(leaves) == 0:
        return []
    base, cur = leaves.baseline, leaves.current
    dev = deviations(base, cur)
    sigma = _noise(dev)
    cutoff = max(2.0 * sigma, min_deviation)
    total_change = float(cur.sum() - base.sum())
    found: list[Explanation] = []
    for sign in (1.0, -1.0):
        anomalous = sign * dev > cutoff
        if not anomalous.any():
            continue
        found.extend(
            _search(leaves, dev, anomalous, sign, sigma, max_depth, risk_threshold, min_share, max_causes, total_change)
        )
    # a direction whose causes explain little of the overall change goes after the main one
    found.sort(key=lambda e: -abs(e.change))
    return found[:max_causes]


def _search(
    leaves: LeafTable,
    dev: np.ndarray,
    anomalous: np.ndarray,
    sign: float,
    sigma: float,
    max_depth: int,
    risk_threshold: float,
    min_share: float,
    max_causes: int,
    total_change: float,
) -> list[Explanation]:
    base, cur = leaves.baseline, leaves.current
    delta = sign * (cur - base)  # oriented change: positive in the searched direction
    anomaly_power = float(delta[anomalous].clip(min=0).sum())
    if anomaly_power <= 0:
        return []
    ep_min = min_share * anomaly_power
    # soft membership: 0 for a leaf on the baseline, 1 from 3 noise sigmas on in the searched direction
    weight = np.clip(sign * dev / (3.0 * sigma), 0.0, 1.0) if sigma > 0 else anomalous.astype(float)
    alive = np.ones(len(base), dtype=bool)
    dims = list(range(len(leaves.dimensions)))
    out: list[Explanation] = []
    while len(out) < max_causes:
        remaining = float(delta[alive & anomalous].clip(min=0).sum())
        if remaining < ep_min:
            break
        # the first cause needs 3 noise sds; further ones 4.5, as many small noise elements are tried
        z = 3.0 if not out else 4.5
        best = None
        for depth in range(1, min(max_depth, len(dims)) + 1):
            for cuboid in combinations(dims, depth):
                cand = _best_in_cuboid(
                    leaves, cuboid, alive, anomalous, weight, delta, dev, sigma, anomaly_power, ep_min, risk_threshold, z
                )
                if cand is not None and (best is None or cand[0] > best[0]):
                    best = cand
            if best is not None:
                break
        if best is None:
            break
        _, cuboid, key, rows, risk = best
        element = leaves.decode(cuboid, key)
        b, c = float(base[rows].sum()), float(cur[rows].sum())
        share = (c - b) / total_change if total_change else math.nan
        out.append(Explanation(element, b, c, c - b, share, risk, len(cuboid)))
        alive[rows] = False
    return out


def _best_in_cuboid(
    leaves: LeafTable,
    cuboid: tuple[int, ...],
    alive: np.ndarray,
    anomalous: np.ndarray,
    weight: np.ndarray,
    delta: np.ndarray,
    dev: np.ndarray,
    sigma: float,
    anomaly_power: float,
    ep_min: float,
    risk_threshold: float,
    z: float,
) -> tuple[float, tuple[int, ...], int, np.ndarray, float] | None:
    idx = np.flatnonzero(alive)
    if len(idx) == 0:
        return None
    inv, keys = leaves.group(cuboid, idx)
    g = len(keys)
    ep = np.bincount(inv, weights=delta[idx], minlength=g)
    n_anom = np.bincount(inv, weights=anomalous[idx].astype(float), minlength=g)
    order = np.argsort(-ep)
    for gi in order:
        if ep[gi] < ep_min:
            break
        if n_anom[gi] <= 0:
            continue
        rows = idx[inv == gi]
        if not _significant(float(ep[gi]), leaves.baseline[rows], sigma, z):
            continue
        risk = _risk(leaves, rows, weight, dev, sigma)
        if risk >= risk_threshold:
            return float(ep[gi]) / anomaly_power, cuboid, int(keys[gi]), rows, risk
    return None


def _significant(change: float, baseline: np.ndarray, sigma: float, z: float = 3.0) -> bool:
    """Is an (oriented) change beyond z noise sds of a sum of leaves with relative noise sigma?"""
    return change > z * sigma * float(np.sqrt(np.square(baseline).sum()))


def _risk(leaves: LeafTable, rows: np.ndarray, weight: np.ndarray, dev: np.ndarray, sigma: float) -> float:
    purity = float(weight[rows].sum()) / (len(rows) + 0.5)
    base, cur = leaves.baseline[rows], leaves.current[rows]
    keep = (base != 0) & (cur != 0)
    inconsistency = 0.0
    if keep.any() and base[keep].sum() != 0:
        ripple = base[keep] * cur[keep].sum() / base[keep].sum()
        d2 = np.abs(deviations(ripple, cur[keep])).mean()
        d1 = np.abs(dev[rows][keep]).mean()
        # spread around the element's own ripple beyond what leaf noise explains (0.8 sigma = E|noise|)
        inconsistency = float(max(0.0, d2 - 0.8 * sigma) / d1) if d1 > 0 else 0.0
    return purity - inconsistency
