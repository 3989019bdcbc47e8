"""Detector type name -> class, and construction from a YAML/JSON-like spec."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from flinksql_gen.detectors import model_service
from flinksql_gen.detectors.base import Detector
from flinksql_gen.detectors.change import AbsoluteChangeDetector, PercentageChangeDetector
from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.detectors.ewma import EwmaDetector
from flinksql_gen.detectors.holt_winters import HoltWintersDetector
from flinksql_gen.detectors.mean_variance import MeanVarianceDetector
from flinksql_gen.detectors.model_service import ModelServiceDetector
from flinksql_gen.detectors.score import ScoreDetector
from flinksql_gen.detectors.sql import SqlBand, SqlRow
from flinksql_gen.detectors.threshold import ThresholdDetector
from flinksql_gen.detectors.windowed_gaussian import WindowedGaussianDetector

REGISTRY: dict[str, type[Detector]] = {
    cls.type_name: cls
    for cls in (
        ThresholdDetector,
        PercentageChangeDetector,
        AbsoluteChangeDetector,
        MeanVarianceDetector,
        EwmaDetector,
        HoltWintersDetector,
        ScoreDetector,
        WindowedGaussianDetector,
        ModelServiceDetector,
    )
}


def detector_types() -> list[str]:
    return sorted(REGISTRY)


def detector_class(type_name: str) -> type[Detector]:
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown detector type {type_name!r}; known: {', '.join(detector_types())}") from None


def sql_band(config: BaseModel, row: SqlRow) -> SqlBand | None:
    """The config's pure-SQL judgement of `row`, or None when its type has no SQL form with these
    settings (it then runs as the `fsg_detect` UDF)."""
    cls = detector_class(config.type)
    return cls.sql_band(config, row) if cls.sql_form_available(config) else None


def build_detector(spec: BaseModel | dict[str, Any], source: str = "<detector>") -> Detector:
    """A fresh detector (one key) from a config model or a dict like {type: mean_variance, ...}."""
    config = parse_detector_config(spec, source)
    return REGISTRY[config.type](config)


def restore_detector(spec: BaseModel | dict[str, Any], state: dict[str, Any]) -> Detector:
    """A detector continuing from `state_dict()` output (e.g. a Flink accumulator)."""
    det = build_detector(spec)
    det.load_state(state)
    return det


model_service.BUILD = build_detector
