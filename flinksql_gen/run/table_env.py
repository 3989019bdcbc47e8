"""The one place that builds a PyFlink TableEnvironment for this project."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

from flinksql_gen.errors import UsageError
from flinksql_gen.stack.jars import pipeline_jars_value
from flinksql_gen.stack.java import export_java

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
