"""EWMA: exponentially weighted mean and variance of the past points; band = mean +- k * std.

Semantics: before point t the state holds mean m and variance s2 of the points before t
(weights alpha * (1 - alpha)^age). expected = m, band = m +- k * sqrt(s2), anomaly (strict,
by pattern) once `min_points` points were seen. Then, with d = v - m:
    m  <- m + alpha * d
    s2 <- (1 - alpha) * (s2 + alpha * d^2)
The first point initialises m = v, s2 = 0. k = `k` or ThirdEye's z = 1 + 0.2 * (10 - sensitivity).
alpha = `alpha`, or 2 / (span + 1) (span default 20).
"""

from __future__ import annotations

import math
from typing import Any

from flinksql_gen.detectors.base import (
    UNKNOWN,
    Detector,
    Result,
    holt_winters_zscore,
    is_missing,
    severity,
    violates,
)
from flinksql_gen.detectors.config import EwmaConfig


class EwmaDetector(Detector):
    type_name = "ewma"
    config_model = EwmaConfig
    sql_expressible = False
    config: EwmaConfig

    @property
    def alpha(self) -> float:
        c = self.config
        if c.alpha is not None:
            return c.alpha
        return 2.0 / ((c.span or 20.0) + 1.0)

    @property
    def k(self) -> float:
        return self.config.k if self.config.k is not None else holt_winters_zscore(self.config.sensitivity)

    def reset(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._var = 0.0

    def update(self, timestamp: Any, value: float | None) -> Result:
        if is_missing(value):
            return UNKNOWN
        v = float(value)
        result = UNKNOWN
        if self._n >= self.config.min_points:
            sd = math.sqrt(self._var)
            lo, hi = self._mean - self.k * sd, self._mean + self.k * sd
            result = Result(severity(v, self._mean, lo, hi), self._mean, lo, hi, violates(self.config.pattern, v, lo, hi))
        if self._n == 0:
            self._mean, self._var = v, 0.0
        else:
            a = self.alpha
            d = v - self._mean
            self._mean += a * d
            self._var = (1 - a) * (self._var + a * d * d)
        self._n += 1
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"n": self._n, "mean": self._mean, "var": self._var}

    def load_state(self, state: dict[str, Any]) -> None:
        self._n, self._mean, self._var = int(state["n"]), float(state["mean"]), float(state["var"])
