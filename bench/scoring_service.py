"""The scorer of bench_scoring_service.py, served two ways (benchmark code, not product code).

- `score(hostname, usage)`: a small stateless model (a per-host logistic score of CPU usage);
- `python scoring_service.py serve --max-requests N --max-seconds T`: the same function behind
  a per-event HTTP endpoint on 127.0.0.1 (POST /score {"hostname", "usage"} -> {"score"}),
  HTTP/1.1 keep-alive; it stops by itself after N requests or T seconds, whichever comes first,
  and prints `PORT <port>` when it listens;
- PyFlink scalar UDFs: `score_local` calls score() in the Python worker; `score_rest(url, ...)`
  calls the service once per event over a kept-alive connection.

This file is shipped to the Python workers as is: it imports only the standard library and PyFlink.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


def score(hostname: str, usage: float) -> float:
    """P(anomalous) of a CPU reading: logistic in the distance from the host's usual level."""
    h = (zlib.crc32(hostname.encode()) % 1000) / 1000.0
    baseline, spread = 40.0 + 20.0 * h, 8.0 + 4.0 * h
    z = (usage - baseline) / spread - 3.0
    return 1.0 / (1.0 + math.exp(-z))


# ------------------------------------------------------------------------------ the service


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per Python worker
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        server: ScoringServer = self.server  # type: ignore[assignment]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if server.take():
            out = json.dumps({"score": score(str(body.get("hostname")), float(body.get("usage") or 0.0))}).encode()
            self.send_response(200)
        else:
            out = b'{"error": "request budget used up"}'
            self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class ScoringServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, max_requests: int, max_seconds: float):
        super().__init__(("127.0.0.1", port), _Handler)
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.served = 0
        self._lock = threading.Lock()
        self.started = time.monotonic()

    def take(self) -> bool:
        with self._lock:
            if self.served >= self.max_requests:
                threading.Thread(target=self.shutdown, daemon=True).start()
                return False
            self.served += 1
            return True


def serve(port: int, max_requests: int, max_seconds: float) -> int:
    server = ScoringServer(port, max_requests, max_seconds)
    timer = threading.Timer(max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        timer.cancel()
        server.server_close()
    print(f"SERVED {server.served}", flush=True)
    return 0


# ------------------------------------------------------------------------------ the UDFs

try:
    from pyflink.table import DataTypes
    from pyflink.table.udf import ScalarFunction, udf
except ImportError:  # the service process needs no PyFlink
    ScalarFunction = object  # type: ignore[assignment,misc]
    udf = None  # type: ignore[assignment]


def _connect(parsed):
    import http.client
    import socket

    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


class RestScore(ScalarFunction):  # type: ignore[misc,valid-type]
    """One HTTP request per event (what a per-event REST scorer costs)."""

    def open(self, function_context) -> None:
        self._conns: dict = {}

    def eval(self, url: str, hostname: str, usage: float) -> float:
        conn = self._conns.get(url)
        if conn is None:
            parsed = urlparse(url)
            conn = self._conns[url] = _connect(parsed)
        body = json.dumps({"hostname": hostname, "usage": usage})
        conn.request("POST", urlparse(url).path, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"scoring service answered {resp.status}: {data[:200]!r}")
        return float(json.loads(data)["score"])

    def close(self) -> None:
        for conn in getattr(self, "_conns", {}).values():
            conn.close()


class LocalScore(ScalarFunction):  # type: ignore[misc,valid-type]
    """The same scorer in the Python worker."""

    def eval(self, hostname: str, usage: float) -> float:
        return score(hostname, usage)


if udf is not None:
    score_rest = udf(RestScore(), result_type=DataTypes.DOUBLE())
    score_local = udf(LocalScore(), result_type=DataTypes.DOUBLE())


def client_rate(url: str, requests: int) -> float:
    """Requests/s of one plain keep-alive client against the service (no Flink)."""
    parsed = urlparse(url)
    conn = _connect(parsed)
    began = time.perf_counter()
    for i in range(requests):
        conn.request("POST", parsed.path, json.dumps({"hostname": "doc", "usage": float(i % 100)}),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
    conn.close()
    return requests / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="the benchmark's local scoring service")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--max-requests", type=int, default=100_000)
    s.add_argument("--max-seconds", type=float, default=600.0)
    args = ap.parse_args(argv)
    return serve(args.port, args.max_requests, args.max_seconds)


if __name__ == "__main__":
    sys.exit(main())
