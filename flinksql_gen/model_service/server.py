"""`flinksql-gen serve-model`: a reference scoring service over any in-process detector.

    POST /score   {"batch_id": "..", "records": [{"key": "web-1", "ts": 1700000000000, "value": 12.5}, ...]}
              ->  {"results": [{"expected": .., "lower": .., "upper": .., "score": .., "is_anomaly": false}, ...]}
    GET  /healthz ->  {"status": "ok", "detector": "ewma", "keys": 3}

The service keeps one detector per key and judges each key's records in the order they arrive
(the records of one request in their order), so it gives exactly what the detector gives
offline. A repeated `batch_id` (a client's retry after a timeout) is answered from a cache
instead of being judged twice. Standard library only: copy it as a template for a service of
your own (docs/model_service.md has the contract).
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import sys
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flinksql_gen.detectors.base import Detector, Result
from flinksql_gen.detectors.config import parse_detector_config
from flinksql_gen.detectors.registry import REGISTRY

MAX_BODY = 64 * 1024 * 1024
_CACHED_BATCHES = 256


class BadRequest(Exception):
    pass


def _num(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else x


class ScoringModel:
    """Per-key detectors of one config, and the contract's request -> response."""

    def __init__(self, spec: dict[str, Any]):
        self.config = parse_detector_config(spec, "<serve-model>")
        if self.config.type == "model_service":
            raise ValueError("serve-model needs an in-process detector, not model_service")
        self.detectors: dict[str, Detector] = {}
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()  # judging is microseconds per point: one lock keeps each key in order

    def judge(self, key: str, ts: Any, value: float | None) -> Result:
        det = self.detectors.get(key)
        if det is None:
            det = self.detectors[key] = REGISTRY[self.config.type](self.config)
        return det.update(ts, value)

    def score(self, body: Any) -> dict[str, Any]:
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise BadRequest("the body must be an object with a list 'records'")
        points = []
        for i, r in enumerate(records):
            if not isinstance(r, dict) or not isinstance(r.get("key"), str) or not isinstance(r.get("ts"), (int, float)):
                raise BadRequest(f"record {i} needs a string 'key' and a number 'ts' (epoch milliseconds)")
            v = r.get("value")
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise BadRequest(f"record {i}: 'value' must be a number or null")
            points.append((r["key"], r["ts"], None if v is None else float(v)))
        batch_id = body.get("batch_id")
        with self._lock:
            if isinstance(batch_id, str) and batch_id in self._answers:
                return self._answers[batch_id]
            results = [self.judge(k, ts, v) for k, ts, v in points]
            answer = {"results": [{"expected": _num(r.expected), "lower": _num(r.lower), "upper": _num(r.upper),
                                   "score": _num(r.score), "is_anomaly": bool(r.is_anomaly)} for r in results]}
            if isinstance(batch_id, str):
                self._answers[batch_id] = answer
                if len(self._answers) > _CACHED_BATCHES:
                    self._answers.popitem(last=False)
        return answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection for every batch
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall per call
    server: ModelServer

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/healthz":
            return self._send(404, {"error": f"no such path {self.path}: use POST /score or GET /healthz"})
        model = self.server.model
        self._send(200, {"status": "ok", "detector": model.config.type, "keys": len(model.detectors)})

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/score":
            return self._send(404, {"error": f"no such path {self.path}: use POST /score"})
        length = int(self.headers.get("content-length") or 0)
        if length <= 0 or length > MAX_BODY:
            return self._send(400 if length <= 0 else 413, {"error": "a JSON body with a content-length is required"})
        try:
            body = json.loads(self.rfile.read(length))
            self._send(200, self.server.model.score(body))
        except (ValueError, BadRequest) as exc:
            self._send(400, {"error": str(exc)})

    def _send(self, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class ModelServer(ThreadingHTTPServer):
    """The HTTP server; `start()` runs it in a background thread (tests, benchmarks)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, model: ScoringModel, host: str = "127.0.0.1", port: int = 0, verbose: bool = False,
                 handler: type[BaseHTTPRequestHandler] = Handler):  # fmt: skip
        self.model = model
        self.verbose = verbose
        super().__init__((host, port), handler)
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/score"

    def start(self) -> ModelServer:
        self._thread = threading.Thread(target=self.serve_forever, name="model-service", daemon=True)
        self._thread.start()
        return self

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up (timed out) is no error
            super().handle_error(request, client_address)

    def stop(self) -> None:
        """Stop listening and drop every open connection (clients see the service gone, as after a kill)."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):  # already closed by the client
                    conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
