"""Root-cause analysis over leaf rows (dimension columns + baseline value + current value).

    leaves = LeafTable.from_rows(rows, dimensions=["country", "device"], baseline="baseline", current="current")
    contribution_analysis(leaves)   # ThirdEye per-dimension-value stats and balanced cost
    localize(leaves)                # the few (multi-dimensional) elements that explain the change
    localize_baseline(leaves)       # the previous algorithm, for comparisons in the same run
    explain_rows(rows, ...)         # both, as JSON-ready dicts (for a PyFlink UDAF/UDTF)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flinksql_gen.rca.baseline import localize_baseline
from flinksql_gen.rca.contribution import Contribution, balanced_cost, contribution_analysis
from flinksql_gen.rca.leaves import LeafTable, format_root_cause_set, parse_root_cause_set
from flinksql_gen.rca.localize import Explanation, deviations, localize


def explain_rows(
    rows: Iterable[Mapping[str, Any]],
    dimensions: Sequence[str] | None = None,
    baseline: str = "baseline",
    current: str = "current",
    max_depth: int = 3,
    top_contributions: int = 10,
    **localize_options: Any,
) -> dict[str, Any]:
    """One anomalous window's analysis: {'explanations': [...], 'contributions': [...]}."""
    leaves = LeafTable.from_rows(rows, dimensions, baseline, current)
    return {
        "explanations": [e.to_dict() for e in localize(leaves, max_depth=max_depth, **localize_options)],
        "contributions": [c.to_dict() for c in contribution_analysis(leaves, limit=top_contributions)],
    }


__all__ = [
    "Contribution",
    "Explanation",
    "LeafTable",
    "balanced_cost",
    "contribution_analysis",
    "deviations",
    "explain_rows",
    "format_root_cause_set",
    "localize",
    "localize_baseline",
    "parse_root_cause_set",
]
