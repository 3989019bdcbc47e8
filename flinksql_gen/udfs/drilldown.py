"""`fsg_drilldown(config_json, dims ARRAY<STRING>, baseline, current)`: one window's root-cause analysis.

Collects the window's leaves (dimension values, baseline, current) and explains the change of
the total with flinksql_gen.rca, the same code `flinksql-gen evaluate-rca` runs offline.
"""

from __future__ import annotations

import json
from typing import Any

from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import AggregateFunction, udaf

from flinksql_gen.rca import LeafTable, format_root_cause_set, localize

RESULT_TYPE = DataTypes.ROW([
    DataTypes.FIELD("baseline_total", DataTypes.DOUBLE()),
    DataTypes.FIELD("current_total", DataTypes.DOUBLE()),
    DataTypes.FIELD("change", DataTypes.DOUBLE()),
    DataTypes.FIELD("root_cause", DataTypes.STRING()),
    DataTypes.FIELD("explanation", DataTypes.STRING()),
])  # fmt: skip
# One JSON text per leaf, appended: re-encoding the whole window per row would cost O(leaves^2)
# (minutes for the 20,000 leaves of a Squeeze snapshot).
ACC_TYPE = DataTypes.ROW([DataTypes.FIELD("config", DataTypes.STRING()),
                          DataTypes.FIELD("leaves", DataTypes.ARRAY(DataTypes.STRING()))])  # fmt: skip


def explain_window(config: dict[str, Any], leaves: list[list[Any]]) -> dict[str, Any]:
    """Totals, change and (when the change is large enough) the ranked explanations of one window."""
    dims = config["dimensions"]
    kept = [leaf for leaf in leaves if leaf[1] is not None and leaf[2] is not None]
    base = sum(leaf[1] for leaf in kept)
    cur = sum(leaf[2] for leaf in kept)
    change = (cur - base) / abs(base) if base else None
    out: dict[str, Any] = {"baseline_total": base, "current_total": cur, "change": change,
                           "root_cause": "", "explanation": []}  # fmt: skip
    if kept and change is not None and abs(change) >= config.get("min_change", 0.0):
        # the same localisation `evaluate-rca` runs offline, on a table built straight from the lists
        found = localize(LeafTable.from_leaves(dims, kept), max_depth=config.get("max_depth", 3))
        top = [e.to_dict() for e in found[: config.get("top", 3)]]
        out["explanation"] = top
        out["root_cause"] = format_root_cause_set([e["dims"] for e in top], dims)
    return out


class DrilldownAggregate(AggregateFunction):
    def create_accumulator(self) -> Row:
        return Row(None, [])

    def accumulate(self, acc: Row, config_json: str, dims: list[str], baseline: float | None,
                   current: float | None) -> None:  # fmt: skip
        acc[0] = config_json
        acc[1].append(json.dumps([list(dims), baseline, current], separators=(",", ":")))

    def get_value(self, acc: Row) -> Row:
        if acc[0] is None:
            return Row(None, None, None, None, None)
        # one parse of the whole window, not one per leaf
        r = explain_window(json.loads(acc[0]), json.loads("[" + ",".join(acc[1]) + "]"))
        return Row(r["baseline_total"], r["current_total"], r["change"], r["root_cause"],
                   json.dumps(r["explanation"], sort_keys=True))  # fmt: skip

    def get_result_type(self):
        return RESULT_TYPE

    def get_accumulator_type(self):
        return ACC_TYPE


fsg_drilldown = udaf(DrilldownAggregate(), result_type=RESULT_TYPE, accumulator_type=ACC_TYPE, func_type="general")
