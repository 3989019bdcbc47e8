"""One pipeline with a Python UDF on the standalone session cluster, and the TaskManager helpers."""

from __future__ import annotations

import contextlib
import sys
import textwrap
import time

import httpx
import pytest
from stack_fixtures import fresh_topics

from flinksql_gen.bundle import PipelineBundle, Statement, TableInfo, UdfInfo
from flinksql_gen.deploy.jobmanager import JobManagerClient
from flinksql_gen.errors import Location
from flinksql_gen.kafka.client import JsonProducer, consume
from flinksql_gen.runtime.runner import run_pipeline
from flinksql_gen.runtime.table_env import cluster_overview
from flinksql_gen.stack import flink_cluster, procs

pytestmark = pytest.mark.slow
MODULE = "flinksql_gen_cluster_udfs"


@pytest.fixture(scope="module")
def udf_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster_udfs")
    (folder / f"{MODULE}.py").write_text(textwrap.dedent("""
        from pyflink.table import DataTypes
        from pyflink.table.udf import udf

        @udf(result_type=DataTypes.STRING())
        def shout(text):
            return None if text is None else text.upper() + "!"
    """))
    sys.path.insert(0, str(folder))
    yield MODULE
    sys.path.remove(str(folder))


def words_pipeline(name: str, job: str, src: str, out: str, select: str, udfs: tuple[UdfInfo, ...] = ()
                   ) -> PipelineBundle:
    """A one-insert bundle: JSON words from Kafka topic `src` through `select` into topic `out`."""
    here = Location(f"pipelines/{name}.yaml", 1)
    options = "'properties.bootstrap.servers' = '${env:FLINKSQL_KAFKA_BOOTSTRAP}', 'format' = 'json'"
    return PipelineBundle(
        name, f"pipelines/{name}.yaml", "cluster",
        (Statement.set_option("pipeline.name", job, here),
         Statement("create_table", "src", f"CREATE TABLE src (w STRING) WITH ('connector' = 'kafka', "
                   f"'topic' = '{src}', 'scan.startup.mode' = 'earliest-offset', "
                   f"'properties.group.id' = '{name}', {options})", here),
         Statement("create_table", "sink", f"CREATE TABLE sink (w STRING) WITH ('connector' = 'kafka', "
                   f"'topic' = '{out}', {options})", here),
         Statement("insert", name, f"INSERT INTO sink {select}", here)),
        tables=(TableInfo("src", "source", "kafka", src), TableInfo("sink", "sink", "kafka", out)),
        udfs=udfs,
        env=("FLINKSQL_KAFKA_BOOTSTRAP",),
    )


def test_python_udf_job_on_the_session_cluster(cluster, stack_env_vars, table_env_factory, udf_module):
    src, out = fresh_topics(cluster, "words", "shouted")
    words = [f"word{i}" for i in range(25)]
    with JsonProducer(cluster.bootstrap) as producer:
        for w in words:
            producer.send(src, {"w": w})
    pipeline = words_pipeline("shout", "flinksql-test-shout", src, out, "SELECT shout(w) FROM src",
                              udfs=(UdfInfo("shout", f"{udf_module}:shout"),))
    te = table_env_factory(cluster.rest_url)
    result = run_pipeline(pipeline, {**stack_env_vars}, table_env=te, workdir=cluster.workdir, until_idle=3)
    assert (result.status, result.stopped_by, result.records) == ("CANCELED", "idle", 25)
    got = consume(out, expected=25, idle_s=5, bootstrap=cluster.bootstrap)
    assert sorted(r.value["w"] for r in got) == sorted(w.upper() + "!" for w in words)
    jobs = httpx.get(f"{cluster.rest_url}/jobs/overview", timeout=10).json()["jobs"]
    mine = [j for j in jobs if j["jid"] == result.job_id]
    assert mine and mine[0]["name"] == "flinksql-test-shout" and mine[0]["state"] == "CANCELED"


def test_taskmanager_can_be_killed_and_restarted(cluster):
    info = cluster.cluster
    killed = flink_cluster.registered_taskmanagers(info.rest_url)
    assert len(killed) == 1
    pid = flink_cluster.kill_taskmanager(info)
    assert pid and not procs.alive(pid)
    assert not flink_cluster.taskmanager_running(info)
    info = flink_cluster.start_taskmanager(info)  # until the new one has registered
    assert flink_cluster.taskmanager_running(info)
    assert cluster_overview(info.rest_url)["slots-available"] >= 1
    # the JobManager forgets the dead one (heartbeat timeout): the next test's job must not land on it
    flink_cluster.wait_until_taskmanagers_gone(info, killed)
    fresh = flink_cluster.registered_taskmanagers(info.rest_url)
    assert len(fresh) == 1 and not fresh & killed


def _scrape(urls: list[str]) -> str:
    text = []
    for url in urls:
        with contextlib.suppress(httpx.HTTPError):  # a port of the range no process took
            text.append(httpx.get(url, timeout=5).text)
    return "\n".join(text)


def _series(metrics: str, name: str, job: str) -> list[str]:
    return [line for line in metrics.splitlines() if line.startswith(name + "{") and f'job_name="{job}"' in line]


def _records_in(metrics: str, job: str) -> float:
    """The job's records in, summed over its operators' Prometheus series."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("flink_taskmanager_job_task_operator_numRecordsIn{") and f'job_name="{job}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_cluster_reports_a_running_jobs_metrics_to_prometheus(cluster, stack_env_vars, table_env_factory):
    info = cluster.cluster
    assert info.metrics_port and len(info.metrics_urls) == flink_cluster.METRICS_PORTS
    src, out = fresh_topics(cluster, "metered", "metered_out")
    with JsonProducer(cluster.bootstrap) as producer:
        for i in range(40):
            producer.send(src, {"w": f"w{i}"})
    job = "flinksql_test_metrics"  # the reporter turns characters outside [a-zA-Z0-9:_] of label values into _
    pipeline = words_pipeline("metered", job, src, out, "SELECT w FROM src WHERE w <> 'w0'")
    result = run_pipeline(pipeline, {**stack_env_vars}, table_env=table_env_factory(cluster.rest_url),
                          workdir=cluster.workdir, wait=False)
    try:
        deadline, metrics = time.monotonic() + 120, ""
        while time.monotonic() < deadline:
            metrics = _scrape(info.metrics_urls)
            if _records_in(metrics, job) >= 40 and _series(metrics, "flink_jobmanager_job_uptime", job):
                break
            time.sleep(2)
        assert _records_in(metrics, job) >= 40, [m for m in metrics.splitlines() if job in m][:5]
        # the JobManager reports the job, the TaskManager its checkpointing and JVM
        assert _series(metrics, "flink_jobmanager_job_uptime", job)
        assert "flink_taskmanager_Status_JVM_Memory_Heap_Used" in metrics
    finally:
        with JobManagerClient(cluster.rest_url) as jm:
            jm.cancel(result.job_id)
