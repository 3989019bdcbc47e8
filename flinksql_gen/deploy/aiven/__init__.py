"""`flinksql-gen deploy aiven`: run a bundle's pipelines as Aiven for Apache Flink applications.

Per pipeline, each INSERT is one application `<pipeline>-<insert>` (see deploy.aiven_bodies).
The flow: refuse UDFs before any HTTP call (`plan`); resolve integration ids (`integrations`);
validate every version with Aiven and map its errors to the YAML that produced the statement
(`validation`); then per application (`rollout`): find or create it, create the version, stop
a RUNNING deployment with a savepoint, deploy the new version from that savepoint and wait until
it runs. `settings` resolves project, service and token; `target` ties the steps together.
"""

from flinksql_gen.deploy.aiven.plan import AivenPlan
from flinksql_gen.deploy.aiven.rollout import AppResult
from flinksql_gen.deploy.aiven.status import format_status
from flinksql_gen.deploy.aiven.target import AivenDeployTarget

__all__ = ["AivenDeployTarget", "AivenPlan", "AppResult", "format_status"]
