"""Typed, strict configs of the detectors, as written in YAML: `{type: mean_variance, lookback: 12, ...}`.

Each model forbids unknown keys. `DetectorConfig` is the discriminated union on `type`;
`parse_detector_config()` turns a dict into one and reports every problem at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from flinksql_gen.errors import DefinitionError, Location, Problem
from flinksql_gen.models.common import parse_duration

Pattern = Literal["up", "down", "both"]
# A seasonality: none, daily or weekly (phase from the timestamps, UTC), or a period in points.
Seasonality = Literal["none", "daily", "weekly"] | Annotated[int, Field(ge=2)]

SEASON_SECONDS = {"daily": 86_400.0, "weekly": 604_800.0}


def duration_seconds(value: float | str | None) -> float | None:
    """A duration as seconds: numbers are seconds (= points for an index series), strings like '15min'."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    return parse_duration(value).millis / 1000.0


def _check_duration(value: float | str | None) -> float | str | None:
    if isinstance(value, str):
        parse_duration(value)
    elif value is not None and value < 0:
        raise ValueError("must not be negative")
    return value


DurationOrSeconds = Annotated[float | str | None, Field(default=None)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostProcessConfig(_Strict):
    """Turn per-point flags into notifications (see detectors.postprocess)."""

    merge_gap: float | str = 0  # anomalies closer than this (seconds or '15min') are one anomaly
    min_duration: float | str = 0  # notify only once an anomaly lasted this long (last - first point)
    renotify_growth: float | None = Field(default=None, ge=0)  # re-notify when score >= (1+g) * notified

    _dur = field_validator("merge_gap", "min_duration")(_check_duration)


class _Base(_Strict):
    postprocess: PostProcessConfig | None = None


class ThresholdConfig(_Base):
    """value > max or value < min (strict); with `inclusive: true` a value equal to a bound is anomalous too."""

    type: Literal["threshold"] = "threshold"
    min: float | None = None
    max: float | None = None
    inclusive: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdConfig:
        if self.min is None and self.max is None:
            raise ValueError("set at least one of min and max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class _ChangeBase(_Base):
    # Baseline: the value `offset` points back (int; 1 = previous window), or at exactly
    # `timestamp - offset` (duration string like '7d': same window one week ago).
    offset: Annotated[int, Field(ge=1)] | str = 1
    pattern: Pattern = "both"

    @field_validator("offset")
    @classmethod
    def _offset(cls, v: int | str) -> int | str:
        if isinstance(v, str):
            parse_duration(v)
        return v


class PercentageChangeConfig(_ChangeBase):
    """Anomaly when value leaves baseline +- threshold * |baseline| (threshold is a fraction: 0.2 = 20 %)."""

    type: Literal["percentage_change"] = "percentage_change"
    threshold: float = Field(gt=0)


class AbsoluteChangeConfig(_ChangeBase):
    """Anomaly when value leaves baseline +- threshold."""

    type: Literal["absolute_change"] = "absolute_change"
    threshold: float = Field(gt=0)


class MeanVarianceConfig(_Base):
    """mean +- k * std of the previous `lookback` points (the current point is not in the window).

    k = `multiplier` if given, else ThirdEye's mapping of `sensitivity` (0..10): k = 0.5 + 0.1*(10 - s);
    `upper_sensitivity`/`lower_sensitivity` override it per side. std is the SAMPLE std (n - 1),
    as ThirdEye's DoubleSeries.std and Flink's STDDEV_SAMP.
    With a seasonality the window is the previous `lookback` points of the same phase (same time
    of day / week, or same index modulo the period).
    """

    type: Literal["mean_variance"] = "mean_variance"
    lookback: int = Field(default=12, ge=2, le=10_000)
    sensitivity: float = 5.0
    upper_sensitivity: float | None = None
    lower_sensitivity: float | None = None
    multiplier: float | None = Field(default=None, gt=0)
    pattern: Pattern = "both"
    seasonality: Seasonality = "none"
    min_points: int | None = Field(default=None, ge=2)  # default: lookback (a full window)

    @model_validator(mode="after")
    def _min_points(self) -> MeanVarianceConfig:
        if self.min_points is not None and self.min_points > self.lookback:
            raise ValueError(f"min_points ({self.min_points}) cannot exceed lookback ({self.lookback})")
        return self


class EwmaConfig(_Base):
    """Exponentially weighted mean and variance of the past; band = mean +- k * std."""

    type: Literal["ewma"] = "ewma"
    alpha: float | None = Field(default=None, gt=0, le=1)
    span: float | None = Field(default=None, ge=1)  # alpha = 2 / (span + 1); default span 20
    sensitivity: float = 5.0  # ThirdEye HOLT_WINTERS z mapping: z = 1 + 0.2 * (10 - s)
    k: float | None = Field(default=None, gt=0)
    pattern: Pattern = "both"
    min_points: int = Field(default=10, ge=2)

    @model_validator(mode="after")
    def _alpha(self) -> EwmaConfig:
        if self.alpha is not None and self.span is not None:
            raise ValueError("set alpha or span, not both")
        return self


class HoltWintersConfig(_Base):
    """Additive Holt-Winters (level, trend, season); alpha/beta/gamma left out are fitted online."""

    type: Literal["holt_winters"] = "holt_winters"
    period: Literal["none", "daily", "weekly"] | Annotated[int, Field(ge=2, le=20_000)] = "none"
    alpha: float | None = Field(default=None, gt=0, le=1)
    beta: float | None = Field(default=None, ge=0, le=1)
    gamma: float | None = Field(default=None, ge=0, le=1)
    sensitivity: float = 5.0  # ThirdEye's z = 1 + 0.2 * (10 - s)
    k: float | None = Field(default=None, gt=0)
    pattern: Pattern = "both"
    min_points: int | None = Field(default=None, ge=2)  # default: 2 periods (10 points without season)


class ScoreConfig(_Base):
    """Online anomaly score in [0, 1] (level x change x forecast deviations); see detectors.score."""

    type: Literal["score"] = "score"
    threshold: float = Field(default=0.42, gt=0, le=1)  # is_anomaly = score >= threshold
    seasonality: Seasonality = "none"
    level_span: int = Field(default=1000, ge=2)  # memory of the level mean/std (points)
    change_span: int = Field(default=3000, ge=2)  # memory of the change and forecast-error scales
    forecast_span: float = Field(default=4.0, ge=1)  # span of the short-term EWMA forecast
    hold: int = Field(default=5, ge=0)  # points with halved scores after an alert
    warmup: int = Field(default=30, ge=2)  # points before any alarm
    band_z: float = Field(default=3.0, gt=0)  # width of the displayed expected band (in errors)
    pattern: Pattern = "both"


class WindowedGaussianConfig(_Base):
    """NAB's windowed Gaussian baseline: two-sided normal tail against the previous `window` values."""

    type: Literal["windowed_gaussian"] = "windowed_gaussian"
    window: int = Field(default=6400, ge=2, le=100_000)
    min_points: int = Field(default=1, ge=1)
    threshold: float = Field(default=0.99999, gt=0, le=1)  # is_anomaly = score >= threshold
    band_z: float = Field(default=3.0, gt=0)


DetectorConfig = Annotated[
    ThresholdConfig
    | PercentageChangeConfig
    | AbsoluteChangeConfig
    | MeanVarianceConfig
    | EwmaConfig
    | HoltWintersConfig
    | ScoreConfig
    | WindowedGaussianConfig,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(DetectorConfig)


def parse_detector_config(data: Any, source: str = "<detector>") -> Any:
    """Validate a dict into a detector config; raise DefinitionError listing every problem."""
    if isinstance(data, BaseModel):
        return data
    if not isinstance(data, dict):
        raise DefinitionError([Problem(Location(source), "", "a detector must be a mapping with a 'type' key")])
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            # drop the union tag pydantic puts first (e.g. 'mean_variance')
            if loc and loc[0] == str(data.get("type")):
                loc = loc[1:]
            msg = err["msg"]
            if err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
                from flinksql_gen.detectors.registry import detector_types

                msg = f"unknown or missing detector type {data.get('type')!r}; known: {', '.join(detector_types())}"
            problems.append(Problem(Location(source), ".".join(loc), msg))
        raise DefinitionError(problems) from None
