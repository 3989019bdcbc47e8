"""Deployment targets (like dbt profiles): where a bundle runs and how it connects.

`targets.yaml` (next to the pipelines folder, or given with --targets) maps a target name to
one of the typed sections below; secrets are written as `${env:NAME}` and stay references
in every rendered file. Without a file, the built-in defaults below apply.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from flinksql_gen.models.common import Duration
from flinksql_gen.render.quoting import has_control_character


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
    bootstrap_servers: Text = "${env:FLINKSQL_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
    # Extra client properties, e.g. {"security.protocol": "SASL_SSL"}; values may be ${env:...}.
    properties: dict[Key, Text] = Field(default_factory=dict)


class PostgresConnection(_Strict):
    url: Text = "${env:FLINKSQL_JDBC_URL:-jdbc:postgresql://127.0.0.1:5432/postgres}"
    username: Text = "${env:FLINKSQL_JDBC_USER:-postgres}"
    password: Text = "${env:FLINKSQL_JDBC_PASSWORD:-}"


class Checkpointing(_Strict):
    interval: Duration = Field(default="10s", description="checkpoint interval")
    mode: Literal["exactly_once", "at_least_once"] = "exactly_once"
    timeout: Duration = "2min"
    min_pause: Duration = "0s"
    retention: Literal["retain_on_cancellation", "delete_on_cancellation"] = "retain_on_cancellation"
    directory: Text | None = Field(default=None, description="checkpoint storage URI, e.g. file:///tmp/ck")


class RestartStrategy(_Strict):
    type: Literal["fixed-delay", "exponential-delay", "none"] = "fixed-delay"
    attempts: int = Field(default=10, ge=1)
    delay: Duration = "5s"


class _TargetBase(_Strict):
    kafka: KafkaConnection = Field(default_factory=KafkaConnection)
    postgres: PostgresConnection = Field(default_factory=PostgresConnection)
    checkpointing: Checkpointing = Field(default_factory=Checkpointing)
    restart: RestartStrategy = Field(default_factory=RestartStrategy)
    parallelism: int = Field(default=1, ge=1)
    # Any further Flink configuration, rendered as SET statements.
    settings: dict[Key, Text] = Field(default_factory=dict)


class LocalTarget(_TargetBase):
    type: Literal["local"] = "local"


class ClusterTarget(_TargetBase):
    type: Literal["cluster"] = "cluster"
    jobmanager: Text = "${env:FLINKSQL_JOBMANAGER:-http://127.0.0.1:8081}"


class GatewayTarget(_TargetBase):
    type: Literal["gateway"] = "gateway"
    url: Text = "${env:FLINKSQL_GATEWAY:-http://127.0.0.1:8083}"
    jobmanager: Text | None = None


class AivenIntegrations(_Strict):
    """Integration ids (or service names to look up) for each connection kind."""

    kafka: Text = ""
    postgres: Text = ""
    slack: Text = ""


class AivenTarget(_TargetBase):
    type: Literal["aiven"] = "aiven"
    project: Text = "${env:AIVEN_PROJECT:-}"
    service: Text = "${env:AIVEN_FLINK_SERVICE:-}"
    api_url: Text = "${env:AIVEN_API_URL:-https://api.aiven.io}"
    token: Text = "${env:AIVEN_TOKEN:-}"
    integrations: AivenIntegrations = Field(default_factory=AivenIntegrations)


Target = Annotated[LocalTarget | ClusterTarget | GatewayTarget | AivenTarget, Field(discriminator="type")]

TARGET_TYPES = ("local", "cluster", "gateway", "aiven")


class TargetsFile(_Strict):
    targets: dict[Key, Target] = Field(default_factory=dict)


def default_target(name: str) -> LocalTarget | ClusterTarget | GatewayTarget | AivenTarget:
    """The built-in target of that name (used when targets.yaml does not define it)."""
    return {"local": LocalTarget, "cluster": ClusterTarget, "gateway": GatewayTarget, "aiven": AivenTarget}[name]()
