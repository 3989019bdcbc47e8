"""Session-scoped fixtures for the embedded stack (imported by tests/conftest.py).

Every PyFlink process costs ~1 GB and several seconds, and a session cluster ~2 GB and ~15 s:
share them. `stack` (Apache Kafka + PostgreSQL) starts on first use and stops at the end of the
session; `cluster` adds a Flink session cluster to it, only for the tests that ask for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

__all__ = ["cluster", "fresh_topics", "gateway", "stack", "stack_env_vars", "stack_workdir", "table_env_factory"]


@pytest.fixture(scope="session")
def stack_workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def stack(stack_workdir: Path) -> Iterator:
    """A running broker + PostgreSQL (StackState); torn down at the end of the session."""
    from flinksql_gen.stack import down, up

    state = up(stack_workdir)
    try:
        yield state
    finally:
        down(stack_workdir)


@pytest.fixture(scope="session")
def cluster(stack, stack_workdir: Path) -> Iterator:
    """The stack plus a Flink standalone session cluster (StackState with .cluster / .rest_url)."""
    from flinksql_gen.stack import down, up

    state = up(stack_workdir, cluster=True)
    try:
        yield state
    finally:
        down(stack_workdir, cluster_only=True)


@pytest.fixture(scope="session")
def gateway(cluster, stack_workdir: Path):
    """The cluster plus the real Flink SQL Gateway in front of it (.gateway_url); stopped with
    the cluster (`down(cluster_only=True)` stops the gateway first)."""
    from flinksql_gen.stack import up

    return up(stack_workdir, cluster=True, gateway=True)


@pytest.fixture(scope="session")
def stack_env_vars(stack) -> dict[str, str]:
    """The ${env:...} values that point a rendered bundle at the test stack."""
    from flinksql_gen.stack import stack_env

    return stack_env(stack)


@pytest.fixture(scope="session")
def table_env_factory(stack_workdir: Path) -> Callable:
    """`make(remote=None, mode="streaming")`: one shared TableEnvironment per (remote, mode)."""
    from flinksql_gen.runtime.jars import ensure_jars
    from flinksql_gen.runtime.table_env import open_table_env

    cache: dict[tuple[str | None, str], object] = {}

    def make(remote: str | None = None, mode: str = "streaming"):
        key = (remote, mode)
        if key not in cache:
            cache[key] = open_table_env(mode, jars=ensure_jars(stack_workdir), remote=remote,
                                        checkpoint_dir=stack_workdir / "checkpoints",
                                        log_dir=stack_workdir / "logs" / "flink")
        return cache[key]

    return make


def fresh_topics(state, *names: str, partitions: int = 1) -> list[str]:
    """Create topics with a unique suffix (the broker is shared by the session); returns their names."""
    from flinksql_gen.kafka.client import create_topics

    suffix = uuid.uuid4().hex[:8]
    topics = [f"{name}_{suffix}" for name in names]
    create_topics(topics, bootstrap=state.bootstrap, partitions=partitions)
    return topics
