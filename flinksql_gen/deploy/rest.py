"""The HTTP transport shared by the Flink REST clients (SQL Gateway, JobManager).

One httpx client per service with the system trust store; a refused connection, a timeout or
any other transport failure becomes one DeployError sentence naming the service and its URL.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from flinksql_gen.deploy.base import DeployError


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client (building one costs ~0.1 s); system trust store."""
    return ssl.create_default_context()


def reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower() or "Errno 111" in text:
        return "connection refused"
    return text


class RestClient:
    """Base of a contract-shaped REST client: `_send` returns the response or raises DeployError."""

    service: ClassVar[str]  # e.g. "the Flink SQL Gateway"
    unreachable_hint: ClassVar[str]  # what to check when the service cannot be reached

    def __init__(self, url: str, timeout: float):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.url, timeout=timeout, verify=tls_context())

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=body)
        except httpx.ConnectError as exc:
            raise DeployError(
                f"cannot connect to {self.service} at {self.url} ({reason(exc)}); {self.unreachable_hint}"
            ) from None
        except httpx.TimeoutException:
            raise DeployError(
                f"{self.service} at {self.url} did not answer within {self.timeout:g}s ({method} {path})"
            ) from None
        except httpx.HTTPError as exc:
            raise DeployError(f"request to {self.service} at {self.url} failed: {reason(exc)}") from None
