"""`windowed_gaussian`: NAB's windowed Gaussian baseline, rolling.

score = 1 - p, p = two-sided normal tail of z = (v - mean) / std, mean and (population) std of
the previous `window` values (the current one is not in the window); std 0 counts as 1e-6, as
in NAB. is_anomaly = score >= threshold. The window is kept as values (bounded: `window` floats
per key), so this is a baseline for evaluation rather than a cheap stream detector.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from flinksql_gen.detectors.base import UNKNOWN, Detector, Result, is_missing
from flinksql_gen.detectors.config import WindowedGaussianConfig


class WindowedGaussianDetector(Detector):
    type_name = "windowed_gaussian"
    config_model = WindowedGaussianConfig
    sql_expressible = False
    config: WindowedGaussianConfig

    def reset(self) -> None:
        self._buf: deque[float] = deque()
        self._sum = 0.0
        self._sq = 0.0
        self._since = 0  # updates since the sums were recomputed (limits rounding drift)

    def update(self, timestamp: Any, value: float | None) -> Result:
        if is_missing(value):
            return UNKNOWN
        v = float(value)
        n = len(self._buf)
        result = UNKNOWN
        if n >= self.config.min_points:
            mean = self._sum / n
            std = math.sqrt(max(self._sq / n - mean * mean, 0.0)) or 1e-6
            z = abs(v - mean) / std
            score = 1.0 - math.erfc(z / math.sqrt(2.0))
            k = self.config.band_z * std
            result = Result(score, mean, mean - k, mean + k, score >= self.config.threshold)
        self._buf.append(v)
        self._sum += v
        self._sq += v * v
        if len(self._buf) > self.config.window:
            old = self._buf.popleft()
            self._sum -= old
            self._sq -= old * old
        self._since += 1
        if self._since >= self.config.window:
            self._sum = math.fsum(self._buf)
            self._sq = math.fsum(x * x for x in self._buf)
            self._since = 0
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"buf": list(self._buf), "sum": self._sum, "sq": self._sq, "since": self._since}

    def load_state(self, state: dict[str, Any]) -> None:
        self._buf = deque(float(x) for x in state["buf"])
        self._sum, self._sq = float(state["sum"]), float(state["sq"])  # as they were: same rounding
        self._since = int(state["since"])
