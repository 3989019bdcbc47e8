"""Prototype (benchmark only, not product code): one judgement per reading WITHOUT one-row bundles.

Why: fsg_detect is a Python group aggregate; PyFlink's GroupAggFunction.finish_bundle folds all
rows of a key in a bundle into one result, so the product renders
`python.fn-execution.bundle.size = 1`, and then every reading costs a full Java <-> Python
bundle round trip (data + state + finish), the dominant cost of the UDF pipelines.

This variant keeps large bundles: the aggregate returns the ARRAY of the judgements of the
points accumulated since its previous emission, and the view unnests it, so each reading still
gives one output row, in order. How: `get_value` marks the accumulator as emitted; the next
`accumulate` starts a fresh list. PyFlink calls get_value once before and once after a bundle's
rows (aggregate_fast.pyx / aggregate_slow.py GroupAggFunction.finish_bundle), and stores the
accumulator after the second call, so the mark is checkpointed with the state.
"""

from __future__ import annotations

import dataclasses
import json
import re

from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import AggregateFunction, udaf

from flinksql_gen.detectors.registry import REGISTRY
from flinksql_gen.udfs.detect import RESULT_TYPE, _config, _finite, judge

RESULTS_TYPE = DataTypes.ARRAY(RESULT_TYPE)
ACC_TYPE = DataTypes.ROW([
    DataTypes.FIELD("state", DataTypes.STRING()),
    DataTypes.FIELD("emitted", DataTypes.BOOLEAN()),
    DataTypes.FIELD("pending", RESULTS_TYPE),
])  # fmt: skip


class DetectBatchAggregate(AggregateFunction):
    def create_accumulator(self) -> Row:
        return Row(None, True, [])

    def accumulate(self, acc: Row, config_json: str, ts, value) -> None:
        if acc[1] or acc[2] is None:
            acc[2] = []  # a new list: the emitted one may still be referenced by the caller
            acc[1] = False
        state, r = judge(config_json, acc[0], ts, value)
        acc[0] = state
        acc[2].append(_row(ts, value, r))  # a list of this bundle only (see above)

    def get_value(self, acc: Row):
        acc[1] = True
        return list(acc[2] or [])

    def get_result_type(self):
        return RESULTS_TYPE

    def get_accumulator_type(self):
        return ACC_TYPE


def _row(ts, value, r) -> Row:
    return Row(ts, value, _finite(r.expected), _finite(r.lower), _finite(r.upper), _finite(r.score),
               bool(r.is_anomaly))


class DetectBatchLiveAggregate(DetectBatchAggregate):
    """As above, and the key's detector stays a live object for the whole bundle: its state is
    JSON-decoded once when the key's bundle starts (or taken from the worker's cache when this
    worker wrote that very state) and JSON-encoded once in the final get_value, which runs
    before PyFlink stores the accumulator (so checkpoints hold the current state)."""

    def open(self, function_context) -> None:
        self._live: dict[tuple[str, str], object] = {}  # (config, state JSON written) -> detector
        self._current: dict[int, tuple[Row, str, object]] = {}  # id(acc) -> (acc, config, detector)

    def accumulate(self, acc: Row, config_json: str, ts, value) -> None:
        entry = self._current.get(id(acc))
        if entry is None or acc[1]:
            acc[1], acc[2] = False, []
            detector = self._live.pop((config_json, acc[0]), None) if acc[0] else None
            if detector is None:
                config = _config(config_json)
                detector = REGISTRY[config.type](config)
                if acc[0]:
                    detector.load_state(json.loads(acc[0]))
            entry = self._current[id(acc)] = (acc, config_json, detector)
        r = entry[2].update(ts, value)
        acc[2].append(_row(ts, value, r))

    def get_value(self, acc: Row):
        entry = self._current.pop(id(acc), None)
        if entry is not None:
            _, config_json, detector = entry
            acc[0] = json.dumps(detector.state_dict(), separators=(",", ":"))
            self._live[(config_json, acc[0])] = detector
        acc[1] = True
        return list(acc[2] or [])


fsg_detect_batch = udaf(DetectBatchAggregate(), result_type=RESULTS_TYPE, accumulator_type=ACC_TYPE,
                        func_type="general")
fsg_detect_batch_live = udaf(DetectBatchLiveAggregate(), result_type=RESULTS_TYPE, accumulator_type=ACC_TYPE,
                             func_type="general")


def batched_variant(pipeline, detector: str = "d", bundle_size: str = "1000", function: str = "fsg_detect_batch"):
    """The rendered UDF-detector pipeline rewritten to fsg_detect_batch[_live] + CROSS JOIN UNNEST."""
    from flinksql_gen.bundle import UdfInfo

    inner, outer = f"{detector}__input", detector
    statements = []
    for s in pipeline.statements:
        sql = s.sql
        if s.kind == "set" and s.name == "python.fn-execution.bundle.size":
            sql = f"SET 'python.fn-execution.bundle.size' = '{bundle_size}'"
        elif s.kind == "create_view" and s.name == inner:
            sql = sql.replace("fsg_detect(", f"{function}(").replace("AS `r`", "AS `rs`")
        elif s.kind == "create_view" and s.name == outer:
            keys = re.search(r"SELECT\s+(.*?),\s+`s`\.`r`", sql, re.S).group(1)
            cols = "`ts`, `value`, `expected`, `lower`, `upper`, `score`, `is_anomaly`"
            sql = (f"CREATE TEMPORARY VIEW `{outer}` AS\nSELECT {keys}, {cols}\n"
                   f"FROM `{inner}` AS `s` CROSS JOIN UNNEST(`s`.`rs`) AS `p` ({cols})")
        statements.append(dataclasses.replace(s, sql=sql))
    udfs = (*pipeline.udfs, UdfInfo(function, f"proto_detect_batch:{function}"))
    return dataclasses.replace(pipeline, statements=tuple(statements), udfs=udfs)
