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


def window_stats(values: Any) -> tuple[float, float]:
    """(mean, sample std) of a non-empty window; std is 0 for a single value."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, 0.0
    var = math.fsum((x - mean) ** 2 for x in values) / (n - 1)
    return mean, math.sqrt(var)


class MeanVarianceDetector(Detector):
    type_name = "mean_variance"
    config_model = MeanVarianceConfig
    sql_expressible = True  # for seasonality none/daily/weekly
    config: MeanVarianceConfig

    @classmethod
    def sql_form_available(cls, config: Any) -> bool:
        return not isinstance(config.seasonality, int)  # a period in points has no SQL phase

    def reset(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._n = 0

    @property
    def multipliers(self) -> tuple[float, float]:
        """(k_lower, k_upper)."""
        c = self.config
        if c.multiplier is not None:
            return c.multiplier, c.multiplier
        lo = c.lower_sensitivity if c.lower_sensitivity is not None else c.sensitivity
        up = c.upper_sensitivity if c.upper_sensitivity is not None else c.sensitivity
        return mean_variance_sigma(lo), mean_variance_sigma(up)

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
