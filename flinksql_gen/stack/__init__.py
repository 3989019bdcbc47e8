"""The embedded local stack: Apache Kafka (KRaft), PostgreSQL and, on request, a Flink
standalone session cluster, all on 127.0.0.1 free ports under a project-local work dir.

Public entry points live in `manager` (up / status / down / stack_env).
"""

from __future__ import annotations

from flinksql_gen.stack.manager import down, require_state, stack_env, status, up
from flinksql_gen.stack.state import StackState, default_workdir, load_state

__all__ = ["StackState", "default_workdir", "down", "load_state", "require_state", "stack_env", "status", "up"]
