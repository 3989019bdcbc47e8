"""Static bounds: value > max or value < min (strict unless `inclusive`)."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from flinksql_gen.detectors.base import UNKNOWN, Detector, Result, is_missing
from flinksql_gen.detectors.config import ThresholdConfig
from flinksql_gen.detectors.sql import NULL_DOUBLE, SqlBand, SqlRow


class ThresholdDetector(Detector):
    """Stateless. expected = the value clamped into [min, max] (as ThirdEye's baseline);
    lower/upper = min/max (-inf/+inf when not set); score = 0 inside, else 1 + the relative
    overshoot |value - bound| / |bound|.

    SQL: `value > max OR value < min` (`>=`/`<=` with inclusive).
    """

    type_name = "threshold"
    config_model = ThresholdConfig
    sql_expressible = True
    per_key_settings = ("min", "max")
    config: ThresholdConfig

    @classmethod
    def sql_parameters(cls, config: Any, per_key: Collection[str]) -> dict[str, tuple[str, float | None]]:
        return {s: (s, getattr(config, s)) for s in ("min", "max") if s in per_key or getattr(config, s) is not None}

    @classmethod
    def sql_band(cls, config: Any, row: SqlRow) -> SqlBand:
        v = row.value
        lo = row.number("min", config.min) if "min" in row.params or config.min is not None else None
        hi = row.number("max", config.max) if "max" in row.params or config.max is not None else None
        expected = v
        if hi is not None:
            expected = f"LEAST({expected}, {hi})"
        if lo is not None:
            expected = f"GREATEST({expected}, {lo})"
        if row.params:  # a per-key bound may be NULL: no check on that side
            expected = f"COALESCE({expected}, {v})"
        gt, lt = (">=", "<=") if config.inclusive else (">", "<")
        checks = [*([f"{v} {gt} {hi}"] if hi is not None else []), *([f"{v} {lt} {lo}"] if lo is not None else [])]
        anomaly = "(" + " OR ".join(checks) + ")"
        # As update() below: 0 inside, 1 on an inclusive edge, else 1 + the overshoot relative to the
        # bound it crossed (the clamped value is that bound).
        score = (f"CASE WHEN {v} = {expected} THEN CASE WHEN {anomaly} THEN 1.0 ELSE 0.0 END "
                 f"ELSE 1.0 + ABS({v} - {expected}) / GREATEST(ABS({expected}), 1e-12) END")
        return SqlBand(expected, lo or NULL_DOUBLE, hi or NULL_DOUBLE, anomaly=anomaly, score=score)

    def reset(self) -> None:
        pass

    def update(self, timestamp: Any, value: float | None) -> Result:
        if is_missing(value):
            return UNKNOWN
        v = float(value)
        c = self.config
        lo = -math.inf if c.min is None else c.min
        hi = math.inf if c.max is None else c.max
        anomalous = v >= hi or v <= lo if c.inclusive else v > hi or v < lo
        expected = min(max(v, lo), hi)
        over = abs(v - expected)
        if over == 0:
            score = 1.0 if anomalous else 0.0
        else:
            bound = hi if v > hi else lo
            score = 1.0 + over / max(abs(bound), 1e-12)
        return Result(score, expected, lo, hi, anomalous)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass

