"""The project's work dir: the local stack's state, jars, logs and checkpoints live under it."""

from __future__ import annotations

from pathlib import Path

DEFAULT_WORKDIR = ".flinksql"


def default_workdir() -> Path:
    """The built-in work dir, `.flinksql/` in the current directory (FLINKSQL_WORKDIR is read by
    flinksql_gen.machine and passed down by the CLI)."""
    return Path(DEFAULT_WORKDIR).resolve()
