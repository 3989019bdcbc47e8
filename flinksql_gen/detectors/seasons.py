"""Phase of a point within a season, from timestamps (daily/weekly, UTC) or from a period in points."""

from __future__ import annotations

from typing import Any

from flinksql_gen.detectors.config import SEASON_SECONDS

MAX_SLOTS = 2016  # a week of 5-minute points; coarser slots beyond that


class SeasonClock:
    """Maps points to season slots 0..m-1, and keeps its small state.

    - period in points (int P): slot = n mod P, n = number of points seen so far in this key.
    - 'daily'/'weekly': the sampling step dt is learned as the smallest positive gap among the first
      `probe` gaps; then m = round(P_seconds / dt) (capped at MAX_SLOTS) and
      slot = floor((t mod P_seconds) / (P_seconds / m)). Until dt is known, slot() returns None.
    """

    def __init__(self, season: Any, probe: int = 5):
        self.season = season
        self.probe = probe
        self.n = 0
        self.t_prev: float | None = None
        self.gaps = 0
        self.dt: float | None = None
        self.fixed = False
        self.m: int | None = season if isinstance(season, int) else None

    @property
    def seconds(self) -> float | None:
        return SEASON_SECONDS.get(self.season) if isinstance(self.season, str) else None

    def observe(self, t: float) -> int | None:
        """Advance with a point at time t (seconds); return its slot (None while unknown)."""
        slot = self._slot(t)
        self.n += 1
        if self.seconds is not None and not self.fixed:
            if self.t_prev is not None and t > self.t_prev:
                gap = t - self.t_prev
                self.dt = gap if self.dt is None else min(self.dt, gap)
                self.gaps += 1
                if self.gaps >= self.probe:
                    self.fixed = True
                    self.m = max(2, min(MAX_SLOTS, round(self.seconds / self.dt)))
                    slot = self._slot(t)
            self.t_prev = t
        return slot

    def _slot(self, t: float) -> int | None:
        if isinstance(self.season, int):
            return self.n % self.season
        if not self.fixed or self.m is None or self.seconds is None:
            return None
        width = self.seconds / self.m
        return int(((t % self.seconds) / width) + 1e-6) % self.m

    def state(self) -> dict[str, Any]:
        return {"n": self.n, "t_prev": self.t_prev, "gaps": self.gaps, "dt": self.dt, "fixed": self.fixed, "m": self.m}

    def load(self, s: dict[str, Any]) -> None:
        self.n, self.t_prev, self.gaps, self.dt = s["n"], s["t_prev"], s["gaps"], s["dt"]
        self.fixed, self.m = s["fixed"], s["m"]
