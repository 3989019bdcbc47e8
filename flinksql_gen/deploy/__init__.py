"""Submitting pipelines to Flink clusters and controlling their jobs by name.

The built-in targets are registered here, by name ('gateway', 'jobmanager', 'aiven'); others plug
in with `register`. `get_target(name, **options)` builds one.
"""

from __future__ import annotations

from flinksql_gen.deploy.base import (
    DeployError,
    DeployTarget,
    JobInfo,
    SubmitResult,
    get_target,
    register,
    target_names,
)
from flinksql_gen.deploy.gateway import GatewayDeployTarget
from flinksql_gen.deploy.jobmanager import JobManagerTarget


def _aiven(**options: object) -> DeployTarget:
    # Imported when first used: the Aiven client library is only needed to deploy there.
    from flinksql_gen.deploy.aiven import AivenDeployTarget

    return AivenDeployTarget(**options)  # type: ignore[arg-type]


register("gateway", GatewayDeployTarget)
register("jobmanager", JobManagerTarget)
register("aiven", _aiven)

__all__ = ["DeployError", "DeployTarget", "JobInfo", "SubmitResult", "get_target", "register", "target_names"]
