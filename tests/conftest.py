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

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def jar_workdir(tmp_path_factory) -> Path:
    """Where the connector jars are extracted for this test session (shared cache of the wheel)."""
    return Path(os.environ.get("FLINKSQL_TEST_WORKDIR") or tmp_path_factory.mktemp("flinksql"))


@pytest.fixture(scope="session")
def table_env(jar_workdir):
    """One local PyFlink TableEnvironment with the real connectors, shared by the whole session."""
    from flinksql_gen.run.table_env import open_table_env
    from flinksql_gen.stack.jars import ensure_jars

    return open_table_env(jars=ensure_jars(jar_workdir), log_dir=jar_workdir / "logs")
