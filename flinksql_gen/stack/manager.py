"""up / status / down of the local stack, and the environment that points a bundle at it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from flinksql_gen.errors import UsageError
from flinksql_gen.machine import DEFAULT, Machine
from flinksql_gen.runtime.jars import ensure_jars
from flinksql_gen.runtime.java import find_java
from flinksql_gen.runtime.table_env import cluster_overview
from flinksql_gen.stack import broker as broker_mod
from flinksql_gen.stack import flink_cluster, postgres, procs, sql_gateway
from flinksql_gen.stack.state import (
    StackState,
    ThresholdsInfo,
    default_workdir,
    load_state,
    save_state,
    state_path,
)
from flinksql_gen.stack.thresholds import folder_digest, load_thresholds

Step = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def broker_alive(state: StackState) -> bool:
    b = state.broker
    return bool(b) and procs.alive(b.pid, b.start_time or None)


def postgres_alive(state: StackState) -> bool:
    p = state.postgres
    return bool(p) and procs.alive(p.pid, p.start_time or None)


def cluster_alive(state: StackState) -> bool:
    return bool(state.cluster) and flink_cluster.cluster_alive(state.cluster)


def gateway_alive(state: StackState) -> bool:
    return sql_gateway.gateway_alive(state.gateway)


def _check_port(kind: str, wanted: int | None, running: int | None) -> None:
    if wanted and running and wanted != running:
        raise UsageError(f"{kind} is already running on port {running}: run `flinksql-gen down` to change its port")


# Over 60 lines: one try block covers every part, so a part that fails to start stops exactly
# the parts this call started; each part is a short, similar step in start order.
def up(workdir: Path | None = None, cluster: bool = False, thresholds_dir: Path | None = None,
       topics: Iterable[str] = (), *, kafka_port: int | None = None, pg_port: int | None = None,
       rest_port: int | None = None, taskmanager_memory: str = "1280m", download: bool = True,
       gateway: bool = False, gateway_port: int | None = None, on_step: Step = _noop,
       machine: Machine = DEFAULT) -> StackState:
    """Start broker + PostgreSQL (+ session cluster (+ SQL Gateway)), load thresholds, create topics.
    `machine`: the Maven mirror, download cache and PostgreSQL binaries to use (the CLI's environment).

    Idempotent: parts already running are kept; only what is missing starts. If a part fails
    to start, the parts this call started are stopped again and the error says why.
    """
    workdir = Path(workdir or default_workdir()).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    java = find_java()
    repository, cache = machine.maven_repository, machine.cache
    jars = ensure_jars(workdir, download=download, repository=repository, cache=cache)
    state = load_state(workdir) or StackState(workdir=str(workdir))
    state = replace(state, workdir=str(workdir), java_home=str(java.home), jars=tuple(map(str, jars)))
    started: list[str] = []
    try:
        if broker_alive(state):
            _check_port("the broker", kafka_port, state.broker.port if state.broker else None)
        else:
            port = kafka_port or procs.free_port()
            on_step(f"starting Apache Kafka {broker_mod.KAFKA_VERSION} (KRaft) on 127.0.0.1:{port}")
            state = replace(state, broker=broker_mod.start_broker(workdir, port, download=download,
                                                                           repository=repository, cache=cache), topics=())
            started.append("broker")
            save_state(state)
        if postgres_alive(state):
            _check_port("PostgreSQL", pg_port, state.postgres.port if state.postgres else None)
        else:
            if state.postgres:
                postgres.stop_postgres(state.postgres)
            port = pg_port or procs.free_port()
            on_step(f"starting PostgreSQL on 127.0.0.1:{port}")
            state = replace(state, postgres=postgres.start_postgres(workdir, port, machine.pg_bin), thresholds=None)
            started.append("postgres")
            save_state(state)
        if cluster:
            if cluster_alive(state):
                _check_port("the Flink cluster", rest_port, state.cluster.rest_port if state.cluster else None)
            else:
                if state.gateway:  # it points at the cluster that is gone
                    sql_gateway.stop_gateway(state.gateway)
                    state = replace(state, gateway=None)
                if state.cluster:
                    flink_cluster.stop_cluster(state.cluster)
                port = rest_port or procs.free_port()
                on_step(f"starting the Flink session cluster (REST 127.0.0.1:{port}); this takes ~20 s")
                state = replace(state, cluster=flink_cluster.start_cluster(workdir, port,
                                                                             taskmanager_memory=taskmanager_memory))
                started.append("cluster")
                save_state(state)
        if gateway:
            if not cluster:
                raise UsageError("the SQL Gateway runs in front of the session cluster: use `up --cluster --gateway`")
            if gateway_alive(state):
                _check_port("the SQL Gateway", gateway_port, state.gateway.port if state.gateway else None)
            else:
                port = gateway_port or procs.free_port()
                on_step(f"starting the Flink SQL Gateway on 127.0.0.1:{port}")
                assert state.cluster is not None
                state = replace(state, gateway=sql_gateway.start_gateway(state.cluster, port, list(jars),
                                                                         download=download, repository=repository,
                                                                         cache=cache))
                started.append("gateway")
                save_state(state)
        if thresholds_dir is not None:
            state = _load_thresholds(state, Path(thresholds_dir), on_step)
        names = list(topics)
        if names:
            on_step(f"creating topics {', '.join(names)}")
            from flinksql_gen.kafka.client import create_topics

            created = create_topics(names, bootstrap=state.bootstrap)
            state = replace(state, topics=tuple(sorted({*state.topics, *created})))
        save_state(state)
        return state
    except BaseException:
        _stop_parts(state, started)
        if not (broker_alive(state) or postgres_alive(state) or cluster_alive(state)):
            state_path(workdir).unlink(missing_ok=True)
        else:
            save_state(_forget(state, started))
        raise


def _load_thresholds(state: StackState, folder: Path, on_step: Step) -> StackState:
    folder = folder.resolve()
    digest = folder_digest(folder) if folder.is_dir() else ""
    old = state.thresholds
    if old and old.folder == str(folder) and old.digest == digest:
        return state
    on_step(f"loading thresholds from {folder}")
    assert state.dsn is not None
    tables = load_thresholds(state.dsn, folder, replace=old.tables if old else ())
    state = replace(state, thresholds=ThresholdsInfo(str(folder), digest, tuple(tables)))
    save_state(state)
    return state


def _stop_parts(state: StackState, parts: Iterable[str]) -> None:
    parts = set(parts)
    if "gateway" in parts and state.gateway:
        with contextlib.suppress(Exception):
            sql_gateway.stop_gateway(state.gateway)
    if "cluster" in parts and state.cluster:
        with contextlib.suppress(Exception):
            flink_cluster.stop_cluster(state.cluster)
    if "postgres" in parts and state.postgres:
        with contextlib.suppress(Exception):
            postgres.stop_postgres(state.postgres)
    if "broker" in parts and state.broker:
        with contextlib.suppress(Exception):
            broker_mod.stop_broker(state.broker)


def _forget(state: StackState, parts: Iterable[str]) -> StackState:
    parts = set(parts)
    return replace(
        state,
        broker=None if "broker" in parts else state.broker,
        postgres=None if "postgres" in parts else state.postgres,
        cluster=None if "cluster" in parts else state.cluster,
        gateway=None if "gateway" in parts or "cluster" in parts else state.gateway,
        thresholds=None if "postgres" in parts else state.thresholds,
    )


def down(workdir: Path | None = None, cluster_only: bool = False) -> list[str]:
    """Stop exactly what `up` started (by recorded pid), remove its data; returns what was stopped."""
    workdir = Path(workdir or default_workdir()).resolve()
    state = load_state(workdir)
    if state is None:
        return []
    stopped: list[str] = []
    if state.gateway:
        sql_gateway.stop_gateway(state.gateway)
        stopped.append("sql gateway")
    if state.cluster:
        flink_cluster.stop_cluster(state.cluster)
        stopped.append("flink cluster")
    if cluster_only:
        save_state(replace(state, cluster=None, gateway=None))
        return stopped
    if state.postgres:
        postgres.stop_postgres(state.postgres)
        stopped.append("postgres")
    if state.broker:
        broker_mod.stop_broker(state.broker)
        stopped.append("broker")
    state_path(workdir).unlink(missing_ok=True)
    return stopped


def status(workdir: Path | None = None) -> dict | None:
    """What runs, where; None when the stack was never started (or is down)."""
    workdir = Path(workdir or default_workdir()).resolve()
    state = load_state(workdir)
    if state is None:
        return None
    out: dict = {"workdir": str(workdir), "java_home": state.java_home, "topics": list(state.topics)}
    if state.broker:
        out["broker"] = {"running": broker_alive(state), "pid": state.broker.pid,
                         "kafka_version": state.broker.version,
                         "bootstrap": state.broker.bootstrap, "log": state.broker.log}
    if state.postgres:
        out["postgres"] = {"running": postgres_alive(state), "pid": state.postgres.pid,
                           "jdbc_url": state.postgres.jdbc_url, "dsn": state.postgres.dsn,
                           "log": state.postgres.log}
    if state.cluster:
        ov = cluster_overview(state.cluster.rest_url) if cluster_alive(state) else None
        out["cluster"] = {"running": ov is not None, "pid": state.cluster.jobmanager_pid,
                          "rest_url": state.cluster.rest_url,
                          "slots_available": (ov or {}).get("slots-available"),
                          "slots_total": (ov or {}).get("slots-total"),
                          "jobs_running": (ov or {}).get("jobs-running"),
                          "logs": str(state.cluster.log_dir)}
    if state.gateway:
        out["gateway"] = {"running": gateway_alive(state), "pid": state.gateway.pid, "url": state.gateway.url,
                          "log": state.gateway.log}
    if state.thresholds:
        out["thresholds"] = {"folder": state.thresholds.folder, "tables": list(state.thresholds.tables)}
    return out


def require_state(workdir: Path | None = None, cluster: bool = False) -> StackState:
    """The running stack's state, or a UsageError saying how to start it."""
    state = load_state(Path(workdir or default_workdir()).resolve())
    if state is None or not broker_alive(state) or not postgres_alive(state):
        raise UsageError("the local stack is not running: start it with `flinksql-gen up`")
    if cluster and not cluster_alive(state):
        raise UsageError("no Flink session cluster is running: start it with `flinksql-gen up --cluster`")
    return state


def stack_env(state: StackState) -> dict[str, str]:
    """The ${env:...} values (see models/targets.py) that point a rendered bundle at this stack."""
    env: dict[str, str] = {}
    if state.broker:
        env["FLINKSQL_KAFKA_BOOTSTRAP"] = state.broker.bootstrap
    if state.postgres:
        env["FLINKSQL_JDBC_URL"] = state.postgres.jdbc_url
        env["FLINKSQL_JDBC_USER"] = postgres.USER
        env["FLINKSQL_JDBC_PASSWORD"] = postgres.PASSWORD
    if state.cluster:
        env["FLINKSQL_JOBMANAGER"] = state.cluster.rest_url
    if state.gateway:
        env["FLINKSQL_GATEWAY"] = state.gateway.url
    return env
