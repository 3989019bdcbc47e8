"""<workdir>/state.json: what `up` started (pids with start times, ports, URLs), read by
`status`, `down`, `run` and `produce`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flinksql_gen.stack.broker import BrokerInfo
from flinksql_gen.stack.flink_cluster import ClusterInfo
from flinksql_gen.stack.postgres import PostgresInfo
from flinksql_gen.stack.sql_gateway import GatewayInfo
from flinksql_gen.workdir import default_workdir

STATE_FILE = "state.json"


@dataclass(frozen=True)
class ThresholdsInfo:
    folder: str
    digest: str
    tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackState:
    workdir: str
    broker: BrokerInfo | None = None
    postgres: PostgresInfo | None = None
    cluster: ClusterInfo | None = None
    gateway: GatewayInfo | None = None
    thresholds: ThresholdsInfo | None = None
    topics: tuple[str, ...] = ()
    jars: tuple[str, ...] = ()
    java_home: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str | None:
        return self.broker.bootstrap if self.broker else None

    @property
    def jdbc_url(self) -> str | None:
        return self.postgres.jdbc_url if self.postgres else None

    @property
    def dsn(self) -> str | None:
        return self.postgres.dsn if self.postgres else None

    @property
    def rest_url(self) -> str | None:
        return self.cluster.rest_url if self.cluster else None

    @property
    def gateway_url(self) -> str | None:
        return self.gateway.url if self.gateway else None

    def to_json(self) -> dict:
        data = asdict(self)
        # derived values, for people and scripts reading state.json
        data["bootstrap"] = self.bootstrap
        data["jdbc_url"] = self.jdbc_url
        data["dsn"] = self.dsn
        data["rest_url"] = self.rest_url
        data["gateway_url"] = self.gateway_url
        data["metrics_urls"] = self.cluster.metrics_urls if self.cluster else []
        return data

    @classmethod
    def from_json(cls, data: dict) -> StackState:
        def opt(kind, value):
            return kind(**value) if value else None

        cluster = data.get("cluster")
        if cluster:
            cluster = {**cluster, "taskmanager_pids": tuple(tuple(p) for p in cluster.get("taskmanager_pids", ()))}
        thresholds = data.get("thresholds")
        if thresholds:
            thresholds = {**thresholds, "tables": tuple(thresholds.get("tables", ()))}
        return cls(
            workdir=data["workdir"],
            broker=opt(BrokerInfo, data.get("broker")),
            postgres=opt(PostgresInfo, data.get("postgres")),
            cluster=opt(ClusterInfo, cluster),
            gateway=opt(GatewayInfo, data.get("gateway")),
            thresholds=opt(ThresholdsInfo, thresholds),
            topics=tuple(data.get("topics", ())),
            jars=tuple(data.get("jars", ())),
            java_home=data.get("java_home", ""),
            extra=dict(data.get("extra", {})),
        )


def state_path(workdir: Path) -> Path:
    return Path(workdir) / STATE_FILE


def load_state(workdir: Path | None = None) -> StackState | None:
    path = state_path(workdir or default_workdir())
    try:
        return StackState.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        return None


def save_state(state: StackState) -> Path:
    path = state_path(Path(state.workdir))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
