"""Submitting pipelines to Flink clusters and controlling their jobs by name.

Targets register themselves by name ('gateway', 'jobmanager'; others such as 'aiven' plug in
with `register`). `get_target(name, **options)` builds one.
"""

from __future__ import annotations

from flinksql_gen.deploy import gateway as _gateway  # noqa: F401  (registers 'gateway')
from flinksql_gen.deploy import jobmanager as _jobmanager  # noqa: F401  (registers 'jobmanager')
from flinksql_gen.deploy.base import (
    DeployError,
    DeployTarget,
    JobInfo,
    SubmitResult,
    get_target,
    register,
    target_names,
)

__all__ = ["DeployError", "DeployTarget", "JobInfo", "SubmitResult", "get_target", "register", "target_names"]
