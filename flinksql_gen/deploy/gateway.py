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
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from flinksql_gen.bundle import PipelineBundle, Statement
from flinksql_gen.deploy.base import (
    DeployError,
    JobInfo,
    SubmitResult,
    find_active_job,
    register,
    require_inserts,
    root_cause,
    safe,
    statement_error,
)
from flinksql_gen.deploy.gateway_client import (
    GatewayClient,
    GatewayHTTPError,
    OperationFailed,
    ResultTable,
    SessionGone,
    first_line,
)
from flinksql_gen.secrets import resolve

log = logging.getLogger(__name__)

class GatewayDeployTarget:
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
        props = pipeline.resolved_settings()  # references resolved at submission time
        props["pipeline.name"] = pipeline.name
        if pipeline.udfs:
            files = self.python_files or udf_python_files(pipeline)
            if files:
                props.setdefault("python.files", ",".join(files))
            # Otherwise the cluster's own python.executable applies (set in docker-compose.yaml).
            executable = self.python_executable  # the CLI passes FLINKSQL_PYTHON_EXECUTABLE
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
        require_inserts(pipeline)
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
                f"{inserts[0].origin}: pipeline {pipeline.name!r}: submitting the INSERT failed ({first_line(exc)}); "
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










register("gateway", GatewayDeployTarget)
