"""`model_service`: each point is judged by the user's HTTP model service (see docs/model_service.md).

In a pipeline it runs as the `fsg_model_service` UDF (udfs/model_service.py), which batches a
key's records of each bundle into one call. This class is the same detector point by point for
offline use (`evaluate`): each instance is one series, sent under a key of its own. Its state
lives in the service, so `state_dict()` is empty; when the service cannot answer, `update`
applies the configured fallback (unscored, the fallback detector, or an exception for `fail`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from flinksql_gen.detectors.base import UNKNOWN, Detector, Result, to_seconds
from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.detectors.model_service_config import ModelServiceConfig
from flinksql_gen.detectors.service_client import ScoringError, client_for

NAN = float("nan")
# detectors.registry sets this to its build_detector (it imports this module: no import back).
BUILD: Callable[[Any], Detector] | None = None


def _nan(x: float | None) -> float:
    return NAN if x is None else x


class ModelServiceDetector(Detector):
    type_name = "model_service"
    config_model = ModelServiceConfig
    config: ModelServiceConfig

    def reset(self) -> None:
        self.key = f"series-{uuid.uuid4().hex[:12]}"
        spec = self.config.fallback_spec()
        self.fallback: Detector | None = None if spec is None or BUILD is None else BUILD(parse_detector_config(spec))
        self.last_reason: str | None = None

    def update(self, timestamp: Any, value: float | None) -> Result:
        fallback = None if self.fallback is None else self.fallback.update(timestamp, value)
        config_json = json.dumps(self.config.model_dump(mode="json"), sort_keys=True)
        try:
            (s,) = client_for(config_json, self.config).score_batch([(self.key, round(to_seconds(timestamp) * 1000),
                                                                      value)])  # fmt: skip
        except ScoringError as exc:
            self.last_reason = exc.reason
            if self.config.fallback == "fail":
                raise
            return fallback if fallback is not None else UNKNOWN
        self.last_reason = None
        return Result(_nan(s[3]), _nan(s[0]), _nan(s[1]), _nan(s[2]), s[4])

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass
