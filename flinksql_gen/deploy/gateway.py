"""Submit pipelines through the Flink SQL Gateway REST API (contract: rest_v{2,3,4}_sql_gateway.yml).

Flow: GET /api_versions -> pick the highest version we speak (v2 at least); open a session whose
properties are the pipeline's SET statements plus `pipeline.name` (and the Python UDF settings);
run the DDL through `configure-session`; run the INSERTs as one `EXECUTE STATEMENT SET` (or a
single INSERT) through `statements`; poll the operation to a terminal state; page its result
(NOT_READY -> retry with backoff, EOS/no nextResultUri -> done) and read the `job id`.
With v4 and `script=True`, the whole script goes to `POST /sessions/:h/scripts` instead
(application mode: the answer is a cluster id, not a job id).

Safety rules: `${env:...}` placeholders are resolved only here, right before sending, and
never logged; an expired session is re-opened once for the idempotent steps only (session,
DDL); the INSERT is never sent twice.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from flinksql_gen.bundle import PipelineBundle, Statement
from flinksql_gen.deploy.base import (
    DeployError,
    JobInfo,
    SubmitResult,
    find_active_job,
    register,
    resolved_settings,
    root_cause,
    safe,
    statement_error,
)
from flinksql_gen.deploy.rest import RestClient
from flinksql_gen.secrets import resolve

log = logging.getLogger(__name__)

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


# --- the deployment target ---------------------------------------------------------------------


class GatewayTarget:
    """Deploy through a Flink SQL Gateway; jobs are controlled with SHOW JOBS / STOP JOB over SQL,
    or through the JobManager REST API when `jobmanager` is given."""

    name = "gateway"

    def __init__(
        self,
        url: str,
        *,
        jobmanager: str | None = None,
        script: bool = False,
        python_executable: str | None = None,
        python_files: list[str] | None = None,
        **client_options: Any,
    ):
        self.url = resolve(url)
        self.jobmanager = resolve(jobmanager) if jobmanager else None
        self.script = script
        self.python_executable = python_executable
        self.python_files = python_files
        self.client_options = client_options

    @contextmanager
    def _client(self) -> Iterator[GatewayClient]:
        client = GatewayClient(self.url, **self.client_options)
        try:
            yield client
        finally:
            client.close()

    # --- submit ------------------------------------------------------------------------------

    def session_properties(
        self, pipeline: PipelineBundle, savepoint: str | None = None, allow_non_restored_state: bool = False
    ) -> dict[str, str]:
        props = resolved_settings(pipeline)
        props["pipeline.name"] = pipeline.name
        if pipeline.udfs:
            files = self.python_files or udf_python_files(pipeline)
            if files:
                props.setdefault("python.files", ",".join(files))
            # Otherwise the cluster's own python.executable applies (set in docker-compose.yaml).
            executable = self.python_executable or os.environ.get("FLINKSQL_PYTHON_EXECUTABLE")
            if executable:
                props.setdefault("python.executable", executable)
        if savepoint:
            props["execution.state-recovery.path"] = savepoint
            props["execution.state-recovery.ignore-unclaimed-state"] = str(allow_non_restored_state).lower()
        return props

    def submit(
        self,
        pipeline: PipelineBundle,
        *,
        savepoint: str | None = None,
        allow_non_restored_state: bool = False,
    ) -> SubmitResult:
        if not pipeline.inserts:
            raise DeployError(
                f"{pipeline.source_file}: pipeline {pipeline.name!r} has no INSERT statement to submit"
            )
        props = self.session_properties(pipeline, savepoint, allow_non_restored_state)
        with self._client() as client:
            client.negotiate()
            if self.script:
                return self._submit_script(client, pipeline, props, savepoint)
            session = self._prepare(client, pipeline, props)
            try:
                job_id = self._insert(client, session, pipeline)
            finally:
                _quietly_close(client, session)
        log.info("pipeline %s submitted as job %s", pipeline.name, job_id)
        result = SubmitResult(job_id=job_id, pipeline=pipeline.name, restored_from=savepoint)
        if self.jobmanager and job_id:
            from flinksql_gen.deploy.jobmanager import JobManagerClient

            with JobManagerClient(self.jobmanager) as jm:
                jm.watch(job_id, pipeline)
        return result

    def _submit_script(
        self, client: GatewayClient, pipeline: PipelineBundle, props: dict[str, str], savepoint: str | None
    ) -> SubmitResult:
        if client.version != "V4":
            raise DeployError(
                f"the SQL Gateway at {self.url} speaks {client.version}; script deployment needs REST API v4 "
                "(a Flink 2.0+ gateway); submit without --script to send statements"
            )
        session = self._with_reopen(client, pipeline, lambda: client.open_session(props, pipeline.name))
        try:
            target = client.session_config(session).get("execution.target", "")
            if not target.endswith("-application"):
                raise DeployError(_no_application_mode(self.url, target))
            cluster = client.deploy_script(session, resolve(pipeline.script), props)
        except GatewayHTTPError as exc:
            if "Application Mode not supported" in exc.text:
                raise DeployError(_no_application_mode(self.url, target)) from None
            raise statement_error(pipeline, pipeline.statements, root_cause(exc.text), "script") from None
        except SessionGone:
            raise DeployError(
                f"{pipeline.source_file}: pipeline {pipeline.name!r}: the gateway session ended while deploying "
                "the script; it may or may not have started; check with `flinksql-gen jobs` before retrying"
            ) from None
        finally:
            _quietly_close(client, session)
        return SubmitResult(job_id=None, pipeline=pipeline.name, cluster_id=cluster, restored_from=savepoint)

    def _prepare(self, client: GatewayClient, pipeline: PipelineBundle, props: dict[str, str]) -> str:
        """Open a session and run the DDL; on session expiry start over once (all idempotent)."""

        def attempt() -> str:
            session = client.open_session(props, pipeline.name)
            try:
                for stmt in pipeline.ddl:
                    self._configure(client, session, pipeline, stmt)
            except BaseException:
                _quietly_close(client, session)
                raise
            return session

        return self._with_reopen(client, pipeline, attempt)

    def _with_reopen(self, client: GatewayClient, pipeline: PipelineBundle, step: Any) -> str:
        try:
            return step()
        except SessionGone:
            log.info("gateway session of %s expired while preparing; opening a new one", pipeline.name)
        try:
            return step()
        except SessionGone:
            raise DeployError(
                f"{pipeline.source_file}: pipeline {pipeline.name!r}: the SQL Gateway closed the session twice "
                "while preparing it; check sql-gateway.session.idle-timeout"
            ) from None

    @staticmethod
    def _configure(client: GatewayClient, session: str, pipeline: PipelineBundle, stmt: Statement) -> None:
        log.debug("configure %s %s (%s)", stmt.kind, stmt.name, stmt.origin)
        sql = resolve(stmt.sql)
        if stmt.kind == "create_view":
            sql = session_view(sql)
        try:
            client.configure(session, sql)
        except GatewayHTTPError as exc:
            raise statement_error(
                pipeline, [stmt], root_cause(exc.text), stmt.kind.replace("_", " ")
            ) from None

    def _insert(self, client: GatewayClient, session: str, pipeline: PipelineBundle) -> str | None:
        inserts = pipeline.inserts
        sql = statement_set([resolve(s.sql) for s in inserts])
        try:
            operation = client.execute(session, sql)  # sent exactly once, whatever happens next
        except GatewayHTTPError as exc:
            raise statement_error(pipeline, inserts, root_cause(exc.text), "insert") from None
        except (SessionGone, DeployError) as exc:
            raise DeployError(
                f"{inserts[0].origin}: pipeline {pipeline.name!r}: submitting the INSERT failed ({_short(exc)}); "
                "it was not retried: check with `flinksql-gen jobs` whether the job started before submitting again"
            ) from None
        try:
            table = client.finish(session, operation)
        except OperationFailed as exc:
            raise statement_error(pipeline, inserts, root_cause(exc.text), "insert") from None
        except SessionGone:
            raise DeployError(
                f"{inserts[0].origin}: pipeline {pipeline.name!r}: the SQL Gateway session expired after the "
                "INSERT was sent; the job may be running: check with `flinksql-gen jobs` (it was not resubmitted)"
            ) from None
        return table.job_id

    # --- control -----------------------------------------------------------------------------

    def _query(self, statement: str, properties: Mapping[str, str] | None = None) -> ResultTable:
        with self._client() as client:
            client.negotiate()
            session = client.open_session(dict(properties or {}), "flinksql-gen")
            try:
                return client.run(session, statement)
            except OperationFailed as exc:
                raise DeployError(
                    f"{statement!r} failed on the SQL Gateway: {safe(root_cause(exc.text))}"
                ) from None
            except SessionGone:
                raise DeployError(f"the SQL Gateway closed the session while running {statement!r}") from None
            finally:
                _quietly_close(client, session)

    def jobs(self) -> list[JobInfo]:
        if self.jobmanager:
            from flinksql_gen.deploy.jobmanager import JobManagerTarget

            return JobManagerTarget(self.jobmanager).jobs()
        table = self._query("SHOW JOBS")
        index = {name: i for i, name in enumerate(table.columns)}
        out = []
        for row in table.rows:
            start = row[index["start time"]] if "start time" in index else None
            out.append(
                JobInfo(
                    job_id=str(row[index["job id"]]),
                    name=str(row[index["job name"]]),
                    state=str(row[index["status"]]).upper(),
                    start_time=epoch_ms(start),
                )
            )
        return out

    def stop(self, name: str, savepoint_dir: str) -> str:
        if self.jobmanager:
            from flinksql_gen.deploy.jobmanager import JobManagerTarget

            return JobManagerTarget(self.jobmanager).stop(name, savepoint_dir)
        job = find_active_job(self.jobs(), name)
        props = {
            "execution.checkpointing.savepoint-dir": savepoint_dir,
            "state.savepoints.dir": savepoint_dir,
        }
        table = self._query(f"STOP JOB '{job.job_id}' WITH SAVEPOINT", props)
        paths = table.column("savepoint path") if "savepoint path" in table.columns else []
        if not paths:
            raise DeployError(f"job {name!r} stopped but the gateway reported no savepoint path")
        return str(paths[0])

    def cancel(self, name: str) -> None:
        if self.jobmanager:
            from flinksql_gen.deploy.jobmanager import JobManagerTarget

            JobManagerTarget(self.jobmanager).cancel(name)
            return
        job = find_active_job(self.jobs(), name)
        self._query(f"STOP JOB '{job.job_id}'")  # without a savepoint, STOP JOB cancels


# --- helpers -----------------------------------------------------------------------------------


def epoch_ms(value: Any) -> int | None:
    """SHOW JOBS' `start time`: epoch ms, or the ISO text the gateway serializes a TIMESTAMP_LTZ
    as (e.g. '2026-11-29T14:23:38.123Z' or '2026-11-29 14:23:38.123'); None when absent or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    import datetime as dt

    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return round(moment.timestamp() * 1000)


_TEMPORARY_VIEW = re.compile(r"^(\s*CREATE\s+)TEMPORARY\s+(VIEW\s)", re.IGNORECASE)


def session_view(sql: str) -> str:
    """`CREATE TEMPORARY VIEW` -> `CREATE VIEW`: the SQL Gateway of Flink 2.0.0 plans each statement
    with a new planner, and a window TVF over a temporary view then fails ("Relational expression
    ... belongs to a different planner than is currently being used"); a view in the session's
    in-memory catalog is kept as SQL text and works. The session ends with the submission."""
    return _TEMPORARY_VIEW.sub(r"\1\2", sql, count=1)


def statement_set(inserts: list[str]) -> str:
    """One INSERT as is; several as one EXECUTE STATEMENT SET (one job)."""
    if len(inserts) == 1:
        return inserts[0]
    body = "\n".join(f"{sql};" for sql in inserts)
    return f"EXECUTE STATEMENT SET\nBEGIN\n{body}\nEND"


def udf_python_files(pipeline: PipelineBundle, search: list[Path] | None = None) -> list[str]:
    """Files or package folders that define the pipeline's Python UDFs (for `python.files`)."""
    roots = search or [Path(pipeline.source_file).resolve().parent, Path.cwd()]
    found: list[str] = []
    for udf in pipeline.udfs:
        top = udf.python.split(":", 1)[0].split(".")[0]
        path = _find_module(top, roots)
        if path and path not in found:
            found.append(path)
    return found


def _find_module(top: str, roots: list[Path]) -> str | None:
    for root in roots:
        for parent in [root, *root.parents][:4]:
            for candidate in (parent / f"{top}.py", parent / top):
                if candidate.exists():
                    return str(candidate)
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    origin = Path(spec.origin)
    return str(origin.parent if origin.name == "__init__.py" else origin)


def _no_application_mode(url: str, target: str) -> str:
    return (
        f"the SQL Gateway at {url} cannot deploy scripts: a script runs as its own application cluster, "
        f"but this gateway's execution.target is {target or 'unset'!r} (a session cluster; standalone Flink "
        "has no application mode). Submit without --script (statements run on the session cluster), or use a "
        "gateway configured with execution.target: kubernetes-application (or yarn-application)"
    )


def _quietly_close(client: GatewayClient, session: str) -> None:
    with suppress(DeployError, SessionGone, GatewayHTTPError):
        client.close_session(session)


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


def _short(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0]


register("gateway", GatewayTarget)
