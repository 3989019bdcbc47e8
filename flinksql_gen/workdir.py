"""The project's work dir: the local stack's state, jars, logs and checkpoints live under it."""

from __future__ import annotations

import os
from pathlib import Path


def default_workdir() -> Path:
    """FLINKSQL_WORKDIR, else `.flinksql/` in the current directory."""
    return Path(os.environ.get("FLINKSQL_WORKDIR") or ".flinksql").resolve()
