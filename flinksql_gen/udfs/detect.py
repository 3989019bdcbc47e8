"""`fsg_detect(config_json, ts, value)`: any flinksql_gen detector as a PyFlink aggregate function.

Used in `GROUP BY <key>`: the accumulator holds one key's detector state (as JSON, so Flink
checkpoints and restores it) and each input point updates it causally, with the same code
`flinksql-gen evaluate` runs offline.

The result is the ARRAY of the judgements of every point accumulated since the previous result,
ROW(ts, value, expected, lower, upper, score, is_anomaly) each, in the key's order; the rendered
view UNNESTs it, so every point gets its own output row. Why an array: PyFlink's Python group
aggregate processes a bundle of rows per key and emits one result per key per bundle
(`GroupAggFunction.finish_bundle` in pyflink/fn_execution/table/aggregate_*.py): for each key it
calls `get_value` (the previous result), `accumulate` for each of the bundle's rows, `get_value`
again, and then stores the accumulator. So `get_value` marks the accumulator as emitted, the next
`accumulate` starts a fresh list, and large bundles keep one judgement per point. An emitted
accumulator's value is the empty array: the retraction PyFlink sends for the previous result
unnests to nothing, so every judgement is written once and never retracted (the stream is an
append stream of judgements, which the planner still sees as updates keyed by the dimensions).

Within one key's run of a bundle the detector stays a live object: its state JSON is decoded at
the first point and encoded once in the final `get_value`, before PyFlink stores the accumulator
(so checkpoints always hold the current state).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import AggregateFunction, udaf

from flinksql_gen.detectors.base import Detector, Result
from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.detectors.registry import REGISTRY
from flinksql_gen.detectors.sql import RESULT_COLUMNS, RESULT_NAMES

_TYPES = {"DOUBLE": DataTypes.DOUBLE(), "BOOLEAN": DataTypes.BOOLEAN()}
JUDGEMENT_TYPE = DataTypes.ROW([
    DataTypes.FIELD("ts", DataTypes.TIMESTAMP(3)),
    DataTypes.FIELD("value", DataTypes.DOUBLE()),
    *(DataTypes.FIELD(name, _TYPES[sql_type]) for name, sql_type in RESULT_COLUMNS),
])  # fmt: skip
RESULT_TYPE = DataTypes.ARRAY(JUDGEMENT_TYPE)
ACC_TYPE = DataTypes.ROW([
    DataTypes.FIELD("state", DataTypes.STRING()),  # the detector's state_dict() as JSON
    DataTypes.FIELD("emitted", DataTypes.BOOLEAN()),  # `pending` was returned by get_value
    DataTypes.FIELD("pending", RESULT_TYPE),  # judgements since the previous result
])  # fmt: skip
STATE, EMITTED, PENDING = range(3)


@lru_cache(maxsize=256)
def _config(config_json: str) -> Any:
    return parse_detector_config(json.loads(config_json))


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else float(x)


def new_detector(config_json: str, state_json: str | None) -> Detector:
    """One key's detector, restored from its state JSON (None: a new key)."""
    config = _config(config_json)
    detector = REGISTRY[config.type](config)
    if state_json:
        detector.load_state(json.loads(state_json))
    return detector


def dump_state(detector: Detector) -> str:
    return json.dumps(detector.state_dict(), separators=(",", ":"))


# judgement() writes the result columns by hand (it runs once per point): it must follow their order.
if RESULT_NAMES != ("expected", "lower", "upper", "score", "is_anomaly"):
    raise ImportError("flinksql_gen.detectors.sql.RESULT_COLUMNS changed: update udfs/detect.py:judgement")


def judgement(ts: Any, value: float | None, r: Result) -> Row:
    """A JUDGEMENT_TYPE row: ts, value, then RESULT_COLUMNS (NaN and infinities as NULL)."""
    return Row(ts, value, _finite(r.expected), _finite(r.lower), _finite(r.upper), _finite(r.score),
               bool(r.is_anomaly))  # fmt: skip


class DetectAggregate(AggregateFunction):
    def open(self, function_context) -> None:
        # The accumulator of the key being processed and its live detector (see module doc).
        self._acc: Row | None = None
        self._detector: Detector | None = None

    def create_accumulator(self) -> Row:
        return Row(None, True, [])

    def accumulate(self, acc: Row, config_json: str, ts: Any, value: float | None) -> None:
        if acc[EMITTED] or acc[PENDING] is None:
            # A new list: the emitted one may still be referenced by the caller.
            acc[EMITTED], acc[PENDING] = False, []
        if self._acc is not acc:
            self._acc, self._detector = acc, new_detector(config_json, acc[STATE])
        acc[PENDING].append(judgement(ts, value, self._detector.update(ts, value)))

    def get_value(self, acc: Row) -> list[Row]:
        if self._acc is acc:
            acc[STATE] = dump_state(self._detector)
            self._acc = self._detector = None
        if acc[EMITTED]:
            # Already returned: PyFlink asks for the previous result only to retract it, and a
            # judgement is a fact that is never taken back, so there is nothing to retract.
            return []
        acc[EMITTED] = True
        return list(acc[PENDING] or [])

    def get_result_type(self):
        return RESULT_TYPE

    def get_accumulator_type(self):
        return ACC_TYPE


fsg_detect = udaf(DetectAggregate(), result_type=RESULT_TYPE, accumulator_type=ACC_TYPE, func_type="general")
