"""ThirdEye-style contribution analysis: one breakdown per dimension, each value with its stats.

Formulas (ThirdEye spi.rca.Stats / thirdeye-contributors-simple Cost), percentages in %:
  value_change_pct          = (current - baseline) / baseline * 100            (NaN if baseline = 0)
  contribution_change_pct   = (current / C - baseline / B) * 100               (NaN if B or C = 0)
  contribution_to_overall_change_pct = (current - baseline) / |C - B| * 100    (NaN if C = B)
  cost (BALANCED_SIMPLE)    = 0 if |contribution_to_overall| < 3 %, else
                              |contribution_to_overall| + |contribution_change|
where B, C are the baseline and current totals. `share` = (baseline + current) / (B + C): nodes with a
share below `min_share` are dropped (ThirdEye's "size" pruning; 0 keeps all).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from flinksql_gen.rca.leaves import LeafTable

MIN_CONTRIBUTION_OF_INTEREST = 3.0


@dataclass(frozen=True)
class Contribution:
    dimension: str
    value: str
    baseline: float
    current: float
    value_change_pct: float
    contribution_change_pct: float
    contribution_to_overall_change_pct: float
    cost: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct(num: float, den: float) -> float:
    return num / den * 100.0 if den != 0 else math.nan


def balanced_cost(contribution_change_pct: float, contribution_to_overall_change_pct: float) -> float:
    ctoc = 0.0 if math.isnan(contribution_to_overall_change_pct) else contribution_to_overall_change_pct
    cc = 0.0 if math.isnan(contribution_change_pct) else contribution_change_pct
    if abs(ctoc) < MIN_CONTRIBUTION_OF_INTEREST:
        return 0.0
    return abs(ctoc) + abs(cc)


def contribution_analysis(
    leaves: LeafTable, dimensions: list[str] | None = None, min_share: float = 0.0, limit: int | None = None
) -> list[Contribution]:
    """Every (dimension, value) node of the one-dimension breakdowns, highest cost first."""
    total_b, total_c = float(leaves.baseline.sum()), float(leaves.current.sum())
    total = total_b + total_c
    out: list[Contribution] = []
    for j, dim in enumerate(leaves.dimensions):
        if dimensions is not None and dim not in dimensions:
            continue
        card = leaves.cardinality(j)
        b = np.bincount(leaves.codes[:, j], weights=leaves.baseline, minlength=card)
        c = np.bincount(leaves.codes[:, j], weights=leaves.current, minlength=card)
        for code in range(card):
            bi, ci = float(b[code]), float(c[code])
            share = (bi + ci) / total if total else 0.0
            if share < min_share:
                continue
            cc = (ci / total_c - bi / total_b) * 100.0 if total_b and total_c else math.nan
            ctoc = _pct(ci - bi, abs(total_c - total_b))
            out.append(
                Contribution(dim, leaves.labels[j][code], bi, ci, _pct(ci - bi, bi), cc, ctoc, balanced_cost(cc, ctoc), share)
            )
    out.sort(key=lambda x: (-x.cost, -abs(x.current - x.baseline)))
    return out[:limit] if limit else out
