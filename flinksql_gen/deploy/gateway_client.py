"""A client of the Flink SQL Gateway REST API (contract: rest_v{2,3,4}_sql_gateway.yml), used by
deploy/gateway.GatewayDeployTarget: version negotiation, sessions, statements, scripts, operations and
their paged results. It knows HTTP and the contract, not pipelines.

An unknown or expired session answers HTTP 500 "Session '...' does not exist" (not 404): that
becomes SessionGone, which the target may answer by re-opening a session for idempotent steps.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from flinksql_gen.deploy.base import DeployError
from flinksql_gen.deploy.rest import RestClient

SUPPORTED_VERSIONS = ("V2", "V3", "V4")
TERMINAL = frozenset({"FINISHED", "ERROR", "CANCELED", "CLOSED", "TIMEOUT"})
JOB_ID_COLUMN = "job id"


class SessionGone(Exception):
    """The gateway no longer knows the session (expired or closed)."""


class GatewayHTTPError(Exception):
    """A non-success answer; `text` is the server's error text (stack trace included)."""

    def __init__(self, status: int, text: str):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.text = text


@dataclass
class ResultTable:
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    job_id: str | None = None
    result_kind: str | None = None

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


class GatewayClient(RestClient):
    """Thin, contract-shaped REST client. Raises DeployError for transport problems."""

    service = "the Flink SQL Gateway"
    unreachable_hint = "is it running? (`docker compose up sql-gateway`, or pass --gateway URL)"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        poll_interval: float = 0.2,
        max_poll_interval: float = 2.0,
        operation_timeout: float = 600.0,
        heartbeat_interval: float = 30.0,
    ):
        super().__init__(url, timeout)
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.operation_timeout = operation_timeout
        self.heartbeat_interval = heartbeat_interval
        self.version: str | None = None

    # --- transport -------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._send(method, path, body)
        if response.is_success:
            return response.json() if response.content else {}
        text = _error_text(response)
        if response.status_code == 404 or _session_missing(text):
            raise SessionGone(text)
        raise GatewayHTTPError(response.status_code, text)

    def _path(self, suffix: str) -> str:
        if self.version is None:
            self.negotiate()
        return f"/{self.version.lower()}{suffix}"  # type: ignore[union-attr]

    # --- endpoints ---------------------------------------------------------------------------

    def api_versions(self) -> list[str]:
        try:
            return list(self._request("GET", "/api_versions").get("versions", []))
        except (SessionGone, GatewayHTTPError) as exc:
            raise DeployError(
                f"{self.url} does not look like a Flink SQL Gateway (GET /api_versions: {exc})"
            ) from None

    def negotiate(self, want: str | None = None) -> str:
        """Pick the highest offered version we speak (at most `want`, e.g. 'V3')."""
        offered = {v.upper() for v in self.api_versions()}
        usable = [v for v in SUPPORTED_VERSIONS if v in offered and (want is None or v <= want.upper())]
        if not usable:
            raise DeployError(
                f"the Flink SQL Gateway at {self.url} offers REST API versions {sorted(offered) or 'none'}; "
                "flinksql-gen needs v2 or later (Flink 1.17+)"
            )
        self.version = usable[-1]
        return self.version

    def open_session(self, properties: Mapping[str, str], name: str | None = None) -> str:
        body: dict[str, Any] = {"properties": dict(properties)}
        if name:
            body["sessionName"] = name
        return str(self._request("POST", self._path("/sessions"), body)["sessionHandle"])

    def close_session(self, session: str) -> None:
        self._request("DELETE", self._path(f"/sessions/{session}"))

    def heartbeat(self, session: str) -> None:
        self._request("POST", self._path(f"/sessions/{session}/heartbeat"))

    def configure(self, session: str, statement: str) -> None:
        self._request("POST", self._path(f"/sessions/{session}/configure-session"), {"statement": statement})

    def execute(self, session: str, statement: str, execution_config: Mapping[str, str] | None = None) -> str:
        body: dict[str, Any] = {"statement": statement}
        if execution_config:
            body["executionConfig"] = dict(execution_config)
        return str(
            self._request("POST", self._path(f"/sessions/{session}/statements"), body)["operationHandle"]
        )

    def session_config(self, session: str) -> dict[str, str]:
        """The session's effective configuration (the gateway's defaults plus the session's own)."""
        answer = self._request("GET", self._path(f"/sessions/{session}"))
        return {str(k): str(v) for k, v in (answer.get("properties") or {}).items()}

    def deploy_script(self, session: str, script: str, execution_config: Mapping[str, str]) -> str:
        if self.version != "V4":
            raise DeployError(
                f"script deployment needs SQL Gateway REST API v4, Flink 2.0+ (this gateway speaks {self.version})"
            )
        body = {"script": script, "executionConfig": dict(execution_config)}
        answer = self._request("POST", self._path(f"/sessions/{session}/scripts"), body)
        return str(answer.get("clusterID", ""))

    def status(self, session: str, operation: str) -> str:
        answer = self._request("GET", self._path(f"/sessions/{session}/operations/{operation}/status"))
        return str(answer.get("status", "")).upper()

    def wait(self, session: str, operation: str) -> str:
        """Poll the operation to a terminal state, heart-beating the session on the way."""
        deadline = time.monotonic() + self.operation_timeout
        last_beat = time.monotonic()
        for delay in self._backoff():
            state = self.status(session, operation)
            if state in TERMINAL:
                return state
            if time.monotonic() > deadline:
                raise DeployError(f"operation {operation} still {state} after {self.operation_timeout:g}s")
            if time.monotonic() - last_beat >= self.heartbeat_interval:
                self.heartbeat(session)
                last_beat = time.monotonic()
            time.sleep(delay)
        raise AssertionError("unreachable")

    def fetch(self, session: str, operation: str) -> ResultTable:
        """Every page of an operation's result, following nextResultUri until EOS."""
        table = ResultTable()
        uri: str | None = self._path(f"/sessions/{session}/operations/{operation}/result/0?rowFormat=JSON")
        deadline = time.monotonic() + self.operation_timeout
        waits = self._backoff()
        while uri:
            page = self._request("GET", uri)
            kind = page.get("resultType")
            if kind == "NOT_READY":
                if time.monotonic() > deadline:
                    raise DeployError(
                        f"result of operation {operation} not ready after {self.operation_timeout:g}s"
                    )
                time.sleep(next(waits))
            else:
                waits = self._backoff()
                results = page.get("results") or {}
                if not table.columns:
                    table.columns = [c.get("name", "") for c in results.get("columns", [])]
                table.rows.extend(list(row.get("fields", [])) for row in results.get("data", []))
                table.job_id = page.get("jobID") or table.job_id
                table.result_kind = page.get("resultKind") or table.result_kind
                if kind == "EOS":
                    break
            uri = page.get("nextResultUri")
        if table.job_id is None and JOB_ID_COLUMN in table.columns and table.rows:
            table.job_id = str(table.column(JOB_ID_COLUMN)[0])
        return table

    def run(
        self, session: str, statement: str, execution_config: Mapping[str, str] | None = None
    ) -> ResultTable:
        """Execute one statement, wait for it and return its whole result (raises on ERROR)."""
        operation = self.execute(session, statement, execution_config)
        return self.finish(session, operation)

    def finish(self, session: str, operation: str) -> ResultTable:
        state = self.wait(session, operation)
        if state == "ERROR":
            try:
                self.fetch(session, operation)
            except GatewayHTTPError as exc:
                raise OperationFailed(exc.text) from None
            raise OperationFailed("the operation failed without an error text")
        if state != "FINISHED":
            raise OperationFailed(f"the operation ended as {state}")
        return self.fetch(session, operation)

    def _backoff(self) -> Iterator[float]:
        delay = self.poll_interval
        while True:
            yield delay
            delay = min(delay * 2, self.max_poll_interval)


class OperationFailed(Exception):
    """An operation ended in ERROR (or was cancelled); holds Flink's exception text."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def _error_text(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors")
    except ValueError:
        return response.text
    if isinstance(errors, list):
        return "\n".join(str(e) for e in errors)
    return response.text


_SESSION_MISSING = re.compile(r"Session '[^']*' does not exist", re.IGNORECASE)


def _session_missing(text: str) -> bool:
    return bool(_SESSION_MISSING.search(text))


def first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0]
