"""Change against a baseline N points back (or at `t - duration`): percentage_change, absolute_change.

Exact semantics (shared by the SQL form):
  baseline = the value `offset` points earlier in the same key (SQL: LAG(value, offset) OVER
             (PARTITION BY key ORDER BY ts)); with a duration offset, the value whose timestamp
             is exactly `t - offset` (none -> no judgement).
  percentage_change: lower = b - threshold * |b|, upper = b + threshold * |b|
  absolute_change:   lower = b - threshold,       upper = b + threshold
  anomaly: pattern up -> value > upper, down -> value < lower, both -> either (strict).
  The first `offset` points of a key (no baseline yet) are never anomalous.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from typing import Any

from flinksql_gen.detectors.base import UNKNOWN, Detector, Result, is_missing, severity, to_seconds, violates
from flinksql_gen.detectors.config import AbsoluteChangeConfig, PercentageChangeConfig, duration_seconds
from flinksql_gen.detectors.sql import SqlBand, SqlRow
from flinksql_gen.durations import parse_duration
from flinksql_gen.sql.quoting import quote_identifier as q


class _ChangeDetector(Detector):
    sql_expressible = True
    per_key_settings = ("threshold",)

    @classmethod
    def sql_parameters(cls, config: Any, per_key: Collection[str]) -> dict[str, tuple[str, float | None]]:
        return {"threshold": ("threshold", config.threshold)}

    @classmethod
    def sql_band(cls, config: Any, row: SqlRow) -> SqlBand:
        b = q("baseline")
        if isinstance(config.offset, int):
            over = f"PARTITION BY {', '.join(row.keys)} ORDER BY {row.order}" if row.keys else f"ORDER BY {row.order}"
            helper, offset = f"LAG({row.value}, {config.offset}) OVER ({over}) AS {b}", None
        else:  # the same key's value at exactly t - offset, from the planner's self-join (alias b)
            helper, offset = f"CAST({q('b')}.{row.value_column} AS DOUBLE) AS {b}", parse_duration(config.offset).sql()
        band = cls._sql_width(row.number("threshold", config.threshold), b)
        return SqlBand(b, f"{b} - {band}", f"{b} + {band}", f"{b} IS NOT NULL", (helper,), offset)

    @staticmethod
    def _sql_width(threshold: str, baseline: str) -> str:
        raise NotImplementedError

    def reset(self) -> None:
        off = self.config.offset
        self._points: int | None = off if isinstance(off, int) else None
        self._seconds: float | None = None if isinstance(off, int) else duration_seconds(off)
        # by points: the last `offset` values; by duration: (t, v) pairs of the last `offset` seconds
        self._buf: deque = deque(maxlen=self._points) if self._points else deque()

    def _band(self, baseline: float) -> tuple[float, float]:
        raise NotImplementedError

    def _baseline(self, t: float) -> float | None:
        if self._points is not None:
            return self._buf[0] if len(self._buf) == self._points else None
        target = t - (self._seconds or 0.0)
        for ts, v in self._buf:
            if abs(ts - target) < 1e-6:
                return v
        return None

    def update(self, timestamp: Any, value: float | None) -> Result:
        if is_missing(value):
            return UNKNOWN
        v = float(value)
        t = to_seconds(timestamp) if self._seconds is not None else 0.0
        b = self._baseline(t)
        # learn
        if self._points is not None:
            self._buf.append(v)
        else:
            self._buf.append((t, v))
            horizon = t - (self._seconds or 0.0) - 1e-6
            while self._buf and self._buf[0][0] < horizon:
                self._buf.popleft()
        if b is None:
            return UNKNOWN
        lo, hi = self._band(b)
        return Result(severity(v, b, lo, hi), b, lo, hi, violates(self.config.pattern, v, lo, hi))

    def state_dict(self) -> dict[str, Any]:
        return {"buf": [list(x) if isinstance(x, tuple) else x for x in self._buf]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.reset()
        for x in state.get("buf", []):
            self._buf.append(tuple(x) if isinstance(x, list) else x)


class PercentageChangeDetector(_ChangeDetector):
    type_name = "percentage_change"
    config_model = PercentageChangeConfig
    config: PercentageChangeConfig

    def _band(self, baseline: float) -> tuple[float, float]:
        d = self.config.threshold * abs(baseline)
        return baseline - d, baseline + d

    @staticmethod
    def _sql_width(threshold: str, baseline: str) -> str:
        return f"{threshold} * ABS({baseline})"


class AbsoluteChangeDetector(_ChangeDetector):
    type_name = "absolute_change"
    config_model = AbsoluteChangeConfig
    config: AbsoluteChangeConfig

    def _band(self, baseline: float) -> tuple[float, float]:
        return baseline - self.config.threshold, baseline + self.config.threshold

    @staticmethod
    def _sql_width(threshold: str, baseline: str) -> str:
        return threshold
