"""Typed, strict configs of the detectors, as written in YAML: `{type: mean_variance, lookback: 12, ...}`.

Each model forbids unknown keys. `DetectorConfig` is the discriminated union on `type`;
`parse_detector_config()` turns a dict into one and reports every problem at once.
"""

from __future__ import annotations

import typing
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

from flinksql_gen.detectors import model_service_config
from flinksql_gen.detectors.model_service_config import ModelServiceConfig
from flinksql_gen.durations import parse_duration
from flinksql_gen.errors import DefinitionError, Location, Problem

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

    merge_gap: float | str = Field(default=0, description="anomalies closer than this (seconds, or a duration such as 15min) are one anomaly")
    min_duration: float | str = Field(default=0, description="notify only once an anomaly lasted this long (seconds or a duration)")
    renotify_growth: float | None = Field(default=None, ge=0, description="notify again when the score grows to (1 + this) times the notified score")

    _dur = field_validator("merge_gap", "min_duration")(_check_duration)


class _Base(_Strict):
    postprocess: PostProcessConfig | None = Field(default=None, description="merge nearby anomalies, hold back short ones, re-notify growing ones (UDF form only)")


class ThresholdConfig(_Base):
    """value > max or value < min (strict); with `inclusive: true` a value equal to a bound is anomalous too."""

    type: Literal["threshold"] = Field(default="threshold", description="detector type")
    min: float | None = Field(default=None, description="alert below this value")
    max: float | None = Field(default=None, description="alert above this value")
    inclusive: bool = Field(default=False, description="alert at the bound itself too (<= min, >= max)")

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
    offset: Annotated[int, Field(ge=1)] | str = Field(default=1, description="compare with the value this many points back, or a duration back such as 1d (the same time a day earlier)")
    pattern: Pattern = Field(default="both", description="alert on a rise (up), a fall (down) or both")

    @field_validator("offset")
    @classmethod
    def _offset(cls, v: int | str) -> int | str:
        if isinstance(v, str):
            parse_duration(v)
        return v


class PercentageChangeConfig(_ChangeBase):
    """Anomaly when value leaves baseline +- threshold * |baseline| (threshold is a fraction: 0.2 = 20 %)."""

    type: Literal["percentage_change"] = Field(default="percentage_change", description="detector type")
    threshold: float = Field(gt=0, description="alert when the change exceeds this fraction of the earlier value (0.3 = 30 %)")


class AbsoluteChangeConfig(_ChangeBase):
    """Anomaly when value leaves baseline +- threshold."""

    type: Literal["absolute_change"] = Field(default="absolute_change", description="detector type")
    threshold: float = Field(gt=0, description="alert when the change exceeds this amount")


class MeanVarianceConfig(_Base):
    """mean +- k * std of the previous `lookback` points (the current point is not in the window).

    k = `multiplier` if given, else ThirdEye's mapping of `sensitivity` (0..10): k = 0.5 + 0.1*(10 - s);
    `upper_sensitivity`/`lower_sensitivity` override it per side. std is the SAMPLE std (n - 1),
    as ThirdEye's DoubleSeries.std and Flink's STDDEV_SAMP.
    With a seasonality the window is the previous `lookback` points of the same phase (same time
    of day / week, or same index modulo the period).
    """

    type: Literal["mean_variance"] = Field(default="mean_variance", description="detector type")
    lookback: int = Field(default=12, ge=2, le=10_000, description="points the mean and standard deviation are taken over (the current point excluded)")
    sensitivity: float = Field(default=5.0, description="0..10, ThirdEye's scale: band = mean +- k * std with k = 0.5 + 0.1 * (10 - s)")
    upper_sensitivity: float | None = Field(default=None, description="sensitivity of the upper bound (default: sensitivity)")
    lower_sensitivity: float | None = Field(default=None, description="sensitivity of the lower bound (default: sensitivity)")
    multiplier: float | None = Field(default=None, gt=0, description="k itself: band width in standard deviations (overrides the sensitivities)")
    pattern: Pattern = Field(default="both", description="alert above the band (up), below it (down) or both")
    seasonality: Seasonality = Field(default="none", description="compare with the same phase: daily, weekly, a period in points, or none")
    min_points: int | None = Field(default=None, ge=2, description="points needed before any alert (default: lookback)")

    @model_validator(mode="after")
    def _min_points(self) -> MeanVarianceConfig:
        if self.min_points is not None and self.min_points > self.lookback:
            raise ValueError(f"min_points ({self.min_points}) cannot exceed lookback ({self.lookback})")
        return self


class EwmaConfig(_Base):
    """Exponentially weighted mean and variance of the past; band = mean +- k * std."""

    type: Literal["ewma"] = Field(default="ewma", description="detector type")
    alpha: float | None = Field(default=None, gt=0, le=1, description="smoothing factor in (0, 1] (default: from span)")
    span: float | None = Field(default=None, ge=1, description="alpha = 2 / (span + 1); default span 20")
    sensitivity: float = Field(default=5.0, description="0..10: band = mean +- z * std with z = 1 + 0.2 * (10 - s)")
    k: float | None = Field(default=None, gt=0, description="z itself: band width in standard deviations (overrides sensitivity)")
    pattern: Pattern = Field(default="both", description="alert above the band (up), below it (down) or both")
    min_points: int = Field(default=10, ge=2, description="points needed before any alert")

    @model_validator(mode="after")
    def _alpha(self) -> EwmaConfig:
        if self.alpha is not None and self.span is not None:
            raise ValueError("set alpha or span, not both")
        return self


class HoltWintersConfig(_Base):
    """Additive Holt-Winters (level, trend, season); alpha/beta/gamma left out are fitted online."""

    type: Literal["holt_winters"] = Field(default="holt_winters", description="detector type")
    period: Literal["none", "daily", "weekly"] | Annotated[int, Field(ge=2, le=20_000)] = Field(default="none", description="seasonal period: none, daily, weekly, or a number of points")
    alpha: float | None = Field(default=None, gt=0, le=1, description="level smoothing factor")
    beta: float | None = Field(default=None, ge=0, le=1, description="trend smoothing factor")
    gamma: float | None = Field(default=None, ge=0, le=1, description="seasonal smoothing factor")
    sensitivity: float = Field(default=5.0, description="0..10: band = forecast +- z * error std with z = 1 + 0.2 * (10 - s)")
    k: float | None = Field(default=None, gt=0, description="z itself: band width in error standard deviations (overrides sensitivity)")
    pattern: Pattern = Field(default="both", description="alert above the band (up), below it (down) or both")
    min_points: int | None = Field(default=None, ge=2, description="points needed before any alert (default: two periods, 10 without a season)")


class ScoreConfig(_Base):
    """Online anomaly score in [0, 1] (level x change x forecast deviations); see detectors.score."""

    type: Literal["score"] = Field(default="score", description="detector type")
    threshold: float = Field(default=0.42, gt=0, le=1, description="is_anomaly = score >= threshold (scores are 0..1)")
    seasonality: Seasonality = Field(default="none", description="daily or weekly seasonality, or none")
    level_span: int = Field(default=1000, ge=2, description="memory of the level's mean and std, in points")
    change_span: int = Field(default=3000, ge=2, description="memory of the change and forecast-error scales, in points")
    forecast_span: float = Field(default=4.0, ge=1, description="span of the short-term EWMA forecast, in points")
    hold: int = Field(default=5, ge=0, description="points with halved scores after an alert")
    warmup: int = Field(default=30, ge=2, description="points before any alert")
    band_z: float = Field(default=3.0, gt=0, description="width of the displayed expected band, in errors")
    pattern: Pattern = Field(default="both", description="alert on rises (up), falls (down) or both")


class WindowedGaussianConfig(_Base):
    """NAB's windowed Gaussian baseline: two-sided normal tail against the previous `window` values."""

    type: Literal["windowed_gaussian"] = Field(default="windowed_gaussian", description="detector type")
    window: int = Field(default=6400, ge=2, le=100_000, description="points in the sliding window")
    min_points: int = Field(default=1, ge=1, description="points needed before any score")
    threshold: float = Field(default=0.99999, gt=0, le=1, description="is_anomaly = score >= threshold")
    band_z: float = Field(default=3.0, gt=0, description="width of the displayed expected band, in standard deviations")


DetectorConfig = Annotated[
    ThresholdConfig
    | PercentageChangeConfig
    | AbsoluteChangeConfig
    | MeanVarianceConfig
    | EwmaConfig
    | HoltWintersConfig
    | ScoreConfig
    | WindowedGaussianConfig
    | ModelServiceConfig,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(DetectorConfig)


def config_types() -> list[str]:
    """The detector type names the config union accepts (the registry maps each to its class)."""
    union = typing.get_args(DetectorConfig)[0]
    return sorted(cls.model_fields["type"].default for cls in typing.get_args(union))


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
                msg = f"unknown or missing detector type {data.get('type')!r}; known: {', '.join(config_types())}"
            problems.append(Problem(Location(source), ".".join(loc), msg))
        raise DefinitionError(problems) from None


model_service_config.FALLBACK_PARSER = parse_detector_config
