"""`score`: an online anomaly score in [0, 1] for every point of a key, in the spirit of Numenta's
HTM + anomaly likelihood, with a cheap robust forecaster in place of the HTM.

Two stages, both causal and O(1) per point (state: ~30 floats, plus one float per season slot):

1. A learned model of normal behaviour -> raw surprise.
   A bank of level smoothers (EWMA with alpha 0.02 / 0.1 / 0.3 / 0.7) runs side by side, each
   with a robust residual scale (exponentially weighted mean absolute error, ~50 points). Each point
   is forecast by the model with the lowest scale so far (an online, parameter-free choice of
   smoothing: slow for noisy stationary series, fast for random walks). Learning is robust in the
   way of Gelper, Fried & Croux (2010, "Robust forecasting with exponential and Holt-Winters
   smoothing"): residuals are clipped at 3 sigma before they move a level or a scale, so a spike
   does not drag the forecast. Level shifts: when the last 5 residuals all lie beyond 3 sigma on
   the same side, every level is re-anchored to the median of those 5 points, so the model
   re-adapts within a few points instead of alarming forever.
   Seasonality: an additive profile per slot of the day/week (or per index mod P) learned against
   a slow reference level (memory = one period); the bank then runs on the deseasonalised value.
   With 'auto' (default) a second bank runs on the raw value and the seasonal one is used only
   once two periods were seen and its error scale is < 0.85 x that of the plain bank. 'auto' only
   considers a daily season, for sampling steps between 1 min and 2 h.
   Raw surprise of a point: s = -log10(p), p = two-sided normal tail of z = residual / sigma
   (sigma = 1.2533 x mean absolute error); capped at 10 inside the window and the learned
   statistics, uncapped for the single-point tail below.

2. Anomaly likelihood (Numenta's step: a short-window mean of raw scores compared with their
   long-run distribution, Gaussian tail), made O(1): the mean m of the last `short_window` (10)
   surprises is compared with the exponentially weighted mean/variance of m over `long_window`
   points (winsorised at +3 sd so anomalies do not widen it), giving the tail p_w. Numenta uses a
   Gaussian tail; a mean of 10 surprises is right-skewed (a sum of exponentials is Gamma), so the
   Gaussian tail flagged single moderate outliers. We use the Gamma law with the same learned
   mean and variance (moment matching) instead.
   As the likelihood of a single point, a peaks-over-threshold tail (SPOT, Siffer et al. 2017):
   q = online 95th percentile of s (stochastic approximation); the excesses s - q follow a
   generalized Pareto law whose shape xi (in [0, 1]) and scale are fitted from the online median
   and 90th percentile of the excesses (quantile matching: Q90/Q50 = (10^xi - 1)/(2^xi - 1), robust
   where moments do not exist); p_1 = 0.05 * GPD tail(s - q) above q.
   If the forecaster is calibrated, s is exponential (xi = 0) with mean 1/ln 10, q = 1.30 and
   p_1 is exactly the point's p-value; on heavy-tailed data (Student-t residuals make s
   Pareto-tailed) q, the scale and xi grow and keep p_1 honest.
   All these statistics start from the calibrated priors (a 50-point pseudo-count), so the
   detector is usable right after `warmup`.
   p_w only counts when the current point is itself more surprising than average (no after-glow
   of a past spike while it is still in the window).
   p = min(1, 2 min(p_1, p_w)) (Bonferroni over the two views) and the reported score is
   Numenta's log-likelihood: score = log(p + 1e-10) / log(1e-10), in [0, 1]; score 0.5 <=> p = 1e-5.
   is_anomaly = score >= threshold (default 0.5).
   Numenta's two-sided flip of the tail (unusually LOW surprise also counting) is left out on
   purpose: a series becoming more predictable is not an anomaly here.

expected/lower/upper: the forecast and forecast +- band_z * sigma (display only).
"""

from __future__ import annotations

import math
from collections import deque
from statistics import median
from typing import Any

from flinksql_gen.detectors.base import NAN, UNKNOWN, Detector, Result, is_missing, to_seconds
from flinksql_gen.detectors.config import ScoreConfig
from flinksql_gen.detectors.seasons import MAX_SLOTS, SeasonClock

ALPHAS = (0.02, 0.1, 0.3, 0.7)
SCALE_RATE = 0.02  # mean-absolute-error memory (~50 points)
CLIP = 3.0  # residual clip for learning, in sigmas
SHIFT_RUN = 5  # consecutive same-side residuals beyond SHIFT_Z -> re-anchor levels
SHIFT_Z = 3.0
MAE_TO_SIGMA = 1.2533  # sqrt(pi / 2): mean absolute deviation -> standard deviation (normal)
SEASON_GAMMA = 0.1
S_CAP = 10.0
MU0 = 1.0 / math.log(10.0)  # mean of -log10(U), U uniform
PRIOR_COUNT = 50
TAIL_P = 0.05  # peaks-over-threshold level
Q0 = -math.log10(TAIL_P)  # calibrated 95th percentile of s
Q_STEP = 0.03  # stochastic-approximation step of the quantile (in s units)
E_STEP = 0.1  # log-space step of the excess quantiles
AUTO_RATIO = 0.85


class _Bank:
    """Level smoothers with robust scales, plus the level-shift re-anchoring."""

    def __init__(self) -> None:
        self.levels: list[float] = []
        self.scales: list[float] = [0.0] * len(ALPHAS)
        self.n = 0
        self.run = 0  # signed count of consecutive large same-side residuals
        self.recent: deque[float] = deque(maxlen=SHIFT_RUN)

    def best(self) -> int:
        return min(range(len(ALPHAS)), key=lambda k: self.scales[k])

    def forecast(self) -> tuple[float, float]:
        """(forecast, mean absolute error) of the best model; NaN before any point."""
        if not self.levels:
            return NAN, NAN
        k = self.best()
        return self.levels[k], self.scales[k]

    def learn(self, y: float, warm: bool) -> None:
        self.recent.append(y)
        if not self.levels:
            self.levels = [y] * len(ALPHAS)
            self.n = 1
            return
        k_best = self.best()
        r_best = y - self.levels[k_best]
        sig_best = MAE_TO_SIGMA * self.scales[k_best]
        for k, alpha in enumerate(ALPHAS):
            r = y - self.levels[k]
            if warm:  # bootstrap: plain running mean of |r|, no clipping
                self.levels[k] += alpha * r
                self.scales[k] += max(SCALE_RATE, 1.0 / self.n) * (abs(r) - self.scales[k])
            else:
                lim = CLIP * MAE_TO_SIGMA * self.scales[k]
                c = max(-lim, min(lim, r)) if lim > 0 else r
                self.levels[k] += alpha * c
                self.scales[k] += SCALE_RATE * (min(abs(r), lim if lim > 0 else abs(r)) - self.scales[k])
        self.n += 1
        if warm or sig_best <= 0:
            self.run = 0
            return
        if abs(r_best) > SHIFT_Z * sig_best:
            side = 1 if r_best > 0 else -1
            self.run = self.run + side if self.run * side > 0 else side
        else:
            self.run = 0
        if abs(self.run) >= SHIFT_RUN:
            anchor = median(self.recent)
            self.levels = [anchor] * len(ALPHAS)
            self.run = 0

    def dump(self) -> dict[str, Any]:
        return {"levels": self.levels, "scales": self.scales, "n": self.n, "run": self.run, "recent": list(self.recent)}

    def load(self, d: dict[str, Any]) -> None:
        self.levels, self.scales = list(d["levels"]), list(d["scales"])
        self.n, self.run = int(d["n"]), int(d["run"])
        self.recent = deque(d["recent"], maxlen=SHIFT_RUN)


def surprise(z: float) -> float:
    """-log10 of the two-sided normal tail of |z| (asymptotic form where erfc underflows)."""
    if z < 30.0:
        return -math.log10(max(math.erfc(z / math.sqrt(2.0)), 1e-300))
    # erfc(x) ~ exp(-x^2) / (x sqrt(pi)), x = z / sqrt(2)
    x = z / math.sqrt(2.0)
    return (x * x + math.log(x * math.sqrt(math.pi))) / math.log(10.0)


def gamma_tail(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) = P(Gamma(a, 1) > x) (series / continued fraction)."""
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-13:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < 1e-13:
            break
    return min(1.0, math.exp(log_front) * h)


class ScoreDetector(Detector):
    type_name = "score"
    config_model = ScoreConfig
    sql_expressible = False
    config: ScoreConfig

    def reset(self) -> None:
        s = self.config.seasonality
        self._auto = s == "auto"
        season = "daily" if s == "auto" else s
        self._clock = SeasonClock(season) if season != "none" else None
        self._season: list[float] | None = None
        self._visits: list[int] | None = None
        self._season_n = 0
        self._ref = NAN  # slow deseasonalised reference level for learning the season
        self._plain = _Bank()
        self._seasonal = _Bank()
        self._n = 0
        self._typical = 0.0  # EW mean |value|, for the sigma floor
        self._window: deque[float] = deque(maxlen=self.config.short_window)
        self._mu1 = MU0
        self._q = Q0
        self._e50 = MU0 * math.log(2.0)  # median of the excess (exponential prior)
        self._e90 = MU0 * math.log(10.0)  # 90th percentile of the excess
        self._mu = MU0
        self._var = MU0 * MU0 / self.config.short_window
        self._learned = 0

    # --- seasonality -------------------------------------------------------------------------
    def _slot(self, t: float) -> int | None:
        if self._clock is None:
            return None
        slot = self._clock.observe(t)
        if self._auto and self._clock.fixed and self._season is None:
            dt, m = self._clock.dt or 0.0, self._clock.m or 0
            if not (60.0 <= dt <= 7200.0 and 12 <= m <= MAX_SLOTS):
                self._clock = None  # no plausible daily season for this sampling step
                return None
        if slot is not None and self._season is None:
            m = self._clock.m or 0
            self._season, self._visits = [0.0] * m, [0] * m
        return slot

    def _season_mature(self) -> bool:
        return self._season is not None and self._season_n >= 2 * len(self._season)

    def _use_seasonal(self, slot: int | None) -> bool:
        if slot is None or not self._season_mature():
            return False
        if not self._auto:
            return True
        return self._seasonal.forecast()[1] < AUTO_RATIO * self._plain.forecast()[1]

    def _learn_season(self, v: float, slot: int | None) -> None:
        if slot is None or self._season is None or self._visits is None:
            return
        m = len(self._season)
        if math.isnan(self._ref):
            self._ref = v
        dev = v - self._ref - self._season[slot]
        if self._visits[slot] == 0:
            self._season[slot] = v - self._ref
        else:
            _, mae = self._seasonal.forecast()
            lim = CLIP * MAE_TO_SIGMA * mae if mae == mae and mae > 0 else math.inf
            gamma = max(SEASON_GAMMA, 1.0 / (self._visits[slot] + 1))
            self._season[slot] += gamma * max(-lim, min(lim, dev))
        self._visits[slot] += 1
        self._season_n += 1
        self._ref += (2.0 / (m + 1)) * (v - self._season[slot] - self._ref)

    # --- main --------------------------------------------------------------------------------
    def update(self, timestamp: Any, value: float | None) -> Result:
        if is_missing(value):
            return UNKNOWN
        v = float(value)
        slot = self._slot(to_seconds(timestamp)) if self._clock is not None else None
        seasonal = self._use_seasonal(slot)
        bank = self._seasonal if seasonal else self._plain
        offset = self._season[slot] if seasonal and self._season is not None and slot is not None else 0.0
        level, mae = bank.forecast()
        warm = self._n < self.config.warmup
        result = UNKNOWN
        if not math.isnan(level):
            expected = level + offset
            floor = max(1e-9, 1e-6 * self._typical)
            sigma = max(MAE_TO_SIGMA * mae, floor)
            z = (v - expected) / sigma
            if self.config.pattern == "up":
                z = max(z, 0.0)
            elif self.config.pattern == "down":
                z = min(z, 0.0)
            s_full = surprise(abs(z))
            s = min(S_CAP, s_full)  # capped for the window and the learned statistics
            self._window.append(s)
            band = self.config.band_z * sigma
            if warm:
                result = Result(0.0, expected, expected - band, expected + band, False)
            else:
                m_w = math.fsum(self._window) / len(self._window)
                p1 = TAIL_P * self._tail(s_full - self._q) if s_full > self._q else 1.0
                # the window speaks for the current point only if that point is itself surprising
                # (no after-glow of a past spike while the window still contains it)
                pw = self._window_tail(m_w) if s >= self._mu1 else 1.0
                p = min(1.0, 2.0 * min(p1, pw))
                score = min(1.0, max(0.0, math.log(p + 1e-10) / math.log(1e-10)))
                result = Result(score, expected, expected - band, expected + band, score >= self.config.threshold)
                self._learn_likelihood(s, s_full, m_w)
        # learn the model of normal behaviour
        self._typical += max(SCALE_RATE, 1.0 / (self._n + 1)) * (abs(v) - self._typical)
        self._plain.learn(v, warm)
        season_offset = self._season[slot] if self._season is not None and slot is not None else 0.0
        self._seasonal.learn(v - season_offset, warm)
        self._learn_season(v, slot)
        self._n += 1
        return result

    def _learn_likelihood(self, s: float, s_full: float, m_w: float) -> None:
        self._learned += 1
        rate = max(2.0 / (self.config.long_window + 1), 1.0 / (self._learned + PRIOR_COUNT))
        self._mu1 += rate * (min(s, 8.0 * self._mu1) - self._mu1)
        if s_full > self._q:
            x = s_full - self._q
            # quantiles tracked in log space: scale-free steps, fast to follow a heavy tail
            self._e50 *= math.exp(E_STEP * (0.5 if x > self._e50 else -0.5))
            self._e90 = max(1.5 * self._e50, self._e90 * math.exp(E_STEP * (0.9 if x > self._e90 else -0.1)))
        self._q += Q_STEP * ((1.0 - TAIL_P) if s_full > self._q else -TAIL_P)
        x = min(m_w, self._mu + 3.0 * math.sqrt(self._var))
        d = x - self._mu
        self._mu += rate * d
        self._var = max((1 - rate) * (self._var + rate * d * d), 1e-6)

    def _window_tail(self, m_w: float) -> float:
        """P(window mean > m_w) under a Gamma law with the learned mean and variance."""
        shape = max(0.5, self._mu * self._mu / self._var)
        scale = self._var / self._mu
        return gamma_tail(shape, m_w / scale)

    def _tail(self, x: float) -> float:
        """P(excess > x) under a generalized Pareto matched to the excess median and 90th percentile."""
        ratio = self._e90 / self._e50
        lo, hi = 0.0, 1.0
        if ratio <= math.log(10.0) / math.log(2.0):
            xi = 0.0
        elif ratio >= 9.0:
            xi = 1.0
        else:
            for _ in range(40):  # (10^xi - 1) / (2^xi - 1) increases with xi
                mid = 0.5 * (lo + hi)
                if (10.0**mid - 1.0) / (2.0**mid - 1.0) < ratio:
                    lo = mid
                else:
                    hi = mid
            xi = 0.5 * (lo + hi)
        if xi < 1e-6:
            return math.exp(-x * math.log(2.0) / self._e50)
        scale = self._e50 * xi / (2.0**xi - 1.0)
        return (1.0 + xi * x / scale) ** (-1.0 / xi)

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "typical": self._typical,
            "clock": self._clock.state() if self._clock is not None else None,
            "season": self._season,
            "visits": self._visits,
            "season_n": self._season_n,
            "ref": None if math.isnan(self._ref) else self._ref,
            "plain": self._plain.dump(),
            "seasonal": self._seasonal.dump(),
            "window": list(self._window),
            "mu1": self._mu1,
            "q": self._q,
            "e50": self._e50,
            "e90": self._e90,
            "mu": self._mu,
            "var": self._var,
            "learned": self._learned,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.reset()
        self._n, self._typical = int(state["n"]), float(state["typical"])
        if state.get("clock") is None:
            self._clock = None
        elif self._clock is not None:
            self._clock.load(state["clock"])
        self._season = None if state.get("season") is None else list(state["season"])
        self._visits = None if state.get("visits") is None else list(state["visits"])
        self._season_n = int(state["season_n"])
        self._ref = NAN if state.get("ref") is None else float(state["ref"])
        self._plain.load(state["plain"])
        self._seasonal.load(state["seasonal"])
        self._window = deque(state["window"], maxlen=self.config.short_window)
        self._mu1, self._mu, self._var = float(state["mu1"]), float(state["mu"]), float(state["var"])
        self._q, self._e50, self._e90 = float(state["q"]), float(state["e50"]), float(state["e90"])
        self._learned = int(state["learned"])
