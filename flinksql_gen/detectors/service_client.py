"""The client of a model service: batches, timeouts, retries with backoff, a circuit breaker.

One `ServiceClient` per detector config per Python worker process (`client_for`), shared by the
UDF instances of that worker, so they share its connection pool, its concurrency limit and its
breaker. Every failure ends as a `ScoringError` whose `reason` is safe to write into an output
row: it names what went wrong, never a header value.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from flinksql_gen.detectors.model_service_config import ModelServiceConfig
from flinksql_gen.secrets import REFERENCE

# expected, lower, upper, score, is_anomaly: as the detectors' RESULT_COLUMNS.
Scored = tuple[float | None, float | None, float | None, float | None, bool]


class ScoringError(Exception):
    """The service gave no usable answer for a batch; `reason` says why (one line)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Retryable(ScoringError):
    """Worth another attempt: a timeout, a connection error, HTTP 5xx or 429."""


def resolve_env(text: str, env: Mapping[str, str] | None = None, what: str = "setting") -> str:
    """`${env:NAME}` / `${env:NAME:-default}` -> the variable's value, read where the job runs."""
    env = os.environ if env is None else env

    def value(m: Any) -> str:
        got = env.get(m.group(1), m.group(2))
        if got is None:
            raise ScoringError(f"environment variable {m.group(1)} (in the model service's {what}) is not set "
                               "where the job runs")
        return got

    return REFERENCE.sub(value, text)


@dataclass
class CircuitBreaker:
    """Closed until `failures` calls in a row fail; then open (no calls) for `open_for` seconds;
    then half-open: one trial call closes it again or reopens it."""

    failures: int
    open_for: float
    failed: int = 0
    opened_at: float | None = None
    trial_running: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def before_call(self) -> None:
        with self._lock:
            if self.opened_at is None:
                return
            waited = time.monotonic() - self.opened_at
            if waited < self.open_for or self.trial_running:
                raise ScoringError(f"circuit open after {self.failed} failed calls in a row (next trial call in "
                                   f"{max(0.0, self.open_for - waited):.1f} s)")
            self.trial_running = True

    def record(self, ok: bool) -> None:
        with self._lock:
            self.trial_running = False
            if ok:
                self.failed, self.opened_at = 0, None
                return
            self.failed += 1
            if self.failed >= self.failures:
                self.opened_at = time.monotonic()


class ServiceClient:
    def __init__(self, config: ModelServiceConfig, env: Mapping[str, str] | None = None):
        self.config = config
        self.url = resolve_env(config.url, env, "url")
        headers = {name: resolve_env(value, env, f"header {name}") for name, value in config.headers.items()}
        # One connection per concurrent call: keep-alive connections are reused across batches.
        limits = httpx.Limits(max_connections=config.max_concurrency, max_keepalive_connections=config.max_concurrency)
        self._http = httpx.Client(timeout=config.timeout, limits=limits, headers=headers)
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self.breaker = CircuitBreaker(config.circuit_breaker.failures, config.circuit_breaker.open_for)

    def close(self) -> None:
        self._http.close()

    def score(self, key: str, points: Sequence[tuple[int, float | None]]) -> list[Scored]:
        """One key's points (epoch ms, value) in order -> one result each, in order; calls of at most
        `batch_size` records, one after another (the service keeps the key's state in order)."""
        size = self.config.batch_size
        out: list[Scored] = []
        for start in range(0, len(points), size):
            out.extend(self.score_batch([(key, ts, v) for ts, v in points[start:start + size]]))
        return out

    def score_batch(self, records: Sequence[tuple[str, int, float | None]]) -> list[Scored]:
        """One call (with its retries): records (key, epoch ms, value) -> their results, in order."""
        req = self.config.request
        body = {
            "batch_id": uuid.uuid4().hex,  # the same for every retry: a service may answer a repeat from a cache
            req.records: [{req.key: k, req.ts: ts, req.value: None if v is None or math.isnan(v) else v}
                          for k, ts, v in records],
        }  # fmt: skip
        payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        self.breaker.before_call()
        delay = self.config.backoff
        attempt = 0
        while True:
            try:
                with self._slots:
                    results = self._call(payload, len(records))
            except _Retryable as exc:
                if attempt >= self.config.retries:
                    self.breaker.record(False)
                    raise ScoringError(f"{exc.reason} (after {attempt + 1} attempts)") from None
                attempt += 1
                time.sleep(delay)
                delay *= 2
                continue
            except ScoringError:
                self.breaker.record(False)
                raise
            self.breaker.record(True)
            return results

    def _call(self, payload: bytes, count: int) -> list[Scored]:
        try:
            resp = self._http.post(self.url, content=payload, headers={"content-type": "application/json"})
        except httpx.TimeoutException:
            raise _Retryable(f"timeout after {self.config.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"service unreachable: {type(exc).__name__}") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # e.g. a URL that resolved to nonsense
            raise ScoringError(f"request failed: {type(exc).__name__}") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _Retryable(f"HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise ScoringError(f"HTTP {resp.status_code}: {_snippet(resp.text)}")
        return parse_results(resp.content, count, self.config)


def parse_results(content: bytes, count: int, config: ModelServiceConfig) -> list[Scored]:
    """The response body -> `count` results, or ScoringError('malformed response: ...')."""
    m = config.response
    try:
        data = json.loads(content)
    except ValueError:
        raise ScoringError(f"malformed response: not JSON: {_snippet(content.decode('utf-8', 'replace'))}") from None
    results = data.get(m.results) if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ScoringError(f"malformed response: no list {m.results!r}")
    if len(results) != count:
        raise ScoringError(f"malformed response: {len(results)} results for {count} records")
    out: list[Scored] = []
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise ScoringError(f"malformed response: result {i} is not an object")
        nums = []
        for field in (m.expected, m.lower, m.upper, m.score):
            x = r.get(field)
            if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float))):
                raise ScoringError(f"malformed response: result {i}: {field!r} is not a number or null")
            nums.append(None if x is None or not math.isfinite(x) else float(x))
        flag = r.get(m.is_anomaly)
        if not isinstance(flag, bool):
            raise ScoringError(f"malformed response: result {i}: {m.is_anomaly!r} is not true or false")
        out.append((nums[0], nums[1], nums[2], nums[3], flag))
    return out


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text[:120] + ("..." if len(text) > 120 else "")


_CLIENTS: dict[str, ServiceClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(config_json: str, config: ModelServiceConfig) -> ServiceClient:
    """The worker process's client for this detector config (created on first use)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(config_json)
        if client is None:
            client = _CLIENTS[config_json] = ServiceClient(config)
        return client
