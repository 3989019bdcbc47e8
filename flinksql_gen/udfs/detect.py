"""`fsg_detect(config_json, ts, value)`: any flinksql_gen detector as a PyFlink aggregate function.

Used in `GROUP BY <key>`: the accumulator holds one key's detector state (as JSON, so Flink
checkpoints and restores it), each input point updates it causally, and the result is the
judgement of the latest point: ROW(ts, value, expected, lower, upper, score, is_anomaly).
The detector code is the same one `flinksql-gen evaluate` runs offline.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import AggregateFunction, udaf

from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.detectors.registry import REGISTRY

RESULT_TYPE = DataTypes.ROW([
    DataTypes.FIELD("ts", DataTypes.TIMESTAMP(3)),
    DataTypes.FIELD("value", DataTypes.DOUBLE()),
    DataTypes.FIELD("expected", DataTypes.DOUBLE()),
    DataTypes.FIELD("lower", DataTypes.DOUBLE()),
    DataTypes.FIELD("upper", DataTypes.DOUBLE()),
    DataTypes.FIELD("score", DataTypes.DOUBLE()),
    DataTypes.FIELD("is_anomaly", DataTypes.BOOLEAN()),
])  # fmt: skip
ACC_TYPE = DataTypes.ROW([
    DataTypes.FIELD("state", DataTypes.STRING()),
    DataTypes.FIELD("ts", DataTypes.TIMESTAMP(3)),
    DataTypes.FIELD("value", DataTypes.DOUBLE()),
    DataTypes.FIELD("expected", DataTypes.DOUBLE()),
    DataTypes.FIELD("lower", DataTypes.DOUBLE()),
    DataTypes.FIELD("upper", DataTypes.DOUBLE()),
    DataTypes.FIELD("score", DataTypes.DOUBLE()),
    DataTypes.FIELD("is_anomaly", DataTypes.BOOLEAN()),
])  # fmt: skip


@lru_cache(maxsize=256)
def _config(config_json: str) -> Any:
    return parse_detector_config(json.loads(config_json))


def _finite(x: float) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else float(x)


def judge(config_json: str, state_json: str | None, ts: Any, value: float | None) -> tuple[str, Any]:
    """One step of one key's detector: (new state JSON, Result). Pure; the UDF and tests call it."""
    config = _config(config_json)
    detector = REGISTRY[config.type](config)
    if state_json:
        detector.load_state(json.loads(state_json))
    result = detector.update(ts, value)
    return json.dumps(detector.state_dict(), separators=(",", ":")), result


class DetectAggregate(AggregateFunction):
    def create_accumulator(self) -> Row:
        return Row(None, None, None, None, None, None, None, False)

    def accumulate(self, acc: Row, config_json: str, ts: Any, value: float | None) -> None:
        state, r = judge(config_json, acc[0], ts, value)
        acc[0] = state
        acc[1] = ts
        acc[2] = value
        acc[3] = _finite(r.expected)
        acc[4] = _finite(r.lower)
        acc[5] = _finite(r.upper)
        acc[6] = _finite(r.score)
        acc[7] = bool(r.is_anomaly)

    def get_value(self, acc: Row) -> Row:
        return Row(acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7])

    def get_result_type(self):
        return RESULT_TYPE

    def get_accumulator_type(self):
        return ACC_TYPE


fsg_detect = udaf(DetectAggregate(), result_type=RESULT_TYPE, accumulator_type=ACC_TYPE, func_type="general")
