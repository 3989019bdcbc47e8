"""JobManager REST client and target, against a local server shaped like Flink's REST API v1.

The response shapes follow the published JobManager REST API (rest_v1_dispatcher.yml):
MultipleJobsDetails, JobDetailsInfo, JobExceptionsInfoWithHistory, TriggerResponse,
AsynchronousOperationResult<SavepointInfo>. Submission itself is replaced by a stub
submitter here (the real PyFlink path is exercised by test_jobmanager_cluster.py).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from fakes import sample_pipeline

from flinksql_gen.deploy import get_target
from flinksql_gen.deploy.base import DeployError
from flinksql_gen.deploy.jobmanager import JobManagerClient, JobManagerTarget, savepoint_uri

FAST = {"poll_interval": 0.005, "max_poll_interval": 0.01}


class FakeJobManager:
    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.requests: list[tuple[str, str, object]] = []
        self.state_script: dict[str, list[str]] = {}  # job id -> states returned one per GET
        self.exceptions: dict[str, str] = {}
        self.savepoint_polls = 2
        self.savepoint_failure: str | None = None
        self._triggers: dict[str, dict] = {}

    def __enter__(self):
        handler = type("H", (_Handler,), {"jm": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_job(self, name: str, state: str = "RUNNING") -> str:
        jid = uuid.uuid4().hex
        self.jobs[jid] = {"jid": jid, "name": name, "state": state, "start-time": 1700000000000}
        return jid

    def handle(self, method: str, raw: str, body) -> tuple[int, object]:
        parts = urlsplit(raw)
        path, query = parts.path, parse_qs(parts.query)
        self.requests.append((method, raw, body))
        if method == "GET" and path == "/overview":
            return 200, {
                "taskmanagers": 1,
                "slots-total": 2,
                "slots-available": 2,
                "jobs-running": 0,
                "jobs-finished": 0,
                "jobs-cancelled": 0,
                "jobs-failed": 0,
                "flink-version": "2.0.0",
            }
        if method == "GET" and path == "/jobs/overview":
            return 200, {
                "jobs": [
                    {**j, "end-time": -1, "duration": 1, "last-modification": 1, "tasks": {}}
                    for j in self.jobs.values()
                ]
            }
        m = re.fullmatch(r"/jobs/([0-9a-f]{32})(/.*)?", path)
        if not m or m.group(1) not in self.jobs:
            return 404, {"errors": ["Job could not be found."]}
        job, rest = self.jobs[m.group(1)], m.group(2) or ""
        if method == "GET" and rest == "":
            script = self.state_script.get(job["jid"])
            if script:
                job["state"] = script.pop(0)
            return 200, {**job, "vertices": [], "status-counts": {}}
        if method == "GET" and rest == "/exceptions":
            trace = self.exceptions.get(job["jid"])
            entries = (
                [{"exceptionName": "x", "stacktrace": trace, "timestamp": 1, "taskName": "Source"}]
                if trace
                else []
            )
            return 200, {"exceptionHistory": {"entries": entries, "truncated": False}}
        if method == "GET" and rest == "/checkpoints":
            return 200, {
                "counts": {"completed": 1},
                "latest": {"completed": {"id": 3, "external_path": "file:/ck/chk-3"}},
            }
        if method == "POST" and rest == "/stop":
            assert set(body) == {"targetDirectory", "drain"} and body["drain"] is False
            trigger = uuid.uuid4().hex
            self._triggers[trigger] = {
                "job": job,
                "polls": self.savepoint_polls,
                "dir": body["targetDirectory"],
            }
            return 202, {"request-id": trigger}
        sm = re.fullmatch(r"/savepoints/([0-9a-f]{32})", rest)
        if method == "GET" and sm:
            t = self._triggers[sm.group(1)]
            if t["polls"] > 0:
                t["polls"] -= 1
                return 200, {"status": {"id": "IN_PROGRESS"}}
            if self.savepoint_failure:
                return 200, {
                    "status": {"id": "COMPLETED"},
                    "operation": {
                        "failure-cause": {
                            "class": "java.util.concurrent.CompletionException",
                            "stack-trace": self.savepoint_failure,
                        }
                    },
                }
            job["state"] = "FINISHED"
            return 200, {
                "status": {"id": "COMPLETED"},
                "operation": {"location": f"{t['dir']}/savepoint-{job['jid'][:6]}-abc"},
            }
        if method == "PATCH" and rest == "" and query.get("mode") == ["cancel"]:
            job["state"] = "CANCELED"
            return 202, {}
        return 404, {"errors": [f"Not found: {raw}"]}


class _Handler(BaseHTTPRequestHandler):
    jm: FakeJobManager
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16

    def _serve(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n)) if n else None
        status, answer = self.jm.handle(self.command, self.path, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, *args):
        pass


@pytest.fixture
def jm():
    with FakeJobManager() as server:
        yield server


def stub_submitter(server: FakeJobManager, calls: list):
    def submit(pipeline, url, *, savepoint=None, allow_non_restored_state=False):
        calls.append((pipeline.name, url, savepoint, allow_non_restored_state))
        jid = server.add_job(pipeline.name, "CREATED")
        server.state_script[jid] = ["CREATED", "INITIALIZING", "RUNNING"]
        return jid

    return submit


def test_jobs_are_listed_and_found_by_name(jm):
    jm.add_job("a")
    jm.add_job("b", "CANCELED")
    target = JobManagerTarget(jm.url, **FAST)
    assert {(j.name, j.state, j.active) for j in target.jobs()} == {
        ("a", "RUNNING", True),
        ("b", "CANCELED", False),
    }
    with pytest.raises(DeployError, match=r"no running job named 'b' \(running jobs: a\)"):
        target.cancel("b")


def test_stop_with_savepoint_polls_the_trigger(jm, tmp_path):
    jid = jm.add_job("cpu_alerts")
    path = JobManagerTarget(jm.url, **FAST).stop("cpu_alerts", str(tmp_path / "sp"))
    assert path == f"{(tmp_path / 'sp').as_uri()}/savepoint-{jid[:6]}-abc"
    stop = [r for r in jm.requests if r[0] == "POST"]
    assert stop == [
        ("POST", f"/jobs/{jid}/stop", {"targetDirectory": (tmp_path / "sp").as_uri(), "drain": False})
    ]
    assert len([r for r in jm.requests if "/savepoints/" in r[1]]) == 3  # two IN_PROGRESS, then COMPLETED


def test_failed_savepoint_is_reported(jm):
    jm.add_job("cpu_alerts")
    jm.savepoint_failure = (
        "java.util.concurrent.CompletionException: x\n\tat a.b(C.java:1)\n"
        "Caused by: org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint Coordinator is suspending.\n"
    )
    with pytest.raises(DeployError, match="CheckpointException: Checkpoint Coordinator is suspending"):
        JobManagerTarget(jm.url, **FAST).stop("cpu_alerts", "file:///sp")


def test_cancel_by_name(jm):
    jid = jm.add_job("cpu_alerts")
    JobManagerTarget(jm.url, **FAST).cancel("cpu_alerts")
    assert ("PATCH", f"/jobs/{jid}?mode=cancel", None) in jm.requests
    assert jm.jobs[jid]["state"] == "CANCELED"


def test_submit_watches_until_running_then_settles(jm):
    calls: list = []
    target = JobManagerTarget(jm.url, submitter=stub_submitter(jm, calls), settle=0.05, **FAST)
    result = target.submit(sample_pipeline(), savepoint="file:///sp/1", allow_non_restored_state=True)
    assert calls == [("cpu_alerts", jm.url, "file:///sp/1", True)]
    assert result.job_id in jm.jobs and result.restored_from == "file:///sp/1"


def test_job_failing_after_start_is_reported_with_yaml_location(jm):
    calls: list = []

    def submit(pipeline, url, **kw):
        jid = stub_submitter(jm, calls)(pipeline, url, **kw)
        jm.state_script[jid] = ["CREATED", "RUNNING", "RUNNING", "FAILED"]
        jm.exceptions[jid] = (
            "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy\n"
            "\tat org.apache.flink.runtime...\n"
            "Caused by: org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment.\n"
        )
        return jid

    target = JobManagerTarget(jm.url, submitter=submit, settle=5.0, **FAST)
    with pytest.raises(DeployError) as info:
        target.submit(sample_pipeline())
    message = str(info.value)
    assert message.startswith("pipelines/cpu_alerts.yaml:20:5: pipeline 'cpu_alerts'")
    assert "failed: TimeoutException: Timed out waiting for a node assignment." in message


def test_restarting_job_is_reported(jm):
    def submit(pipeline, url, **kw):
        jid = jm.add_job(pipeline.name, "RUNNING")
        jm.state_script[jid] = ["RUNNING", "RESTARTING"]
        jm.exceptions[jid] = "java.lang.RuntimeException: boom"
        return jid

    with pytest.raises(DeployError, match=r"is RESTARTING .*RuntimeException: boom"):
        JobManagerTarget(jm.url, submitter=submit, settle=5.0, **FAST).submit(sample_pipeline())


def test_client_reads(jm):
    jid = jm.add_job("x")
    jm.exceptions[jid] = "java.lang.IllegalStateException: bad\n\tat a.b(C.java:1)"
    with JobManagerClient(jm.url, **FAST) as client:
        assert client.overview()["flink-version"] == "2.0.0"
        assert client.state(jid) == "RUNNING"
        assert client.latest_checkpoint(jid) == "file:/ck/chk-3"
        assert client.exception(jid).startswith("java.lang.IllegalStateException: bad")
        with pytest.raises(DeployError, match="answered 404"):
            client.job(uuid.uuid4().hex)


def test_connection_refused_is_one_message():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        DeployError,
        match=r"cannot connect to the Flink JobManager at http://127.0.0.1:\d+ \(connection refused\)",
    ):
        JobManagerTarget(f"http://127.0.0.1:{port}", **FAST).jobs()


def test_job_that_never_starts_is_reported(jm):
    def submit(pipeline, url, **kw):
        return jm.add_job(pipeline.name, "CREATED")

    target = JobManagerTarget(jm.url, submitter=submit, start_timeout=0.05, **FAST)
    with pytest.raises(DeployError, match=r"did not reach RUNNING within 0.05s \(it is CREATED"):
        target.submit(sample_pipeline())


def test_registry_and_savepoint_uri(jm, tmp_path):
    assert isinstance(get_target("jobmanager", url=jm.url), JobManagerTarget)
    assert savepoint_uri("s3://bucket/sp") == "s3://bucket/sp"
    assert savepoint_uri(str(tmp_path)) == tmp_path.as_uri()
