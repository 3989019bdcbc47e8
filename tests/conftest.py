"""Shared fixtures. The stack fixtures (broker, PostgreSQL, cluster) live in stack_fixtures.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

try:  # the embedded-stack fixtures (session-scoped broker, PostgreSQL, cluster)
    from stack_fixtures import *  # noqa: F403
except ImportError as exc:  # pragma: no cover - only while the module is being written
    if "stack_fixtures" not in str(exc):
        raise

from aiven_fixtures import flink120, flink120_runtime  # noqa: F401  (the Flink 1.20 process)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def jar_workdir(tmp_path_factory) -> Path:
    """Where the connector jars are extracted for this test session (shared cache of the wheel)."""
    return Path(os.environ.get("FLINKSQL_TEST_WORKDIR") or tmp_path_factory.mktemp("flinksql"))


@pytest.fixture(scope="session")
def _shared_table_env(jar_workdir):
    from flinksql_gen.runtime.jars import ensure_jars
    from flinksql_gen.runtime.table_env import open_table_env

    return open_table_env(jars=ensure_jars(jar_workdir), log_dir=jar_workdir / "logs")


@pytest.fixture()
def table_env(_shared_table_env):
    """One local PyFlink TableEnvironment with the real connectors, shared by the whole session;
    its planner metadata is made valid for this test's thread first (run/table_env.py explains)."""
    from flinksql_gen.runtime.table_env import reset_planner_metadata

    reset_planner_metadata(_shared_table_env)
    return _shared_table_env
