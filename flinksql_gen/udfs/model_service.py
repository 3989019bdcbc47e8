"""`fsg_model_service(config_json, key, ts, value)`: the `model_service` detector as a PyFlink
aggregate function, batching each key's records of a bundle into calls of the user's service.

It works like `fsg_detect` (udfs/detect.py explains the array of judgements per key per bundle):
PyFlink's group aggregate calls `accumulate` for every row of one key in the bundle, then
`get_value`. Here `accumulate` only collects the rows; `get_value` sends them to the service
(calls of at most `batch_size` records, in the key's order) and returns their judgements in
that order. The keys of a bundle are processed one after another (PyFlink's finish_bundle loop),
so calls are not concurrent within one worker's bundle; `max_concurrency` bounds the calls of
all the UDF instances of a worker process together.

Each judgement carries a `reason`: NULL when the service scored it, otherwise why it did not
(`unscored: ...` with NULL results, or `fallback <type>: ...` with the in-process fallback
detector's results). The fallback detector sees every record, scored or not, so it is warm when
it is needed; its state is the accumulator's state (checkpointed by Flink).
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import Any

from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import AggregateFunction, udaf

from flinksql_gen.detectors.base import Detector, Result, to_seconds
from flinksql_gen.detectors.model_service_config import ModelServiceConfig
from flinksql_gen.detectors.service_client import ScoringError, client_for
from flinksql_gen.udfs.detect import JUDGEMENT_TYPE, _finite, dump_state, new_detector

SERVICE_JUDGEMENT_TYPE = DataTypes.ROW([*JUDGEMENT_TYPE.fields, DataTypes.FIELD("reason", DataTypes.STRING())])
RESULT_TYPE = DataTypes.ARRAY(SERVICE_JUDGEMENT_TYPE)
ACC_TYPE = DataTypes.ROW([
    DataTypes.FIELD("state", DataTypes.STRING()),  # the fallback detector's state_dict() as JSON
    DataTypes.FIELD("emitted", DataTypes.BOOLEAN()),  # `pending` was returned by get_value
    DataTypes.FIELD("pending", RESULT_TYPE),  # judgements since the previous result
])  # fmt: skip
STATE, EMITTED, PENDING = range(3)
_EPOCH = dt.datetime(1970, 1, 1)


@lru_cache(maxsize=64)
def _config(config_json: str) -> ModelServiceConfig:
    data = json.loads(config_json)
    # The runner has already put the header values in (the bundle holds ${env:NAME} references,
    # which validation insists on): they skip validation here, and so never appear in its errors.
    headers = data.pop("headers", {})
    return ModelServiceConfig.model_validate(data).model_copy(update={"headers": headers})


def epoch_millis(ts: Any) -> int:
    if isinstance(ts, dt.datetime) and ts.tzinfo is None:  # TIMESTAMP(3): exact integer arithmetic
        return (ts - _EPOCH) // dt.timedelta(milliseconds=1)
    return round(to_seconds(ts) * 1000)


class ModelServiceAggregate(AggregateFunction):
    def open(self, function_context) -> None:
        self._acc: Row | None = None
        self._fallback: Detector | None = None
        # The current key's rows of this bundle: (ts, value, fallback result or None).
        self._rows: list[tuple[Any, float | None, Result | None]] = []
        self._key: str = ""

    def create_accumulator(self) -> Row:
        return Row(None, True, [])

    def accumulate(self, acc: Row, config_json: str, key: str | None, ts: Any, value: float | None) -> None:
        if acc[EMITTED] or acc[PENDING] is None:
            acc[EMITTED], acc[PENDING] = False, []
        if self._acc is not acc:
            spec = _config(config_json).fallback_spec()
            self._acc, self._rows, self._key = acc, [], "" if key is None else key
            self._fallback = None if spec is None else new_detector(json.dumps(spec, sort_keys=True), acc[STATE])
        self._config_json = config_json
        fallback = None if self._fallback is None else self._fallback.update(ts, value)
        self._rows.append((ts, value, fallback))

    def get_value(self, acc: Row) -> list[Row]:
        if self._acc is acc:
            if self._rows:
                acc[PENDING].extend(self._judge())
            if self._fallback is not None:
                acc[STATE] = dump_state(self._fallback)
            self._acc, self._fallback, self._rows = None, None, []
        if acc[EMITTED]:
            return []  # the previous result, asked for only to retract it: judgements are never retracted
        acc[EMITTED] = True
        return list(acc[PENDING] or [])

    def _judge(self) -> list[Row]:
        config = _config(self._config_json)
        client = client_for(self._config_json, config)
        out: list[Row] = []
        for start in range(0, len(self._rows), config.batch_size):
            chunk = self._rows[start:start + config.batch_size]
            try:
                scored = client.score_batch([(self._key, epoch_millis(ts), v) for ts, v, _ in chunk])
            except ScoringError as exc:
                out.extend(self._fall_back(config, chunk, exc.reason))
                continue
            out.extend(Row(ts, v, *s, None) for (ts, v, _), s in zip(chunk, scored, strict=True))
        return out

    def _fall_back(self, config: ModelServiceConfig, chunk: list, reason: str) -> list[Row]:
        if config.fallback == "fail":
            raise RuntimeError(f"model service {config.url}: {reason} (fallback: fail)")
        if self._fallback is None:
            return [Row(ts, v, None, None, None, None, None, f"unscored: {reason}") for ts, v, _ in chunk]
        why = f"fallback {self._fallback.type_name}: {reason}"
        return [Row(ts, v, _finite(r.expected), _finite(r.lower), _finite(r.upper), _finite(r.score),
                    bool(r.is_anomaly), why) for ts, v, r in chunk]  # fmt: skip

    def get_result_type(self):
        return RESULT_TYPE

    def get_accumulator_type(self):
        return ACC_TYPE


fsg_model_service = udaf(ModelServiceAggregate(), result_type=RESULT_TYPE, accumulator_type=ACC_TYPE,
                         func_type="general")  # fmt: skip
