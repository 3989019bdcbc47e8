"""ThirdEye MEAN_VARIANCE: mean +- k * std over the previous `lookback` points of the key.

Exact semantics (the SQL form must match):
  window   = the previous `lookback` non-missing points of the key, EXCLUDING the current one
             (SQL: ROWS BETWEEN lookback PRECEDING AND 1 PRECEDING); with a seasonality, the
             previous `lookback` points of the same phase (SQL: PARTITION BY key, phase):
               daily  -> phase = floor(epoch_seconds) mod 86400   (UTC time of day)
               weekly -> phase = floor(epoch_seconds) mod 604800  (UTC time of week)
               P (int)-> phase = (index of the point in its key) mod P   (Python only)
  expected = AVG(window); std = STDDEV_SAMP(window) (sample std, n - 1, as ThirdEye)
  k_up     = multiplier or sigma(upper_sensitivity or sensitivity), k_lo likewise with lower_,
             sigma(s) = 0.5 + 0.1 * (10 - s)   (ThirdEye: s=5 -> 1 sigma, 0 -> 1.5, 10 -> 0.5)
  upper    = expected + k_up * std, lower = expected - k_lo * std
  anomaly  = COUNT(window) >= min_points (default lookback) AND
             (up: value > upper | down: value < lower | both: either)   -- strict, so std = 0
             flags any change.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection
from typing import Any

from flinksql_gen.detectors.base import (
    UNKNOWN,
    Detector,
    Result,
    is_missing,
    mean_variance_sigma,
    severity,
    to_seconds,
    violates,
)
from flinksql_gen.detectors.config import SEASON_SECONDS, MeanVarianceConfig
from flinksql_gen.detectors.sql import SqlBand, SqlRow
from flinksql_gen.sql.quoting import quote_identifier as q


def window_stats(values: Any) -> tuple[float, float]:
    """(mean, sample std) of a non-empty window; std is 0 for a single value."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, 0.0
    var = math.fsum((x - mean) ** 2 for x in values) / (n - 1)
    return mean, math.sqrt(var)


def multipliers(c: Any) -> tuple[float, float]:
    """(k_lower, k_upper) of a mean_variance config."""
    if c.multiplier is not None:
        return c.multiplier, c.multiplier
    lo = c.lower_sensitivity if c.lower_sensitivity is not None else c.sensitivity
    up = c.upper_sensitivity if c.upper_sensitivity is not None else c.sensitivity
    return mean_variance_sigma(lo), mean_variance_sigma(up)


class MeanVarianceDetector(Detector):
    type_name = "mean_variance"
    config_model = MeanVarianceConfig
    sql_expressible = True  # for seasonality none/daily/weekly
    per_key_settings = ("multiplier",)
    config: MeanVarianceConfig

    @classmethod
    def sql_form_available(cls, config: Any) -> bool:
        # a period in points has no SQL phase
        return super().sql_form_available(config) and not isinstance(config.seasonality, int)

    @classmethod
    def sql_parameters(cls, config: Any, per_key: Collection[str]) -> dict[str, tuple[str, float | None]]:
        k_lo, k_up = multipliers(config)
        return {"k_lower": ("multiplier", k_lo), "k_upper": ("multiplier", k_up)}

    @classmethod
    def sql_band(cls, config: Any, row: SqlRow) -> SqlBand:
        """Sums over the key's last `lookback` rows and the current one, less the current one (a
        bounded OVER window cannot end at 1 PRECEDING in Flink's streaming mode)."""
        v, partition = row.value, list(row.keys)
        if config.seasonality in SEASON_SECONDS:
            ts = row.stamp
            day = f"HOUR({ts}) * 3600 + MINUTE({ts}) * 60 + SECOND({ts})"
            partition.append(day if config.seasonality == "daily" else f"DAYOFWEEK({ts}) * 86400 + {day}")
        over = (f"PARTITION BY {', '.join(partition)} " if partition else "") + \
            f"ORDER BY {row.order} ROWS BETWEEN {config.lookback} PRECEDING AND CURRENT ROW"  # fmt: skip
        s1, s2, n = q("mv_sum"), q("mv_sumsq"), q("mv_n")
        helpers = (f"SUM({v}) OVER ({over}) - {v} AS {s1}", f"SUM({v} * {v}) OVER ({over}) - {v} * {v} AS {s2}",
                   f"COUNT({v}) OVER ({over}) - 1 AS {n}")  # fmt: skip
        expected = f"({s1} / NULLIF({n}, 0))"
        std = f"(CASE WHEN {n} >= 2 THEN SQRT(GREATEST(({s2} - {s1} * {s1} / {n}) / ({n} - 1), 0)) ELSE 0 END)"
        k_lo, k_up = multipliers(config)
        lower = f"{expected} - {row.number('k_lower', k_lo)} * {std}"
        upper = f"{expected} + {row.number('k_upper', k_up)} * {std}"
        return SqlBand(expected, lower, upper, f"{n} >= {max(config.min_points or config.lookback, 1)}", helpers)

    def reset(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._n = 0

    @property
    def multipliers(self) -> tuple[float, float]:
        """(k_lower, k_upper)."""
        return multipliers(self.config)

    def _phase(self, timestamp: Any) -> str:
        s = self.config.seasonality
        if s == "none":
            return "_"
        if isinstance(s, int):
            return str(self._n % s)
        return str(math.floor(to_seconds(timestamp)) % int(SEASON_SECONDS[s]))

    def update(self, timestamp: Any, value: float | None) -> Result:
        if is_missing(value):
            return UNKNOWN
        v = float(value)
        key = self._phase(timestamp)
        self._n += 1
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque(maxlen=self.config.lookback)
        need = self.config.min_points or self.config.lookback
        result = UNKNOWN
        if len(window) >= max(need, 1):
            mean, std = window_stats(window)
            k_lo, k_up = self.multipliers
            lo, hi = mean - k_lo * std, mean + k_up * std
            result = Result(severity(v, mean, lo, hi), mean, lo, hi, violates(self.config.pattern, v, lo, hi))
        window.append(v)
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"n": self._n, "windows": {k: list(w) for k, w in self._windows.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        self.reset()
        self._n = int(state.get("n", 0))
        for k, w in state.get("windows", {}).items():
            self._windows[k] = deque(w, maxlen=self.config.lookback)
