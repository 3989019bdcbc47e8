"""Additive Holt-Winters (level, trend, season) with a one-step-ahead forecast band.

forecast_t = level + trend + season[slot_t]
band       = forecast +- z * std(one-step errors), z = `k` or ThirdEye's 1 + 0.2 * (10 - sensitivity),
             std from exponentially weighted moments of the past errors (rate 0.02, ~50 points).
Updates (standard additive form, e = v - forecast):
    level'  = alpha * (v - season) + (1 - alpha) * (level + trend)
    trend'  = beta * (level' - level) + (1 - beta) * trend
    season' = gamma * (v - level') + (1 - gamma) * season
Initialisation: after the first full period, level = mean of it, trend = 0, season = deviations
from that mean (without season: level = first value).

Online fitting (any of alpha/beta/gamma left out): a small bank of models over a grid
(alpha in 0.1/0.3/0.7, beta in 0/0.05, gamma 0.1) runs side by side and each point is judged by
the model with the lowest exponentially weighted squared error so far -- a cheap online stand-in
for ThirdEye's BOBYQA SSE fit. State: n_models * (slots + 4) floats.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any

from flinksql_gen.detectors.base import (
    UNKNOWN,
    Detector,
    Result,
    holt_winters_zscore,
    is_missing,
    severity,
    to_seconds,
    violates,
)
from flinksql_gen.detectors.config import HoltWintersConfig
from flinksql_gen.detectors.seasons import SeasonClock

ERR_RATE = 0.02


class _Model:
    __slots__ = ("alpha", "beta", "e1", "e2", "gamma", "level", "season", "trend")

    def __init__(self, alpha: float, beta: float, gamma: float, m: int):
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.level = 0.0
        self.trend = 0.0
        self.season = [0.0] * m
        self.e1 = 0.0  # EW mean of errors
        self.e2 = 0.0  # EW mean of squared errors

    def forecast(self, slot: int | None) -> float:
        s = self.season[slot] if slot is not None and self.season else 0.0
        return self.level + self.trend + s

    def learn(self, v: float, slot: int | None, err: float) -> None:
        s = self.season[slot] if slot is not None and self.season else 0.0
        level = self.alpha * (v - s) + (1 - self.alpha) * (self.level + self.trend)
        self.trend = self.beta * (level - self.level) + (1 - self.beta) * self.trend
        self.level = level
        if slot is not None and self.season:
            self.season[slot] = self.gamma * (v - level) + (1 - self.gamma) * s
        self.e1 += ERR_RATE * (err - self.e1)
        self.e2 += ERR_RATE * (err * err - self.e2)

    @property
    def std(self) -> float:
        return math.sqrt(max(0.0, self.e2 - self.e1 * self.e1))

    def dump(self) -> list[Any]:
        return [self.alpha, self.beta, self.gamma, self.level, self.trend, self.e1, self.e2, self.season]

    @classmethod
    def restore(cls, d: list[Any]) -> _Model:
        m = cls(d[0], d[1], d[2], 0)
        m.level, m.trend, m.e1, m.e2, m.season = d[3], d[4], d[5], d[6], list(d[7])
        return m


class HoltWintersDetector(Detector):
    type_name = "holt_winters"
    config_model = HoltWintersConfig
    sql_expressible = False
    config: HoltWintersConfig

    def reset(self) -> None:
        period = self.config.period
        self._clock = SeasonClock(period) if period != "none" else None
        self._models: list[_Model] = []
        self._init: list[tuple[int | None, float]] = []  # values buffered until the first period is complete
        self._n = 0

    @property
    def k(self) -> float:
        return self.config.k if self.config.k is not None else holt_winters_zscore(self.config.sensitivity)

    def _grid(self) -> list[tuple[float, float, float]]:
        c = self.config
        alphas = [c.alpha] if c.alpha is not None else [0.1, 0.3, 0.7]
        betas = [c.beta] if c.beta is not None else [0.0, 0.05]
        gammas = [c.gamma] if c.gamma is not None else [0.1]
        return list(product(alphas, betas, gammas))

    def _slots(self) -> int:
        return (self._clock.m or 0) if self._clock else 0

    def _min_points(self) -> int:
        if self.config.min_points is not None:
            return self.config.min_points
        return 2 * self._slots() if self._clock else 10

    def _start(self) -> None:
        m = self._slots()
        values = [v for _, v in self._init]
        mean = math.fsum(values) / len(values)
        self._models = [_Model(a, b, g, m) for a, b, g in self._grid()]
        for model in self._models:
            model.level = mean if m else values[-1]
            for slot, v in self._init:
                if slot is not None and m:
                    model.season[slot] = v - mean
        self._init = []

    def update(self, timestamp: Any, value: float | None) -> Result:
        if is_missing(value):
            return UNKNOWN
        v = float(value)
        slot = self._clock.observe(to_seconds(timestamp)) if self._clock else None
        self._n += 1
        if not self._models:
            self._init.append((slot, v))
            m = self._slots()
            ready = (m and slot is not None and sum(s is not None for s, _ in self._init) >= m) or (
                not self._clock and len(self._init) >= 2
            )
            if ready:
                self._start()
            return UNKNOWN
        best = min(self._models, key=lambda md: md.e2)
        expected = best.forecast(slot)
        result = UNKNOWN
        if self._n > self._min_points():
            sd = best.std
            lo, hi = expected - self.k * sd, expected + self.k * sd
            result = Result(severity(v, expected, lo, hi), expected, lo, hi, violates(self.config.pattern, v, lo, hi))
        for model in self._models:
            model.learn(v, slot, v - model.forecast(slot))
        return result

    def state_dict(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "clock": self._clock.state() if self._clock else None,
            "init": [list(x) for x in self._init],
            "models": [m.dump() for m in self._models],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.reset()
        self._n = int(state["n"])
        if self._clock and state.get("clock"):
            self._clock.load(state["clock"])
        self._init = [(s, v) for s, v in state.get("init", [])]
        self._models = [_Model.restore(d) for d in state.get("models", [])]
