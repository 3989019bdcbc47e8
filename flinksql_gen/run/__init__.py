"""Running bundles: a PyFlink TableEnvironment factory and the pipeline runner."""

from __future__ import annotations

from flinksql_gen.run.errors import RunError
from flinksql_gen.run.runner import RunResult, cancel_job, job_status, run_pipeline
from flinksql_gen.run.table_env import open_table_env

__all__ = ["RunError", "RunResult", "cancel_job", "job_status", "open_table_env", "run_pipeline"]
