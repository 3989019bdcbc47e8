"""This machine's settings from FLINKSQL_* environment variables, read in one place.

The CLI builds one `Machine` in its group callback (with the Project) and passes each value down;
library functions take them as parameters, where None means the built-in default, never the
environment (tests/test_env_reads.py keeps it so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# name of each setting -> the environment variable that sets it (docs and README name these)
ENVIRONMENT = {
    "workdir": "FLINKSQL_WORKDIR",  # the local stack's folder (default ./.flinksql)
    "maven_repository": "FLINKSQL_GEN_MAVEN_REPO",  # Maven mirror (default Maven Central)
    "cache": "FLINKSQL_GEN_CACHE",  # download cache (default ~/.cache/flinksql-gen)
    "pg_bin": "FLINKSQL_PG_BIN",  # folder with initdb and pg_ctl (default: searched)
    "udf_python": "FLINKSQL_PYTHON_EXECUTABLE",  # python.executable for UDFs through the SQL Gateway
    "aiven_python": "FLINKSQL_GEN_AIVEN_PYTHON",  # interpreter the Aiven runtime's venv is built from
}


@dataclass(frozen=True)
class Machine:
    """Where things are on this machine; None: the built-in default."""

    workdir: Path | None = None
    maven_repository: str | None = None
    cache: Path | None = None
    pg_bin: Path | None = None
    udf_python: str | None = None
    aiven_python: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Machine:
        """The settings the environment gives (an empty variable counts as unset, as before)."""
        given = {name: environ.get(var) or None for name, var in ENVIRONMENT.items()}
        paths = ("workdir", "cache", "pg_bin")
        return cls(**{name: Path(v) if v is not None and name in paths else v for name, v in given.items()})

    def stack_workdir(self, given: Path | None = None) -> Path:
        """An explicit --workdir, else FLINKSQL_WORKDIR, else ./.flinksql; absolute."""
        from flinksql_gen.workdir import default_workdir

        return Path(given).resolve() if given else (self.workdir or default_workdir()).resolve()


DEFAULT = Machine()
