"""`score`: an online anomaly score in [0, 1] for every point of a key, built for sparse, early,
confident alerts on real service metrics (tuned with NAB's rules on the anomaly-dev corpus).

Three causal views of how unusual a point x is, each a z-score against exponentially weighted
statistics of the past (O(1) state, no buffers):
  - level:    |x - m| / s,        m, s = EW mean and std of x (memory `level_span` points), the
               rolling-window Gaussian of NAB's baseline made O(1);
  - change:   |x - x_prev| / c,   c = EW root mean square of the point-to-point changes
               (memory `change_span`): a sudden jump, whatever the level;
  - forecast: |x - f| / e,        f = fast EWMA forecast (span `forecast_span`), e = EW RMS of its
               errors (memory `change_span`): off the short-term course, robust to one noisy step.
The deviation D is their geometric mean: a point must be surprising in every view (far from the
usual level AND a sudden move AND off the short-term course). Each view alone fires on the
ordinary behaviour of some series (random walks for level, noisy series for change); their
product is what sets real incidents apart, and it stays comparable across series, so one
threshold serves a whole fleet of metrics.
Raw surprise s = -log10 p, p = two-sided normal tail of D, less log10 of the points per hour
(when the step is under an hour): a per-point tail probability makes a 1-minute series raise 60
times the false alarms per day of an hourly one at the same threshold, so surprise is counted
per hour of data (a Bonferroni correction for the tests made per hour; the step is the smallest
of the first gaps, as the season clock learns it; point-index timestamps, below 1e8, carry no
time unit and get no correction). score = s / (s + 5) (score 0.5 <=> s = 5; monotone, never
saturates, so a threshold can be swept).
Sparse alerts: after a point is flagged (score >= threshold) the next `hold` points have their
score halved, so one incident gives one alert rather than a burst (NAB counts every flagged row
outside a window as a false positive).
Seasonality (optional, default none): a per-slot additive profile (daily/weekly from the
timestamps, or a period in points) is learned and removed before the three views.
The first `warmup` points score 0. Missing values are skipped: state unchanged, UNKNOWN result.
expected/lower/upper: the short-term forecast (+ season) +- band_z x e (display only).
"""

from __future__ import annotations

import math
from typing import Any

from flinksql_gen.detectors.base import UNKNOWN, Detector, Result, is_missing, to_seconds
from flinksql_gen.detectors.config import ScoreConfig
from flinksql_gen.detectors.seasons import SeasonClock

SCORE_HALF = 5.0  # surprise (-log10 p) at which the score is 0.5
HOLD_DAMP = 0.5  # score factor while holding after an alert
ALARM_PERIOD = 3600.0  # seconds: surprise is counted per hour of data (see rate_penalty)
STEP_PROBE = 5  # gaps seen before the sampling step is fixed
EPOCH_MIN = 1e8  # timestamps below this are point indices (no time unit)
SEASON_GAMMA = 0.1  # learning rate of a season slot
TINY = 1e-12
LOG10 = math.log(10.0)


def surprise(z: float) -> float:
    """-log10 of the two-sided normal tail of |z| (asymptotic form where erfc underflows)."""
    if z < 30.0:
        return -math.log10(max(math.erfc(z / math.sqrt(2.0)), 1e-300))
    x = z / math.sqrt(2.0)  # erfc(x) ~ exp(-x^2) / (x sqrt(pi))
    return (x * x + math.log(x * math.sqrt(math.pi))) / LOG10


def rate_penalty(step: float | None) -> float:
    """log10 of the points per ALARM_PERIOD (0 for coarser steps or an unknown step)."""
    return math.log10(ALARM_PERIOD / step) if step is not None and 0.0 < step < ALARM_PERIOD else 0.0


def _z(residual: float, scale: float) -> float:
    if scale > TINY:
        return abs(residual) / scale
    return 0.0 if abs(residual) <= TINY else 1e6  # a move off a perfectly flat past


class ScoreDetector(Detector):
    type_name = "score"
    config_model = ScoreConfig
    sql_expressible = False
    config: ScoreConfig

    def reset(self) -> None:
        c = self.config
        self._a_level = 2.0 / (c.level_span + 1.0)
        self._a_change = 2.0 / (c.change_span + 1.0)
        self._a_fast = 2.0 / (c.forecast_span + 1.0)
        s = c.seasonality
        self._clock = SeasonClock(s) if s != "none" else None
        self._season: list[float] | None = None
        self._n = 0
        self._mean = 0.0  # EW mean of x
        self._var = 0.0  # EW variance of x
        self._prev = 0.0  # previous x
        self._change_sq = 0.0  # EW mean of squared changes
        self._fast = 0.0  # fast EWMA forecast
        self._err_sq = 0.0  # EW mean of squared forecast errors
        self._hold = 0  # points left in the hold after an alert
        self._t_prev: float | None = None  # time of the previous point (while probing the step)
        self._gaps = 0  # gaps probed so far
        self._step: float | None = None  # smallest positive gap among the probed ones
        self._penalty = 0.0  # rate_penalty(step) once the step is fixed

    def _offset(self, timestamp: Any) -> tuple[int | None, float]:
        """Season slot of the point and its learned offset (0 until the slot was seen)."""
        if self._clock is None:
            return None, 0.0
        slot = self._clock.observe(to_seconds(timestamp))
        if slot is None:
            return None, 0.0
        if self._season is None:
            self._season = [math.nan] * (self._clock.m or 1)
        off = self._season[slot]
        return slot, 0.0 if math.isnan(off) else off

    def _probe_step(self, timestamp: Any) -> None:
        t = to_seconds(timestamp)
        if t < EPOCH_MIN:  # a point index: no time unit, no correction
            self._gaps = STEP_PROBE
            return
        if self._t_prev is not None:
            gap = t - self._t_prev
            if gap > 0 and (self._step is None or gap < self._step):
                self._step = gap
            self._gaps += 1
            if self._gaps >= STEP_PROBE:
                self._penalty = rate_penalty(self._step)
        self._t_prev = t

    def update(self, timestamp: Any, value: float | None) -> Result:
        if is_missing(value):
            return UNKNOWN
        v = float(value)
        if self._gaps < STEP_PROBE:
            self._probe_step(timestamp)
        slot, offset = self._offset(timestamp)
        x = v - offset
        c = self.config
        if self._n == 0:
            self._mean = self._prev = self._fast = x
            self._n = 1
            self._learn_season(v, slot)
            return UNKNOWN
        level_r, change_r, fast_r = x - self._mean, x - self._prev, x - self._fast
        err = math.sqrt(self._err_sq)
        expected = self._fast + offset
        band = c.band_z * err
        score = 0.0
        flagged = False
        if self._n >= c.warmup and self._pattern_ok(level_r):
            d = (_z(level_r, math.sqrt(self._var)) * _z(change_r, math.sqrt(self._change_sq)) * _z(fast_r, err)) ** (1.0 / 3.0)
            s = max(surprise(d) - self._penalty, 0.0)
            score = s / (s + SCORE_HALF)
            if self._hold > 0:
                score *= HOLD_DAMP
                self._hold -= 1
            elif score >= c.threshold:
                self._hold = c.hold
            flagged = score >= c.threshold
        # learn (bias-corrected start: plain means over the first points)
        n = self._n
        a = max(self._a_level, 1.0 / (n + 1))
        self._mean += a * level_r
        self._var = (1.0 - a) * (self._var + a * level_r * level_r)
        a = max(self._a_change, 1.0 / n)
        self._change_sq += a * (change_r * change_r - self._change_sq)
        self._err_sq += a * (fast_r * fast_r - self._err_sq)
        self._fast += self._a_fast * fast_r
        self._prev = x
        self._n = n + 1
        self._learn_season(v, slot)
        return Result(score, expected, expected - band, expected + band, flagged)

    def _pattern_ok(self, level_r: float) -> bool:
        p = self.config.pattern
        return p == "both" or (p == "up" and level_r > 0) or (p == "down" and level_r < 0)

    def _learn_season(self, v: float, slot: int | None) -> None:
        if slot is None or self._season is None:
            return
        dev = v - self._mean  # the deseasonalised level is the reference
        old = self._season[slot]
        self._season[slot] = dev if math.isnan(old) else old + SEASON_GAMMA * (dev - old)

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "mean": self._mean,
            "var": self._var,
            "prev": self._prev,
            "change_sq": self._change_sq,
            "fast": self._fast,
            "err_sq": self._err_sq,
            "hold": self._hold,
            "t_prev": self._t_prev,
            "gaps": self._gaps,
            "step": self._step,
            "clock": self._clock.state() if self._clock is not None else None,
            "season": None if self._season is None else [None if math.isnan(x) else x for x in self._season],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.reset()
        self._n, self._hold = int(state["n"]), int(state["hold"])
        self._mean, self._var, self._prev = float(state["mean"]), float(state["var"]), float(state["prev"])
        self._change_sq, self._fast, self._err_sq = float(state["change_sq"]), float(state["fast"]), float(state["err_sq"])
        self._t_prev, self._gaps, self._step = state.get("t_prev"), int(state.get("gaps", 0)), state.get("step")
        if self._gaps >= STEP_PROBE:
            self._penalty = rate_penalty(self._step)
        if self._clock is not None and state.get("clock") is not None:
            self._clock.load(state["clock"])
        season = state.get("season")
        self._season = None if season is None else [math.nan if x is None else float(x) for x in season]
