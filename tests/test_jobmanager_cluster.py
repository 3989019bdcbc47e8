"""The JobManager target against the test session's real standalone session cluster (slow: JVMs).

Submit through PyFlink (execution.target=remote), find the job by name, stop it with a
savepoint, resume from that savepoint, cancel. Uses only built-in connectors (datagen,
blackhole), so no broker is needed; the stateful GROUP BY makes the savepoint carry state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flinksql_gen.bundle import PipelineBundle, Statement, TableInfo
from flinksql_gen.deploy.base import DeployError
from flinksql_gen.deploy.jobmanager import JobManagerClient, JobManagerTarget
from flinksql_gen.errors import FlinksqlGenError, Location

pytestmark = [pytest.mark.slow, pytest.mark.flink]

F = "pipelines/jm_smoke.yaml"


def smoke_pipeline(name: str = "jm_smoke", checkpoints: str | None = None) -> PipelineBundle:
    settings = {"parallelism.default": "1", "execution.checkpointing.interval": "2 s"}
    if checkpoints:
        settings["execution.checkpointing.dir"] = checkpoints
    stmts = [Statement.set_option(k, v, Location(F, 1)) for k, v in settings.items()]
    stmts += [
        Statement(
            "create_table",
            "src",
            "CREATE TABLE src (k INT, v DOUBLE) WITH ('connector' = 'datagen', 'rows-per-second' = '20', "
            "'fields.k.min' = '1', 'fields.k.max' = '3')",
            Location(F, 4, 3),
        ),
        Statement(
            "create_table",
            "snk",
            "CREATE TABLE snk (k INT, s DOUBLE, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'blackhole')",
            Location(F, 8, 3),
        ),
        Statement(
            "insert",
            "snk",
            "INSERT INTO snk SELECT k, SUM(v) FROM src GROUP BY k",
            Location(F, 12, 5),
            "sig-sum",
        ),
    ]
    tables = (
        TableInfo("src", "source", "datagen"),
        TableInfo("snk", "sink", "blackhole", changelog="upsert"),
    )
    return PipelineBundle(name, F, "cluster", tuple(stmts), tables=tables)


def test_submit_stop_with_savepoint_resume_cancel(cluster, tmp_path):
    target = JobManagerTarget(cluster.rest_url, settle=3.0, poll_interval=0.2)
    pipeline = smoke_pipeline(checkpoints=(tmp_path / "ck").as_uri())

    first = target.submit(pipeline)
    running = [j for j in target.jobs() if j.name == "jm_smoke" and j.active]
    assert [j.job_id for j in running] == [first.job_id]

    savepoint = target.stop("jm_smoke", str(tmp_path / "sp"))
    assert savepoint.startswith("file:") and Path(savepoint.removeprefix("file:")).exists()
    with JobManagerClient(cluster.rest_url) as jm:
        assert jm.state(first.job_id) == "FINISHED"

    second = target.submit(pipeline, savepoint=savepoint)
    assert second.job_id != first.job_id and second.restored_from == savepoint
    with JobManagerClient(cluster.rest_url) as jm:
        restored = jm.checkpoints(second.job_id).get("latest", {}).get("restored") or {}
        assert restored.get("external_path", "").rstrip("/") == savepoint.rstrip("/")

    target.cancel("jm_smoke")
    assert not [j for j in target.jobs() if j.name == "jm_smoke" and j.active]
    with pytest.raises(DeployError, match="no running job named 'jm_smoke'"):
        target.stop("jm_smoke", str(tmp_path / "sp"))


def test_planning_error_points_at_the_yaml_line(cluster):
    pipeline = smoke_pipeline("jm_broken")
    stmts = tuple(
        Statement(s.kind, s.name, s.sql.replace("SUM(v)", "SUM(nope)"), s.origin, s.state_signature)
        if s.kind == "insert"
        else s
        for s in pipeline.statements
    )
    broken = PipelineBundle(pipeline.name, F, "cluster", stmts, tables=pipeline.tables)
    with pytest.raises(FlinksqlGenError) as info:  # RunError from flinksql_gen.runtime.runner.run_pipeline
        JobManagerTarget(cluster.rest_url, settle=1.0).submit(broken)
    message = str(info.value)
    assert message.startswith(f"{F}:12:5: insert snk failed")
    assert "Column 'nope' not found" in message and "\tat " not in message
