"""The one place that builds a PyFlink TableEnvironment for this project."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

from flinksql_gen.errors import UsageError
from flinksql_gen.runtime.jars import pipeline_jars_value
from flinksql_gen.runtime.java import export_java

LOOPBACK_KEY = "python.loopback-server.address"  # set by PyFlink when an env is created locally


def parse_remote(remote: str) -> tuple[str, int]:
    """`http://host:port`, `host:port` -> (host, port)."""
    parsed = urlparse(remote if "//" in remote else f"http://{remote}")
    if not parsed.hostname or not parsed.port:
        raise UsageError(f"bad JobManager address {remote!r}: write http://HOST:PORT")
    return parsed.hostname, parsed.port


def open_table_env(mode: str = "streaming", jars: Sequence[Path | str] = (), remote: str | None = None,
                   parallelism: int = 1, checkpoint_dir: Path | str | None = None,
                   config: Mapping[str, str] | None = None, log_dir: Path | None = None):
    """A TableEnvironment: local mini-cluster, or `remote` (a session cluster's REST address).

    Sets pipeline.jars (connector jars shipped per job), python.executable and
    python.client.executable (this interpreter), parallelism and the checkpoint directory.
    Every PyFlink process costs ~1 GB and several seconds: share the result where you can.
    """
    if mode not in ("streaming", "batch"):
        raise UsageError(f"mode must be 'streaming' or 'batch', not {mode!r}")
    export_java()
    if log_dir is not None and "FLINK_LOG_DIR" not in os.environ:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        os.environ["FLINK_LOG_DIR"] = str(log_dir)  # read when the Java gateway starts
    from pyflink.table import EnvironmentSettings, TableEnvironment

    settings = EnvironmentSettings.in_streaming_mode() if mode == "streaming" else EnvironmentSettings.in_batch_mode()
    table_env = TableEnvironment.create(settings)
    conf = table_env.get_config()
    if jars:
        conf.set("pipeline.jars", pipeline_jars_value([Path(j) for j in jars]))
    conf.set("python.executable", sys.executable)
    conf.set("python.client.executable", sys.executable)
    conf.set("parallelism.default", str(parallelism))
    if checkpoint_dir is not None:
        uri = str(checkpoint_dir) if "://" in str(checkpoint_dir) else Path(checkpoint_dir).resolve().as_uri()
        conf.set("execution.checkpointing.dir", uri)
    if remote:
        host, port = parse_remote(remote)
        # PyFlink created the env in local mode and started a "loopback" Python worker in this
        # process; a job sent to a cluster with that address would run its Python UDFs here and
        # fail as soon as this client exits. Remote jobs use the TaskManager's own workers.
        conf._j_table_config.getConfiguration().removeKey(LOOPBACK_KEY)
        conf.set("execution.target", "remote")
        conf.set("rest.address", host)
        conf.set("rest.port", str(port))
    for key, value in (config or {}).items():
        conf.set(key, value)
    return table_env


def reset_planner_metadata(table_env) -> None:
    """Make the planner's metadata handlers valid on the Java thread that serves this call.

    Calcite keeps the metadata handler provider in a thread-local that Flink sets only on the
    thread that created the TableEnvironment, and the planner's cluster caches a metadata query
    built on whichever thread first asked. Py4J serves Python calls from a pool of Java threads:
    once two Python threads have called into one JVM, later calls can land on a thread without
    the provider, and every plan fails with `NullPointerException: metadataHandlerProvider`
    (FLINK-23020; seen in long test sessions and long-lived runners). Setting the thread-local
    and dropping the cached query before planning makes each plan independent of the thread."""
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    jvm = gateway.jvm
    planner = table_env._j_tenv.getPlanner()
    loader = planner.getClass().getClassLoader()

    def load(name: str):
        return jvm.java.lang.Class.forName(name, True, loader)

    providers = load("org.apache.calcite.rel.metadata.RelMetadataQueryBase").getField("THREAD_PROVIDERS").get(None)
    if providers.get() is None:
        no_types, no_args = gateway.new_array(jvm.java.lang.Class, 0), gateway.new_array(jvm.java.lang.Object, 0)
        flink = load("org.apache.flink.table.planner.plan.metadata.FlinkDefaultRelMetadataProvider")
        instance = flink.getMethod("INSTANCE", no_types).invoke(None, no_args)
        types = gateway.new_array(jvm.java.lang.Class, 1)
        types[0] = load("org.apache.calcite.rel.metadata.RelMetadataProvider")
        args = gateway.new_array(jvm.java.lang.Object, 1)
        args[0] = instance
        janino = load("org.apache.calcite.rel.metadata.JaninoRelMetadataProvider")
        providers.set(janino.getMethod("of", types).invoke(None, args))
    planner.createRelBuilder().getCluster().invalidateMetadataQuery()


def jobmanager_get(rest_url: str, path: str, timeout: float = 2.0) -> dict | None:
    """GET `path` (e.g. /overview) of a JobManager's REST API as JSON, or None when it does not answer."""
    import httpx

    try:
        resp = httpx.get(f"{rest_url}{path}", timeout=timeout)
        return resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def cluster_overview(rest_url: str, timeout: float = 2.0) -> dict | None:
    """GET /overview of a JobManager's REST API, or None when it does not answer."""
    return jobmanager_get(rest_url, "/overview", timeout)
