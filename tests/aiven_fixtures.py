"""Session fixture for the Flink 1.20 runtime of the aiven target (imported by tests/conftest.py).

The runtime is installed once per machine (`flinksql-gen setup --aiven`, cached under
~/.cache/flinksql-gen): the tests install it when it is missing rather than skip, so CI runs
them. One 1.20 process (~1 GB, ~7 s to start) serves every test of the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["flink120", "flink120_runtime"]


@pytest.fixture(scope="session")
def flink120_runtime():
    from flinksql_gen.runtime.aiven import ensure_runtime

    return ensure_runtime("1.20")


@pytest.fixture(scope="session")
def flink120(flink120_runtime, tmp_path_factory) -> Iterator:
    """A FlinkProcess on Flink 1.20: plans bodies, and runs them on its mini-cluster (UTC, 2 s
    exactly-once checkpoints, as an Aiven deployment checkpoints on its own)."""
    from flinksql_gen.runtime.aiven.client import FlinkProcess

    folder: Path = tmp_path_factory.mktemp("flink120")
    config = {
        "parallelism.default": "1",
        "table.local-time-zone": "UTC",
        "execution.checkpointing.interval": "2s",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "state.checkpoints.dir": (folder / "checkpoints").as_uri(),
    }
    process = FlinkProcess(flink120_runtime, folder / "logs", config)
    try:
        yield process
    finally:
        process.close()
