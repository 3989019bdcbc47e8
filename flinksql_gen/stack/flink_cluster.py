"""A Flink standalone session cluster from the PyFlink distribution (bin/start-cluster.sh) with
its own config, lib and log dirs under the work dir; site-packages is never written to.

FLINK_LIB_DIR links pyflink/lib/*.jar plus pyflink/opt/flink-python-*.jar (Python UDFs need it).
Connector jars are NOT added here: jobs ship them with `pipeline.jars` (one place only).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flinksql_gen.errors import UsageError
from flinksql_gen.runtime.jars import pyflink_home
from flinksql_gen.runtime.java import java_env
from flinksql_gen.runtime.table_env import cluster_overview, jobmanager_get
from flinksql_gen.stack import procs

IDENT = "flinksql"


METRICS_PORTS = 4  # the reporter port range: the JobManager and up to three TaskManagers


@dataclass(frozen=True)
class ClusterInfo:
    rest_port: int
    rpc_port: int
    blob_port: int
    root: str  # <workdir>/flink: conf/, lib/, log/, run/
    jobmanager_pid: int = 0
    jobmanager_start: int = 0
    taskmanager_pids: tuple[tuple[int, int], ...] = field(default=())  # (pid, start time)
    # First port of the Prometheus reporters' range (the JobManager takes the first free port of
    # it, each TaskManager the next); 0 for a cluster started before the reporter was configured.
    metrics_port: int = 0

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def metrics_urls(self) -> list[str]:
        """Where Prometheus scrapes the cluster (one endpoint per process, in start order)."""
        if not self.metrics_port:
            return []
        return [f"http://127.0.0.1:{p}/metrics" for p in range(self.metrics_port, self.metrics_port + METRICS_PORTS)]

    @property
    def conf_dir(self) -> Path:
        return Path(self.root) / "conf"

    @property
    def log_dir(self) -> Path:
        return Path(self.root) / "log"

    @property
    def pid_dir(self) -> Path:
        return Path(self.root) / "run"


def flink_env(info: ClusterInfo) -> dict[str, str]:
    """Environment for the distribution's bin/*.sh scripts."""
    env = java_env()
    env.update(
        FLINK_HOME=str(pyflink_home()),
        FLINK_CONF_DIR=str(info.conf_dir),
        FLINK_LIB_DIR=str(Path(info.root) / "lib"),
        FLINK_LOG_DIR=str(info.log_dir),
        FLINK_PID_DIR=str(info.pid_dir),
        FLINK_IDENT_STRING=IDENT,
    )
    return env


def _java_opts() -> str:
    conf = yaml.safe_load((pyflink_home() / "conf" / "config.yaml").read_text()) or {}
    return str(conf.get("env", {}).get("java", {}).get("opts", {}).get("all", ""))


def write_config(workdir: Path, rest_port: int, rpc_port: int, blob_port: int,
                 taskmanager_memory: str = "1280m", slots: int = 2, metrics_port: int = 0) -> ClusterInfo:
    workdir = Path(workdir).resolve()
    info = ClusterInfo(rest_port, rpc_port, blob_port, str(workdir / "flink"), metrics_port=metrics_port)
    home = pyflink_home()
    lib = Path(info.root) / "lib"
    for d in (info.conf_dir, lib, info.log_dir, info.pid_dir, Path(info.root) / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    for old in lib.iterdir():
        old.unlink()
    for jar in [*sorted((home / "lib").glob("*.jar")), *sorted((home / "opt").glob("flink-python-*.jar"))]:
        (lib / jar.name).symlink_to(jar)
    for props in (home / "conf").glob("log4j*.properties"):
        (info.conf_dir / props.name).write_bytes(props.read_bytes())
    config = {
        "env.java.opts.all": _java_opts(),
        "jobmanager.bind-host": "127.0.0.1",
        "jobmanager.rpc.address": "127.0.0.1",
        "jobmanager.rpc.port": rpc_port,
        "jobmanager.memory.process.size": "768m",
        "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.host": "127.0.0.1",
        "taskmanager.numberOfTaskSlots": slots,
        "taskmanager.memory.process.size": taskmanager_memory,
        "parallelism.default": 1,
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": rest_port,
        "blob.server.port": str(blob_port),
        "heartbeat.timeout": 20000,
        # `status --metrics` on the local cluster: task metrics at most 2 s old (Flink's default is 10 s)
        "metrics.fetcher.update-interval": 2000,
        "io.tmp.dirs": str(Path(info.root) / "tmp"),
        "execution.checkpointing.dir": (workdir / "checkpoints").as_uri(),
        "execution.checkpointing.savepoint-dir": (workdir / "savepoints").as_uri(),
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
    }
    if metrics_port:
        # Flink's own Prometheus reporter (the metrics-prometheus plugin ships in the distribution's
        # plugins/ folder): records in/out per operator, checkpoints, backpressure, per process.
        config["metrics.reporter.prom.factory.class"] = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
        config["metrics.reporter.prom.port"] = f"{metrics_port}-{metrics_port + METRICS_PORTS - 1}"
    (info.conf_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True, width=100000))
    (info.conf_dir / "masters").write_text(f"127.0.0.1:{rest_port}\n")
    (info.conf_dir / "workers").write_text("127.0.0.1\n")
    return info


def _script(info: ClusterInfo, name: str, *args: str, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    """Run bin/<name> in its own process group; on timeout the whole group (the daemons it was
    still starting included) is killed and the error names the log dir."""
    script = pyflink_home() / "bin" / name
    proc = subprocess.Popen(["bash", str(script), *args], env=flink_env(info), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise UsageError(f"bin/{name} did not finish within {timeout:.0f}s (is the machine overloaded?); "
                         f"logs: {info.log_dir}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _pids(info: ClusterInfo, daemon: str) -> list[int]:
    path = info.pid_dir / f"flink-{IDENT}-{daemon}.pid"
    try:
        return [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


def wait_for_slots(info: ClusterInfo, timeout: float = 120.0, slots: int = 1) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ov = cluster_overview(info.rest_url)
        if ov and ov.get("slots-available", 0) >= slots:
            return ov
        jm = _pids(info, "standalonesession")
        if not jm or not procs.alive(jm[-1]):
            break
        time.sleep(0.5)
    logs = sorted(info.log_dir.glob("*.log"))
    tail = procs.log_tail(logs[0], 3) if logs else "no log"
    raise UsageError(f"the Flink cluster did not offer task slots within {timeout:.0f}s ({tail}); logs: {info.log_dir}")


def start_cluster(workdir: Path, rest_port: int, rpc_port: int | None = None, blob_port: int | None = None,
                  taskmanager_memory: str = "1280m", slots: int = 2, timeout: float = 120.0) -> ClusterInfo:
    for port, what in ((rest_port, "Flink REST"), (rpc_port, "Flink RPC"), (blob_port, "Flink blob")):
        if port and not procs.port_free(port):
            raise UsageError(f"port 127.0.0.1:{port} is already in use: pick another {what} port or free it")
    info = write_config(workdir, rest_port, rpc_port or procs.free_port(), blob_port or procs.free_port(),
                        taskmanager_memory, slots, metrics_port=procs.free_port())
    try:
        proc = _script(info, "start-cluster.sh")
        if proc.returncode != 0:
            raise UsageError(f"bin/start-cluster.sh failed: {(proc.stderr.strip() or proc.stdout.strip())[-300:]}")
        wait_for_slots(info, timeout)
    except UsageError:
        stop_cluster(refresh_pids(info))
        raise
    return refresh_pids(info)


def refresh_pids(info: ClusterInfo) -> ClusterInfo:
    """The info with the JobManager/TaskManager pids currently in the pid files."""
    jm = _pids(info, "standalonesession")
    jm_pid = jm[-1] if jm else 0
    tms = tuple((p, procs.start_time(p) or 0) for p in _pids(info, "taskexecutor") if procs.alive(p))
    return ClusterInfo(info.rest_port, info.rpc_port, info.blob_port, info.root, jm_pid,
                       procs.start_time(jm_pid) or 0 if jm_pid else 0, tms, info.metrics_port)


def stop_cluster(info: ClusterInfo, timeout: float = 30.0) -> None:
    """Stop our JobManager and TaskManagers: SIGTERM to every pid recorded in the state or in our
    own pid dir, all at once, then SIGKILL what is left after `timeout`.

    This is what bin/stop-cluster.sh does (flink-daemon.sh stop = `kill <pid from the pid file>`),
    without the ~15 s its config parsing JVMs take.
    """
    targets: dict[int, int | None] = {}
    for daemon in ("taskexecutor", "standalonesession"):
        for pid in _pids(info, daemon):
            targets.setdefault(pid, None)
    for pid, started in info.taskmanager_pids:
        targets[pid] = started or None
    if info.jobmanager_pid:
        targets[info.jobmanager_pid] = info.jobmanager_start or None
    alive = {pid: started for pid, started in targets.items() if procs.alive(pid, started)}
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid, started in alive.items():
        if not procs.wait_gone(pid, started, max(0.0, deadline - time.monotonic())):
            procs.kill(pid, started)
    for daemon in ("standalonesession", "taskexecutor"):
        (info.pid_dir / f"flink-{IDENT}-{daemon}.pid").unlink(missing_ok=True)


def kill_taskmanager(info: ClusterInfo) -> int | None:
    """SIGKILL the (last started) TaskManager, as a crash would; returns its pid."""
    pids = [p for p in _pids(info, "taskexecutor") if procs.alive(p)]
    if not pids:
        return None
    pid = pids[-1]
    procs.kill(pid)
    path = info.pid_dir / f"flink-{IDENT}-taskexecutor.pid"
    rest = [p for p in _pids(info, "taskexecutor") if p != pid]
    if rest:
        path.write_text("".join(f"{p}\n" for p in rest))
    else:
        path.unlink(missing_ok=True)
    return pid


def registered_taskmanagers(rest_url: str) -> set[str]:
    """The ids of the TaskManagers the JobManager lists (GET /taskmanagers); empty when it does not answer."""
    answer = jobmanager_get(rest_url, "/taskmanagers") or {}
    return {tm["id"] for tm in answer.get("taskmanagers", [])}


def _wait_while(busy: Callable[[], object], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while busy():
        if time.monotonic() > deadline:
            raise UsageError(failure)
        time.sleep(0.5)


def start_taskmanager(info: ClusterInfo, wait: bool = True, timeout: float = 120.0) -> ClusterInfo:
    """Start one more TaskManager (e.g. after kill_taskmanager); with `wait`, until it has
    registered. Free slots alone are no sign: a killed TaskManager's slots stay listed until its
    heartbeat times out."""
    before = registered_taskmanagers(info.rest_url)
    proc = _script(info, "taskmanager.sh", "start")
    if proc.returncode != 0:
        raise UsageError(f"bin/taskmanager.sh start failed: {proc.stderr.strip()[-300:]}")
    if wait:
        _wait_while(lambda: not registered_taskmanagers(info.rest_url) - before, timeout,
                    f"the new TaskManager did not register within {timeout:.0f}s; logs: {info.log_dir}")
        wait_for_slots(info)
    return refresh_pids(info)


def wait_until_taskmanagers_gone(info: ClusterInfo, gone: set[str], timeout: float = 90.0) -> None:
    """Wait until the JobManager no longer lists the TaskManagers `gone` (ids of killed ones): it
    keeps a dead one's slots until its heartbeat times out, and a job placed on them fails."""
    _wait_while(lambda: registered_taskmanagers(info.rest_url) & gone, timeout,
                f"the Flink JobManager still lists a TaskManager that is gone after {timeout:.0f}s; "
                f"logs: {info.log_dir}")


def taskmanager_running(info: ClusterInfo) -> bool:
    return any(procs.alive(p) for p in _pids(info, "taskexecutor"))


def cluster_alive(info: ClusterInfo) -> bool:
    return procs.alive(info.jobmanager_pid, info.jobmanager_start or None)

