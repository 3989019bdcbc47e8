"""Deployment targets (like dbt profiles): where a bundle runs and how it connects.

`targets.yaml` (next to the pipelines folder, or given with --targets) maps a target name to
one of the typed sections below; secrets are written as `${env:NAME}` and stay references
in every rendered file. Without a file, the built-in defaults below apply.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from flinksql_gen.models.common import Duration
from flinksql_gen.sql.quoting import has_control_character


def _no_control_characters(value: str) -> str:
    if has_control_character(value):
        raise ValueError("control characters (such as newlines or tabs) are not allowed in this setting")
    return value


# Every text of a target ends up in a connector option, a SET statement or a URL.
Text = Annotated[str, AfterValidator(_no_control_characters)]
Key = Annotated[str, Field(min_length=1), AfterValidator(_no_control_characters)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaConnection(_Strict):
    """How Flink's Kafka connectors reach the broker (every source and Kafka sink of the target)."""

    bootstrap_servers: Text = Field(default="${env:FLINKSQL_KAFKA_BOOTSTRAP:-127.0.0.1:9092}",
                                    description="Kafka bootstrap servers, host:port[,host:port]")  # fmt: skip
    # Extra client properties, e.g. {"security.protocol": "SASL_SSL"}; values may be ${env:...}.
    properties: dict[Key, Text] = Field(
        default_factory=dict,
        description="extra Kafka client properties (e.g. security.protocol: SASL_SSL); values may be ${env:NAME}",
    )


class PostgresConnection(_Strict):
    """The PostgreSQL database of lookups (thresholds) and JDBC sinks."""

    url: Text = Field(default="${env:FLINKSQL_JDBC_URL:-jdbc:postgresql://127.0.0.1:5432/postgres}",
                      description="JDBC URL of the database")  # fmt: skip
    username: Text = Field(default="${env:FLINKSQL_JDBC_USER:-postgres}", description="database user")
    password: Text = Field(default="${env:FLINKSQL_JDBC_PASSWORD:-}",
                           description="database password: an ${env:NAME} reference, resolved when the job starts")  # fmt: skip


class Checkpointing(_Strict):
    """Flink checkpointing: how often state is snapshotted, and how."""

    interval: Duration = Field(default="10s", description="checkpoint interval")
    mode: Literal["exactly_once", "at_least_once"] = Field(default="exactly_once", description="checkpointing mode")
    timeout: Duration = Field(default="2min", description="a checkpoint that takes longer is aborted")
    min_pause: Duration = Field(default="0s", description="least time between the end of one checkpoint and the next")
    retention: Literal["retain_on_cancellation", "delete_on_cancellation"] = Field(
        default="retain_on_cancellation", description="keep the last checkpoint when the job is cancelled, or not"
    )
    directory: Text | None = Field(default=None, description="checkpoint storage URI, e.g. file:///tmp/ck")


class RestartStrategy(_Strict):
    """What Flink does when a job fails."""

    type: Literal["fixed-delay", "exponential-delay", "none"] = Field(default="fixed-delay",
                                                                      description="Flink restart strategy")  # fmt: skip
    attempts: int = Field(default=10, ge=1, description="restarts before the job fails for good (fixed-delay)")
    delay: Duration = Field(default="5s", description="wait between restarts (the first one, for exponential-delay)")


class _TargetBase(_Strict):
    kafka: KafkaConnection = Field(default_factory=KafkaConnection, description="the Kafka connection")
    postgres: PostgresConnection = Field(default_factory=PostgresConnection,
                                         description="the PostgreSQL connection (lookups, JDBC sinks)")  # fmt: skip
    checkpointing: Checkpointing = Field(default_factory=Checkpointing, description="checkpoint settings")
    restart: RestartStrategy = Field(default_factory=RestartStrategy, description="restart strategy")
    parallelism: int = Field(default=1, ge=1, description="default parallelism of every job")
    # Any further Flink configuration, rendered as SET statements.
    settings: dict[Key, Text] = Field(default_factory=dict,
                                      description="any further Flink configuration, rendered as SET statements")  # fmt: skip


class LocalTarget(_TargetBase):
    """In-process Flink (PyFlink's mini-cluster) against the local stack: `flinksql-gen run`."""

    type: Literal["local"] = Field(default="local", description="target type")


class PythonEnvironment(_Strict):
    """Python on the cluster, for pipelines with Python UDFs (others get none of these settings)."""

    executable: Text | None = Field(
        default=None,
        description="python with apache-flink and flinksql-gen installed on the cluster's machines; rendered as "
        "SET python.executable and python.client.executable (unset: the cluster's own configuration applies)",
    )
    files: list[Text] = Field(
        default_factory=list,
        description="files or folders shipped to the Python workers (SET python.files), e.g. a copy of the "
        "flinksql_gen package where the cluster's python lacks it",
    )


class ClusterTarget(_TargetBase):
    """A Flink session cluster, reached through its JobManager REST API: `flinksql-gen submit`."""

    type: Literal["cluster"] = Field(default="cluster", description="target type")
    jobmanager: Text = Field(default="${env:FLINKSQL_JOBMANAGER:-http://127.0.0.1:8081}",
                             description="JobManager REST address")  # fmt: skip
    python: PythonEnvironment = Field(default_factory=PythonEnvironment,
                                      description="Python on the cluster, for pipelines with Python UDFs")  # fmt: skip


class GatewayTarget(_TargetBase):
    """A Flink SQL Gateway (REST): `flinksql-gen submit -t gateway`."""

    type: Literal["gateway"] = Field(default="gateway", description="target type")
    url: Text = Field(default="${env:FLINKSQL_GATEWAY:-http://127.0.0.1:8083}", description="SQL Gateway REST address")
    jobmanager: Text | None = Field(default=None,
                                    description="JobManager REST address, for stop/cancel and job states")  # fmt: skip
    python: PythonEnvironment = Field(default_factory=PythonEnvironment,
                                      description="Python on the cluster, for pipelines with Python UDFs")  # fmt: skip


class AivenIntegrations(_Strict):
    """Integration ids (or service names to look up) for each connection kind."""

    kafka: Text = Field(default="", description="Kafka integration id, or the Kafka service's name")
    postgres: Text = Field(default="", description="PostgreSQL integration id, or the PostgreSQL service's name")
    slack: Text = Field(default="", description="Slack integration id (for slack sinks)")


class AivenTarget(_TargetBase):
    """Aiven for Apache Flink: one application per INSERT, no UDFs (`flinksql-gen deploy aiven`)."""

    type: Literal["aiven"] = Field(default="aiven", description="target type")
    project: Text = Field(default="${env:AIVEN_PROJECT:-}", description="Aiven project")
    service: Text = Field(default="${env:AIVEN_FLINK_SERVICE:-}", description="the Aiven for Apache Flink service")
    api_url: Text = Field(default="${env:AIVEN_API_URL:-https://api.aiven.io}", description="Aiven API address")
    token: Text = Field(default="${env:AIVEN_TOKEN:-}", description="Aiven API token: an ${env:NAME} reference")
    integrations: AivenIntegrations = Field(default_factory=AivenIntegrations,
                                            description="the service's integrations with Kafka, PostgreSQL, Slack")  # fmt: skip
    # Only versions flinksql-gen has a runtime for (flinksql_gen/runtime/aiven/versions.py).
    flink_version: Literal["1.20"] = Field(default="1.20",
                                           description="the service's Flink version (Aiven offers 1.20); "
                                                       "`check --target aiven` plans on it")  # fmt: skip


Target = Annotated[LocalTarget | ClusterTarget | GatewayTarget | AivenTarget, Field(discriminator="type")]

TARGET_TYPES = ("local", "cluster", "gateway", "aiven")


class TargetsFile(_Strict):
    """targets.yaml: named deployment targets (like dbt profiles); its folder is the project."""

    targets: dict[Key, Target] = Field(default_factory=dict, description="target name -> its settings")


def default_target(name: str) -> LocalTarget | ClusterTarget | GatewayTarget | AivenTarget:
    """The built-in target of that name (used when targets.yaml does not define it)."""
    return {"local": LocalTarget, "cluster": ClusterTarget, "gateway": GatewayTarget, "aiven": AivenTarget}[name]()
