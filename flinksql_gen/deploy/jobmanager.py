"""Control jobs on a Flink session cluster through the JobManager REST API, by job name.

Endpoints (Flink REST API v1): GET /overview, /jobs/overview, /jobs/:id, /jobs/:id/exceptions,
/jobs/:id/checkpoints; POST /jobs/:id/stop {"targetDirectory", "drain"} then
GET /jobs/:id/savepoints/:triggerid; PATCH /jobs/:id?mode=cancel.

Submission to the cluster goes through PyFlink with execution.target=remote
(`submit_with_pyflink`); afterwards the job is watched for a while so that a job that fails
right after start-up is reported with its root cause instead of "submitted".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
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
    statement_error,
)
from flinksql_gen.deploy.rest import RestClient
from flinksql_gen.errors import Location
from flinksql_gen.secrets import resolve

log = logging.getLogger(__name__)

FAILED_STATES = frozenset({"FAILED", "FAILING", "RESTARTING"})
TERMINAL_STATES = frozenset({"FAILED", "CANCELED", "FINISHED", "SUSPENDED"})
# Connectors inside the Flink distribution itself (no jar to ship).
BUILTIN_CONNECTORS = frozenset({"datagen", "blackhole", "print", "filesystem"})


class JobManagerClient(RestClient):
    """The JobManager REST endpoints this project needs; every failure is one DeployError."""

    service = "the Flink JobManager"
    unreachable_hint = "is the cluster running? (pass --jobmanager URL)"

    def __init__(
        self, url: str, *, timeout: float = 10.0, poll_interval: float = 0.5, max_poll_interval: float = 2.0
    ):
        super().__init__(resolve(url), timeout)
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._send(method, path, body)
        if response.is_success:
            return response.json() if response.content else {}
        try:
            errors = response.json().get("errors") or [response.text]
        except ValueError:
            errors = [response.text]
        text = "\n".join(str(e) for e in errors)
        raise DeployError(
            f"the Flink JobManager answered {response.status_code} to {method} {path}: {root_cause(text)}"
        )

    # --- reads -------------------------------------------------------------------------------

    def overview(self) -> dict:
        return self._request("GET", "/overview")

    def jobs(self) -> list[JobInfo]:
        answer = self._request("GET", "/jobs/overview")
        return [
            JobInfo(
                job_id=j["jid"],
                name=j.get("name", ""),
                state=j.get("state", ""),
                start_time=j.get("start-time"),
            )
            for j in answer.get("jobs", [])
        ]

    def job(self, job_id: str) -> dict:
        return self._request("GET", f"/jobs/{job_id}")

    def state(self, job_id: str) -> str:
        return str(self.job(job_id).get("state", "")).upper()

    def checkpoints(self, job_id: str) -> dict:
        return self._request("GET", f"/jobs/{job_id}/checkpoints")

    def latest_checkpoint(self, job_id: str) -> str | None:
        """External path of the latest completed checkpoint, if any."""
        latest = (self.checkpoints(job_id).get("latest") or {}).get("completed") or {}
        return latest.get("external_path")

    def exception(self, job_id: str) -> str | None:
        """The latest failure's stack trace (exception history; older `root-exception` as fallback)."""
        answer = self._request("GET", f"/jobs/{job_id}/exceptions")
        entries = (answer.get("exceptionHistory") or {}).get("entries") or []
        if entries:
            return str(entries[0].get("stacktrace") or entries[0].get("exceptionName") or "")
        return answer.get("root-exception") or None

    # --- control -----------------------------------------------------------------------------

    def find(self, name: str) -> JobInfo:
        return find_active_job(self.jobs(), name)

    def stop_with_savepoint(self, job_id: str, target_directory: str, *, timeout: float = 300.0) -> str:
        """Stop with a savepoint; a trigger refused because tasks are still starting is retried
        (a refused trigger changes nothing, so retrying it is safe)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._stop_once(job_id, target_directory, deadline, timeout)
            except DeployError as exc:
                if "Not all required tasks are currently running" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(self.max_poll_interval)

    def _stop_once(self, job_id: str, target_directory: str, deadline: float, timeout: float) -> str:
        body = {"targetDirectory": savepoint_uri(target_directory), "drain": False}
        trigger = self._request("POST", f"/jobs/{job_id}/stop", body)["request-id"]
        delay = self.poll_interval
        while True:
            answer = self._request("GET", f"/jobs/{job_id}/savepoints/{trigger}")
            if (answer.get("status") or {}).get("id") == "COMPLETED":
                operation = answer.get("operation") or {}
                failure = operation.get("failure-cause")
                if failure:
                    text = failure.get("stack-trace") or failure.get("class") or str(failure)
                    raise DeployError(f"stop-with-savepoint of job {job_id} failed: {root_cause(text)}")
                return str(operation["location"])
            if time.monotonic() > deadline:
                raise DeployError(f"the savepoint of job {job_id} did not complete within {timeout:g}s")
            time.sleep(delay)
            delay = min(delay * 2, self.max_poll_interval)

    def cancel(self, job_id: str) -> None:
        self._request("PATCH", f"/jobs/{job_id}?mode=cancel")

    def wait_for(self, job_id: str, states: frozenset[str] | set[str], timeout: float) -> str:
        """Poll until the job is in one of `states` (or terminal); returns the last state seen."""
        deadline = time.monotonic() + timeout
        delay = self.poll_interval
        while True:
            state = self.state(job_id)
            if state in states or state in TERMINAL_STATES or time.monotonic() > deadline:
                return state
            time.sleep(delay)
            delay = min(delay * 2, self.max_poll_interval)

    def wait_tasks_running(self, job_id: str, timeout: float = 300.0) -> float:
        """Seconds until the job and every one of its tasks run: a job reports RUNNING while its
        tasks are still being deployed, and records only flow once they all are. A job that ends
        first raises with its cause."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            job = self.job(job_id)
            state = str(job.get("state", "")).upper()
            if state == "RUNNING" and all(v.get("status") == "RUNNING" for v in job.get("vertices", [])):
                return time.monotonic() - began
            if state in TERMINAL_STATES:
                raise DeployError(f"job {job_id} is {state}: {root_cause(self.exception(job_id) or 'no exception reported')}")
            time.sleep(self.poll_interval)
        raise DeployError(f"job {job_id} did not have all its tasks RUNNING within {timeout:.0f} s")

    def watch(
        self, job_id: str, pipeline: PipelineBundle, *, start_timeout: float = 120.0, settle: float = 10.0
    ) -> str:
        """Wait for RUNNING, then keep watching for `settle` seconds; a failure raises with its cause."""
        state = self.wait_for(job_id, {"RUNNING"}, start_timeout)
        deadline = time.monotonic() + settle
        while state == "RUNNING" and time.monotonic() < deadline:
            time.sleep(min(self.max_poll_interval, max(0.0, deadline - time.monotonic())))
            state = self.state(job_id)
        if state in FAILED_STATES:
            trace = self.exception(job_id) or "no exception reported"
            what = (
                "failed"
                if state == "FAILED"
                else f"is {state} (it keeps retrying; cancel it with `flinksql-gen cancel`)"
            )
            cause = f"job {job_id} {what}: {root_cause(trace)}"
            raise statement_error(pipeline, pipeline.inserts, cause, "insert")
        if state in ("CREATED", "INITIALIZING", "RECONCILING"):
            raise DeployError(
                f"pipeline {pipeline.name!r}: job {job_id} did not reach RUNNING within {start_timeout:g}s "
                f"(it is {state}: are there free task slots? see GET {self.url}/overview)"
            )
        if state not in ("RUNNING", "FINISHED"):
            raise DeployError(f"pipeline {pipeline.name!r}: job {job_id} is {state}, not RUNNING")
        return state


# --- the deployment target ---------------------------------------------------------------------

Submitter = Callable[..., str]


class JobManagerTarget:
    """Deploy to a Flink session cluster: submit through PyFlink, control through REST."""

    name = "jobmanager"

    def __init__(
        self,
        url: str,
        *,
        settle: float = 10.0,
        start_timeout: float = 120.0,
        submitter: Submitter | None = None,
        workdir: Path | None = None,  # the local stack's folder: jars and logs of the PyFlink submission
        **client_options: Any,
    ):
        self.url = resolve(url)
        self.settle = settle
        self.start_timeout = start_timeout
        self.submitter = submitter or partial(submit_with_pyflink, workdir=workdir)
        self.client_options = client_options

    def client(self) -> JobManagerClient:
        return JobManagerClient(self.url, **self.client_options)

    def submit(
        self,
        pipeline: PipelineBundle,
        *,
        savepoint: str | None = None,
        allow_non_restored_state: bool = False,
    ) -> SubmitResult:
        require_inserts(pipeline)
        with self.client() as jm:
            jm.overview()  # fail fast (and clearly) when the cluster is not there
            job_id = self.submitter(
                pipeline, self.url, savepoint=savepoint, allow_non_restored_state=allow_non_restored_state
            )
            log.info("pipeline %s submitted as job %s", pipeline.name, job_id)
            jm.watch(job_id, pipeline, start_timeout=self.start_timeout, settle=self.settle)
        return SubmitResult(job_id=job_id, pipeline=pipeline.name, restored_from=savepoint)

    def jobs(self) -> list[JobInfo]:
        with self.client() as jm:
            return jm.jobs()

    def stop(self, name: str, savepoint_dir: str) -> str:
        with self.client() as jm:
            job = jm.find(name)
            path = jm.stop_with_savepoint(job.job_id, savepoint_dir)
            # The savepoint completes just before the job finishes: wait, so that a new job of
            # the same name (an upgrade) never runs next to the old one.
            state = jm.wait_for(job.job_id, {"FINISHED"}, timeout=60.0)
            if state != "FINISHED":
                raise DeployError(f"job {name!r} wrote savepoint {path} but is still {state}")
            return path

    def cancel(self, name: str) -> None:
        with self.client() as jm:
            job = jm.find(name)
            jm.cancel(job.job_id)
            jm.wait_for(job.job_id, {"CANCELED"}, timeout=60.0)


def savepoint_uri(directory: str) -> str:
    """A savepoint directory as Flink wants it: a URI (a bare local path becomes file://)."""
    return directory if "://" in directory else Path(directory).resolve().as_uri()


def submit_with_pyflink(
    pipeline: PipelineBundle,
    jobmanager_url: str,
    *,
    savepoint: str | None = None,
    allow_non_restored_state: bool = False,
    workdir: Path | None = None,
) -> str:
    """Submit a pipeline to a session cluster through PyFlink (execution.target=remote); the job id.
    `workdir` holds the connector jars and logs (None: the built-in ./.flinksql).

    Delegates to `flinksql_gen.runtime.runner.run_pipeline(wait=False)` (SETs, UDFs, DDL one by one, INSERTs
    as one statement set; errors carry the YAML origin). The restore point and the job name
    travel as extra SET statements, so they apply exactly like the pipeline's own settings.
    """
    from flinksql_gen.runtime.runner import run_pipeline

    extra = {"pipeline.name": pipeline.name}
    if savepoint:
        extra["execution.state-recovery.path"] = savepoint
        extra["execution.state-recovery.ignore-unclaimed-state"] = str(allow_non_restored_state).lower()
    sets = tuple(Statement.set_option(key, value, Location(pipeline.source_file)) for key, value in extra.items())
    submitted = replace(pipeline, statements=pipeline.statements + sets)
    builtin_only = {t.connector for t in pipeline.tables} <= BUILTIN_CONNECTORS
    jars: list[Path] | None = [] if builtin_only or "pipeline.jars" in pipeline.settings else None
    result = run_pipeline(submitted, wait=False, remote=jobmanager_url, jars=jars, workdir=workdir)
    if not result.job_id:
        raise DeployError(
            f"pipeline {pipeline.name!r}: the cluster accepted the statements but returned no job"
        )
    return result.job_id


register("jobmanager", JobManagerTarget)
