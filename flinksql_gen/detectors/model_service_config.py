"""The `model_service` detector's settings: scoring through the user's own HTTP model service.

Kept apart from detectors.config (which imports it into the detector union) so that the client
and the UDF can import it without the other detectors' configs, and without an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_REFERENCE = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$")


def _bare_reference(value: str) -> str:
    if not _REFERENCE.match(value):
        raise ValueError("a header value must be an environment reference such as ${env:MODEL_TOKEN} (it is "
                         "resolved when the job starts, so no secret is written into a bundle)")
    return value


HeaderValue = Annotated[str, AfterValidator(_bare_reference)]


# detectors.config sets this to its parse_detector_config (it imports this module for its
# detector union, so importing it back here would make a cycle).
FALLBACK_PARSER: Callable[[Any, str], Any] | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestMapping(_Strict):
    """Field names of the request body: {<records>: [{<key>: .., <ts>: .., <value>: ..}, ...]}."""

    records: str = Field(default="records", min_length=1, description="the request's list of records")
    key: str = Field(default="key", min_length=1, description="a record's series key (the metric's dimensions)")
    ts: str = Field(default="ts", min_length=1, description="a record's event time, epoch milliseconds")
    value: str = Field(default="value", min_length=1, description="a record's value (null when missing)")


class ResponseMapping(_Strict):
    """Field names of the response body: {<results>: [{<expected>: .., ..., <is_anomaly>: ..}, ...]},
    one result per record, in the request's order."""

    results: str = Field(default="results", min_length=1, description="the response's list of results")
    expected: str = Field(default="expected", min_length=1, description="a result's expected value")
    lower: str = Field(default="lower", min_length=1, description="a result's lower band edge")
    upper: str = Field(default="upper", min_length=1, description="a result's upper band edge")
    score: str = Field(default="score", min_length=1, description="a result's anomaly score")
    is_anomaly: str = Field(default="is_anomaly", min_length=1, description="a result's verdict (a boolean)")


class CircuitBreakerConfig(_Strict):
    failures: int = Field(default=5, ge=1, description="consecutive failed calls that open the breaker")
    open_for: float = Field(default=5.0, gt=0, description="seconds the open breaker skips the service before one trial call")


class ModelServiceConfig(_Strict):
    """Each record is scored by the user's HTTP model service (POST <url>, a batch of records per
    call, see docs/model_service.md); the service keeps each key's state. When it cannot answer,
    `fallback` decides: unscored rows (is_anomaly NULL, with the reason), an in-process detector,
    or a failed job."""

    type: Literal["model_service"] = Field(default="model_service", description="detector type")
    url: str = Field(min_length=1, description="the scoring endpoint, e.g. http://scorer:8000/score (may be an ${env:NAME} reference)")
    headers: dict[str, HeaderValue] = Field(default_factory=dict, description="HTTP headers sent with every call (auth): each an ${env:NAME} reference, resolved when the job starts")
    request: RequestMapping = Field(default_factory=RequestMapping, description="field names of the request body")
    response: ResponseMapping = Field(default_factory=ResponseMapping, description="field names of the response body")
    timeout: float = Field(default=2.0, gt=0, le=300, description="seconds one call may take")
    retries: int = Field(default=2, ge=0, le=10, description="extra attempts after a failed call (timeouts, connection errors, HTTP 5xx/429)")
    backoff: float = Field(default=0.1, ge=0, le=60, description="seconds before the first retry; doubled for each further one")
    max_concurrency: int = Field(default=4, ge=1, le=64, description="calls in flight at once: per parallel instance on the java engine (one per lane of keys), per Python worker on the python engine")
    batch_size: int = Field(default=500, ge=1, le=100_000, description="records per call at most (a key's records of one bundle are split into calls of this size)")
    linger: float = Field(default=0.05, ge=0, le=60, description="java engine: seconds a record may wait for its call's batch to fill (the python engine waits for its bundle: python.fn-execution.bundle.time)")
    engine: Literal["auto", "java", "python"] = Field(
        default="auto",
        description="java: an async lookup join on flinksql-gen's Java connector (concurrent non-blocking calls, "
        "append-only output); python: "
        "the PyFlink aggregate (needed by a detector fallback); auto: java unless the fallback is a detector or a "
        "key's order could not be kept (see docs/model_service.md)",
    )
    fallback: Literal["unscored", "fail"] | dict[Literal["detector"], dict[str, Any]] = Field(
        default="unscored",
        description="when the service cannot answer: `unscored` (is_anomaly NULL, reason set), `fail` (the job "
        "fails), or {detector: {type: ewma, ...}}: an in-process detector judges those records",
    )
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig, description="stop calling a failing service for a while")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^(https?://|\$\{env:)", value):
            raise ValueError("the url must start with http:// or https:// (or be an ${env:NAME} reference)")
        return value

    @model_validator(mode="after")
    def _fallback(self) -> ModelServiceConfig:
        if isinstance(self.fallback, dict):
            spec = self.fallback.get("detector")
            if not isinstance(spec, dict) or spec.get("type") == "model_service":
                raise ValueError("fallback.detector must be an in-process detector, e.g. {type: ewma}")
            # Validated here so that a bad fallback is a definition error, not a failed job.
            if self.engine == "java":
                raise ValueError("a detector fallback keeps its state in the PyFlink aggregate: it needs engine: "
                                 "python (or auto)")
            if FALLBACK_PARSER is not None:
                try:
                    FALLBACK_PARSER(spec, "fallback.detector")
                except Exception as exc:  # DefinitionError: reported at this field's YAML line
                    problems = getattr(exc, "problems", None) or [exc]
                    raise ValueError("fallback.detector: " + "; ".join(
                        f"{p.path}: {p.message}" if getattr(p, "path", "") else str(getattr(p, "message", p))
                        for p in problems)) from None
        return self

    def fallback_spec(self) -> dict[str, Any] | None:
        return self.fallback["detector"] if isinstance(self.fallback, dict) else None
