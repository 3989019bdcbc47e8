"""Common pieces of every detector: the per-point result, the incremental interface, time handling.

A detector instance holds the state of ONE key (one time series). It is causal: `update(t, v)`
only sees the past and the current point, and keeps bounded state that round-trips through a
small JSON-compatible dict (`state_dict()` / `load_state()`), so a PyFlink UDAF accumulator or
keyed ValueState can hold it. `run(series)` just loops `update`, so offline evaluation and the
stream execute exactly the same code.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from typing import Any, ClassVar

from pydantic import BaseModel

from flinksql_gen.detectors.sql import SqlBand, SqlRow

NAN = float("nan")


@dataclass(frozen=True)
class Result:
    """What a detector says about one point.

    score: severity. For the rule detectors it is the deviation from `expected` divided by the
    allowed deviation (0 on the baseline, 1 on the band edge, >1 outside); for `score` it is a
    calibrated anomaly score in [0, 1]. NaN when the detector cannot judge the point yet.
    expected/lower/upper: the baseline and band (NaN when unknown, +-inf for an open side).
    """

    score: float
    expected: float
    lower: float
    upper: float
    is_anomaly: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


UNKNOWN = Result(NAN, NAN, NAN, NAN, False)


def to_seconds(timestamp: Any) -> float:
    """Normalise a timestamp to epoch seconds (float).

    datetime/pandas.Timestamp (naive = UTC), ISO strings, or numbers. Numbers with magnitude
    >= 1e11 are epoch milliseconds (Flink's BIGINT convention), smaller ones are seconds, so a
    plain point index 0, 1, 2... also works (1 'second' per point).
    """
    if isinstance(timestamp, bool):
        raise TypeError("a timestamp cannot be a boolean")
    if isinstance(timestamp, (int, float)):
        t = float(timestamp)
        return t / 1000.0 if abs(t) >= 1e11 else t
    if isinstance(timestamp, str):
        timestamp = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    if hasattr(timestamp, "to_pydatetime"):  # pandas.Timestamp
        timestamp = timestamp.to_pydatetime()
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=timezone.utc)
        return timestamp.timestamp()
    if isinstance(timestamp, date):
        return datetime(timestamp.year, timestamp.month, timestamp.day, tzinfo=timezone.utc).timestamp()
    raise TypeError(f"unsupported timestamp {timestamp!r}")


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def violates(pattern: str, value: float, lower: float, upper: float) -> bool:
    """ThirdEye's pattern check with strict inequalities: up = value > upper, down = value < lower."""
    up = value > upper
    down = value < lower
    if pattern == "up":
        return up
    if pattern == "down":
        return down
    return up or down


def severity(value: float, expected: float, lower: float, upper: float) -> float:
    """Deviation over allowed deviation on the side the value is on (0 on expected, 1 on the edge)."""
    if any(math.isnan(x) for x in (value, expected)):
        return NAN
    diff = value - expected
    if diff == 0:
        return 0.0
    edge = upper if diff > 0 else lower
    if math.isnan(edge) or math.isinf(edge):
        return 0.0
    allowed = abs(edge - expected)
    if allowed == 0:
        return math.inf
    return abs(diff) / allowed


# ThirdEye's sensitivity scales (0..10, higher = more anomalies), kept verbatim so that a definition
# ported from ThirdEye keeps its meaning:
#  - MEAN_VARIANCE (thirdeye-plugins MeanVarianceRuleDetector.sigma): k = 0.5 + 0.1 * (10 - s),
#    i.e. s=0 -> 1.5 sigma, s=5 -> 1.0 sigma (ThirdEye's default), s=10 -> 0.5 sigma.
#  - HOLT_WINTERS (HoltWintersDetector.sensitivityToZscore): z = 1 + 0.2 * (10 - s), clamped to
#    0..10, i.e. s=0 -> 3.0, s=5 -> 2.0, s=10 -> 1.0.
def mean_variance_sigma(sensitivity: float) -> float:
    return 0.5 + 0.1 * (10.0 - sensitivity)


def holt_winters_zscore(sensitivity: float) -> float:
    s = min(10.0, max(0.0, sensitivity))
    return 1.0 + 0.2 * (10.0 - s)


class Detector(ABC):
    """One key's incremental detector. Subclasses set `type_name` and `config_model`; those with a
    pure-SQL form also set `sql_expressible` and implement `sql_band` (and `sql_parameters` and
    `per_key_settings` when a per-key lookup may replace their numbers)."""

    type_name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    sql_expressible: ClassVar[bool] = False
    per_key_settings: ClassVar[tuple[str, ...]] = ()  # settings a per-key lookup may give (SQL form)

    def __init__(self, config: BaseModel | dict[str, Any] | None = None, **overrides: Any):
        if config is None:
            config = {"type": self.type_name}
        if isinstance(config, dict):
            config = self.config_model.model_validate({"type": self.type_name, **config, **overrides})
        elif overrides:
            config = config.model_copy(update=overrides)
        self.config = config
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Forget everything learned (fresh cold start)."""

    @abstractmethod
    def update(self, timestamp: Any, value: float | None) -> Result:
        """Judge `value` at `timestamp` against the past, then learn from it."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The whole learned state as a small JSON-compatible dict."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a state produced by `state_dict()` (of a detector with the same config)."""

    @classmethod
    def sql_form_available(cls, config: BaseModel) -> bool:
        """Whether this config has a SQL form (`sql_expressible` narrowed by the config; postprocess
        turns flags into notifications with state only the UDF keeps)."""
        return cls.sql_expressible and getattr(config, "postprocess", None) is None

    @classmethod
    def sql_parameters(cls, config: BaseModel, per_key: Collection[str]) -> dict[str, tuple[str, float | None]]:
        """The numbers of the SQL band a per-key lookup may replace: parameter -> (the per-key
        setting that gives it, the config's own value). `per_key`: the settings the lookup gives."""
        return {}

    @classmethod
    def sql_band(cls, config: BaseModel, row: SqlRow) -> SqlBand:
        """The judgement of one row in pure SQL (only when `sql_form_available(config)`)."""
        raise NotImplementedError(f"{cls.type_name} has no pure-SQL form")

    def run(self, series: Any) -> list[Result]:
        """Feed a whole series through `update` (causal). See `iter_points` for accepted inputs."""
        return [self.update(t, v) for t, v in iter_points(series)]


def iter_points(series: Any) -> Iterable[tuple[Any, Any]]:
    """(timestamp, value) pairs from a pandas Series (index = time), a DataFrame with
    `timestamp`/`value` columns, a sequence of pairs, or a sequence of plain values (index = time)."""
    if hasattr(series, "columns"):  # DataFrame
        return zip(series["timestamp"].tolist(), series["value"].tolist(), strict=True)
    if hasattr(series, "index") and hasattr(series, "tolist"):  # Series
        return zip(series.index.tolist(), series.tolist(), strict=True)
    items = list(series)
    if items and isinstance(items[0], (tuple, list)):
        return [(p[0], p[1]) for p in items]
    return list(enumerate(items))
