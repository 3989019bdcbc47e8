"""The real Flink SQL Gateway (org.apache.flink:flink-sql-gateway from Maven Central) in front of
the local session cluster: org.apache.flink.table.gateway.SqlGateway run with the cluster's lib
dir (the PyFlink distribution's jars plus flink-python) on its classpath.

The connector jars are on the gateway's classpath for planning only; its default config also
ships them with every job (`pipeline.jars`), since the cluster's own lib dir has no connectors
(the jars stay in exactly one place where the job runs).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from flinksql_gen.errors import UsageError
from flinksql_gen.runtime import maven
from flinksql_gen.runtime.jars import pipeline_jars_value
from flinksql_gen.stack import procs
from flinksql_gen.stack.flink_cluster import ClusterInfo


@dataclass(frozen=True)
class GatewayInfo:
    pid: int
    start_time: int
    port: int
    log: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def flink_version() -> str:
    from pyflink.version import __version__

    return __version__


def gateway_jar(download: bool = True, repository: str | None = None, cache: Path | None = None) -> Path:
    artifact = maven.Artifact("org.apache.flink", "flink-sql-gateway", flink_version())
    return maven.fetch_all([artifact], repository=repository, cache=cache, download=download,
                           what="Flink SQL Gateway jar")[0]


def write_config(cluster: ClusterInfo, port: int, jars: list[Path]) -> Path:
    """<cluster root>/gateway-conf: the cluster's config plus the gateway's endpoint and target."""
    conf = Path(cluster.root) / "gateway-conf"
    conf.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((cluster.conf_dir / "config.yaml").read_text()) or {}
    config.update({
        "execution.target": "remote",
        "sql-gateway.endpoint.type": "rest",
        "sql-gateway.endpoint.rest.address": "127.0.0.1",
        "sql-gateway.endpoint.rest.bind-address": "127.0.0.1",
        "sql-gateway.endpoint.rest.port": port,
    })
    if jars:
        config["pipeline.jars"] = pipeline_jars_value(jars)
    (conf / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True, width=100000))
    for props in cluster.conf_dir.glob("log4j*.properties"):
        (conf / props.name).write_bytes(props.read_bytes())
    return conf


def start_gateway(cluster: ClusterInfo, port: int, jars: list[Path], download: bool = True,
                  timeout: float = 120.0, repository: str | None = None, cache: Path | None = None) -> GatewayInfo:
    """Start the gateway and wait until GET /v1/info answers."""
    import httpx

    from flinksql_gen.runtime.java import find_java, java_env

    if not procs.port_free(port):
        raise UsageError(f"port 127.0.0.1:{port} is already in use: pick another SQL Gateway port or free it")
    jar = gateway_jar(download, repository, cache)
    conf = write_config(cluster, port, jars)
    log = cluster.log_dir / "sql-gateway.log"
    lib = Path(cluster.root) / "lib"
    classpath = ":".join([*map(str, sorted(lib.glob("*.jar"))), *map(str, jars), str(jar)])
    cmd = [str(find_java().binary), "-Xmx512m", f"-Dlog.file={log}",
           f"-Dlog4j.configurationFile=file:{conf / 'log4j.properties'}", "-cp", classpath,
           "org.apache.flink.table.gateway.SqlGateway"]
    env = {**java_env(), "FLINK_CONF_DIR": str(conf)}
    with open(cluster.log_dir / "sql-gateway.out", "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True, cwd=str(cluster.root))
    info = GatewayInfo(proc.pid, procs.start_time(proc.pid) or 0, port, str(log))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UsageError(f"the SQL Gateway stopped at start-up (exit {proc.returncode}): "
                             f"{procs.log_tail(Path(log))} (log: {log})")
        try:
            if httpx.get(f"{info.url}/v1/info", timeout=2.0).status_code == 200:
                return info
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    procs.terminate(proc.pid)
    raise UsageError(f"the SQL Gateway did not answer on {info.url} within {timeout:.0f}s (log: {log})")


def stop_gateway(info: GatewayInfo) -> None:
    procs.terminate(info.pid, info.start_time or None, timeout=20.0)


def gateway_alive(info: GatewayInfo | None) -> bool:
    return bool(info) and procs.alive(info.pid, info.start_time or None)
