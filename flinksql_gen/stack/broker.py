"""Apache Kafka (org.apache.kafka:kafka_2.13 from Maven Central) in KRaft mode: one process that
is both broker and controller, on loopback ports, its data under <workdir>/kafka.

Exactly-once sinks, transactions and read_committed readers work as on a production cluster.
The storage is formatted once per data dir; `down` removes the data dir with the stack.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.errors import UsageError
from flinksql_gen.kafka.client import broker_answers
from flinksql_gen.runtime import maven
from flinksql_gen.stack import procs
from flinksql_gen.stack.kafka_runtime import KAFKA_VERSION, RUNTIME

HEAP = "-Xmx512m"
# Single-node settings: replication 1 everywhere, few internal partitions (fast start, small
# footprint), no rebalance delay, a transaction timeout ceiling that admits Flink's default, and
# no time-based retention: replayed test data carries old event timestamps, which the default
# 7-day retention would delete (even from the active segment) within a minute.
_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
transaction.max.timeout.ms=3600000
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.ms=-1
# a no-op metadata record every 5 s, not every 0.5 s: an idle broker's raft thread 6 % -> 2 % of a core
metadata.max.idle.interval.ms=5000
"""
_LOG4J = """\
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName={log}
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
"""


@dataclass(frozen=True)
class BrokerInfo:
    pid: int
    start_time: int
    port: int
    log: str
    controller_port: int = 0
    data_dir: str = ""
    version: str = KAFKA_VERSION

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def runtime_jars(download: bool = True, repository: str | None = None, cache: Path | None = None) -> list[Path]:
    """Kafka's jars in the download cache (fetched and verified on first use)."""
    return maven.fetch_all(map(maven.Artifact.parse, RUNTIME), repository=repository, cache=cache, download=download,
                           what=f"Apache Kafka {KAFKA_VERSION} jars")


def _java(java_bin: Path, jars: list[Path], log4j: Path, *args: str) -> list[str]:
    return [str(java_bin), "-Xms64m", HEAP, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", ":".join(map(str, jars)), *args]


def _cluster_id() -> str:
    """A random cluster id as Kafka's own Uuid.randomUuid makes it: never starting with '-', which
    StorageTool's argument parser would read as an option (1 start in 64 failed with its usage)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def start_broker(workdir: Path, port: int, timeout: float = 60.0, download: bool = True,
                 repository: str | None = None, cache: Path | None = None) -> BrokerInfo:
    """Format <workdir>/kafka/data if new, start Kafka, and wait until it answers metadata requests."""
    from flinksql_gen.runtime.java import find_java

    if not procs.port_free(port):
        raise UsageError(f"port 127.0.0.1:{port} is already in use: pick another Kafka port or free it")
    java_bin = find_java().binary
    jars = runtime_jars(download=download, repository=repository, cache=cache)
    home = Path(workdir) / "kafka"
    data = home / "data"
    logs = Path(workdir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    log = logs / "kafka.log"
    controller_port = procs.free_port()
    props = home / "server.properties"
    props.write_text(_SERVER_PROPERTIES.format(port=port, controller_port=controller_port, data=data))
    log4j = home / "log4j2.properties"
    log4j.write_text(_LOG4J.format(log=log))
    if not (data / "meta.properties").is_file():
        _format(java_bin, jars, log4j, props, data)
    with open(logs / "kafka.out", "ab") as out:
        proc = subprocess.Popen(_java(java_bin, jars, log4j, "kafka.Kafka", str(props)), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=str(home))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UsageError(f"Kafka stopped at start-up (exit {proc.returncode}): {procs.log_tail(log)} "
                             f"(log: {log}, {logs / 'kafka.out'})")
        if procs.port_open(port) and _answers(port):
            return BrokerInfo(proc.pid, procs.start_time(proc.pid) or 0, port, str(log), controller_port,
                              str(data))
        time.sleep(0.1)
    procs.terminate(proc.pid)
    raise UsageError(f"Kafka did not answer on 127.0.0.1:{port} within {timeout:.0f}s (log: {log})")


def _format(java_bin: Path, jars: list[Path], log4j: Path, props: Path, data: Path) -> None:
    """Format a new data dir (static quorum: the voters come from server.properties, so a data
    dir formatted once restarts with fresh ports)."""
    shutil.rmtree(data, ignore_errors=True)
    fmt = subprocess.run(_java(java_bin, jars, log4j, "kafka.tools.StorageTool", "format", "-t", _cluster_id(),
                               "-c", str(props)),
                         capture_output=True, text=True, check=False, timeout=120)
    if fmt.returncode != 0:
        raise UsageError(f"formatting the Kafka storage in {data} failed: "
                         f"{(fmt.stderr or fmt.stdout).strip()[-500:]}")


def _answers(port: int) -> bool:
    return broker_answers(f"127.0.0.1:{port}")


def stop_broker(info: BrokerInfo, remove_data: bool = True) -> None:
    """SIGTERM (Kafka shuts down cleanly), SIGKILL after 30 s; then drop its data dir."""
    procs.terminate(info.pid, info.start_time or None, timeout=30.0)
    if remove_data and info.data_dir and not procs.alive(info.pid, info.start_time or None):
        shutil.rmtree(info.data_dir, ignore_errors=True)
