"""Detector definitions: conditions (filter, having, trend, ...) and the statistical
detectors of flinksql_gen.detectors, run per dimension key."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from flinksql_gen.detectors import config as dconf
from flinksql_gen.models.common import Duration, Name
from flinksql_gen.models.fields import ColumnName, Strict, Topic
from flinksql_gen.models.metrics import Predicate, normalise_op


class _DetectorBase(Strict):
    metric: Name = Field(description="the metric to watch")
    sinks: list[Name] = Field(min_length=1, description="the sinks its alerts are written to")
    description: str = Field(default="", description="free text for people reading the definition")


class FilterDetector(_DetectorBase):
    """Rows of a metric that meet all conditions."""

    type: Literal["filter"] = Field(description="detector type")
    where: list[Predicate] = Field(min_length=1, description="conditions every alerting row meets (combined with AND)")


class HavingDetector(_DetectorBase):
    """Aggregated rows (per dimensions and window) whose aggregates meet all conditions."""

    type: Literal["having"] = Field(description="detector type")
    where: list[Predicate] = Field(min_length=1, description="conditions on aggregates and dimensions")


class TrendStep(Strict):
    direction: Literal["up", "down"] = Field(description="the value moves up or down")
    min: int = Field(default=1, ge=1, description="at least this many consecutive moves")
    max: int | None = Field(default=None, ge=1, description="at most this many (default: no limit)")

    @model_validator(mode="after")
    def _bounds(self) -> TrendStep:
        if self.max is not None and self.max < self.min:
            raise ValueError("`max` must be at least `min`")
        return self


class TrendDetector(_DetectorBase):
    """MATCH_RECOGNIZE over a windowed metric: a start row, then moves up/down in the given order."""

    type: Literal["trend"] = Field(description="detector type")
    value: ColumnName = Field(description="the aggregate whose moves form the trend")
    steps: list[TrendStep] = Field(min_length=1, description="the moves that follow a start row, in order")
    partition_by: list[ColumnName] | None = Field(default=None, description="default: the metric's dimensions")
    within: Duration | None = Field(default=None, description="the whole pattern must happen within this time")


class LookupThresholdDetector(_DetectorBase):
    """Join each metric row with a lookup table row and compare a value with the row's threshold."""

    type: Literal["lookup_threshold"] = Field(description="detector type")
    lookup: Name = Field(description="the lookup table holding the thresholds")
    on: dict[ColumnName, ColumnName] = Field(min_length=1, description="metric column -> lookup key column")
    value: ColumnName = Field(description="the metric column compared with the threshold")
    threshold: ColumnName = Field(description="the lookup column holding the threshold")
    op: Annotated[
        Literal["gt", "ge", "lt", "le"],
        BeforeValidator(normalise_op, json_schema_input_type=Literal["gt", "ge", "lt", "le", ">", ">=", "<", "<="]),
    ] = Field(default="gt", description="alert when value op threshold holds: gt, ge, lt, le (or > >= < <=)")
    default: float | None = Field(default=None, description="threshold for keys with no row (default: no alert)")
    columns: list[ColumnName] = Field(default_factory=list, description="more lookup columns to output")


class NoDataDetector(_DetectorBase):
    """A key that had events and then none for `after` windows of its metric: one alert when the
    watermark passes the end of the silence (other keys' events move the watermark on)."""

    type: Literal["no_data"] = Field(description="detector type")
    after: int = Field(default=1, ge=1, le=1000, description="windows without events before the alert")


class DrilldownDetector(_DetectorBase):
    """Root-cause drill-down: per window, which dimension values explain the change of the metric's
    total against the same leaves `offset` windows back (ThirdEye-style contribution analysis and a
    multi-dimensional search for the combinations that explain it)."""

    type: Literal["drilldown"] = Field(description="detector type")
    value: ColumnName | None = Field(default=None, description="the additive metric column (default: its value)")
    dimensions: list[ColumnName] | None = Field(default=None, description="dimensions to explain over (default: all)")
    offset: int = Field(default=1, ge=1, description="baseline: the same leaf this many windows back")
    min_change: float = Field(default=0.1, ge=0, description="explain windows whose total changed by at least this fraction")
    max_depth: int = Field(default=3, ge=1, le=5, description="largest combination of dimensions to consider")
    top: int = Field(default=3, ge=1, le=50, description="how many explanations to write")


class PerKeySettings(Strict):
    """Detector settings per key from a PostgreSQL lookup table; a key without a row, or with a NULL
    there, keeps the detector's own setting (the default)."""

    lookup: Name = Field(description="the lookup table holding the per-key settings")
    on: dict[ColumnName, ColumnName] = Field(min_length=1, description="metric column -> lookup key column")
    settings: dict[Literal["threshold", "min", "max", "multiplier"], ColumnName] = Field(
        min_length=1,
        description="detector setting -> lookup column: `threshold` for percentage/absolute change, `min`/`max` "
        "for threshold, `multiplier` for mean_variance",
    )


class _StatisticalBase(_DetectorBase):
    """A detector from flinksql_gen.detectors, run per dimension key over the metric's values."""

    per_key: PerKeySettings | None = Field(
        default=None, description="per-key settings from a lookup table (pure-SQL forms)"
    )

    value: ColumnName | None = Field(default=None, description="the metric column to judge (default: its value)")
    emit: Literal["anomalies", "all"] = Field(
        default="anomalies", description="write only anomalous points, or every point with its score (enriched)"
    )
    form: Literal["auto", "sql", "udf"] = Field(
        default="auto", description="pure Flink SQL, or a PyFlink UDF (auto: SQL where it can express the detector)"
    )


class ThresholdRule(_StatisticalBase, dconf.ThresholdConfig):
    pass


class PercentageChangeRule(_StatisticalBase, dconf.PercentageChangeConfig):
    pass


class AbsoluteChangeRule(_StatisticalBase, dconf.AbsoluteChangeConfig):
    pass


class MeanVarianceRule(_StatisticalBase, dconf.MeanVarianceConfig):
    pass


class EwmaRule(_StatisticalBase, dconf.EwmaConfig):
    pass


class HoltWintersRule(_StatisticalBase, dconf.HoltWintersConfig):
    pass


class ScoreRule(_StatisticalBase, dconf.ScoreConfig):
    pass


class ModelServiceRule(_StatisticalBase, dconf.ModelServiceConfig):
    """Scored by the user's HTTP model service (docs/model_service.md): an async lookup join on
    flinksql-gen's Java connector (engine java) or the fsg_model_service UDF (engine python)."""

    dead_letter_topic: Topic | None = Field(
        default=None,
        description="where records whose answer was unusable (a malformed response, an HTTP 4xx error) are "
        "copied, with the reason (default: <pipeline>_<detector>_dead_letter)",
    )


STATISTICAL = (ThresholdRule, PercentageChangeRule, AbsoluteChangeRule, MeanVarianceRule, EwmaRule, HoltWintersRule,
               ScoreRule, ModelServiceRule)  # fmt: skip

# One detector of a definition file (not to be confused with flinksql_gen.detectors.base.Detector,
# the incremental algorithm that a statistical definition runs).
DetectorDefinition = Annotated[
    FilterDetector
    | HavingDetector
    | TrendDetector
    | LookupThresholdDetector
    | NoDataDetector
    | DrilldownDetector
    | ThresholdRule
    | PercentageChangeRule
    | AbsoluteChangeRule
    | MeanVarianceRule
    | EwmaRule
    | HoltWintersRule
    | ScoreRule
    | ModelServiceRule,
    Field(discriminator="type"),
]
