"""`flinksql-gen setup --aiven`: an isolated virtualenv with the target's PyFlink, plus its jars.

Layout: <cache>/flink-<pyflink version>/venv (apache-flink from PyPI, ~0.6 GB) and the
connector jars in the shared Maven cache (<cache>/maven), each checked against its published
digest. A `.installed` marker is written only after the new interpreter imported pyflink, so an
interrupted setup is redone, not trusted. A file lock keeps two setups from racing.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen.errors import UsageError
from flinksql_gen.runtime import maven
from flinksql_gen.runtime.aiven.versions import FLINK_VERSIONS, FlinkVersion


@dataclass(frozen=True)
class Runtime:
    version: FlinkVersion
    python: Path  # the isolated venv's interpreter
    jars: tuple[Path, ...]  # connector jars, shipped with pipeline.jars


def _flink_version(name: str) -> FlinkVersion:
    try:
        return FLINK_VERSIONS[name]
    except KeyError:
        known = ", ".join(sorted(FLINK_VERSIONS))
        raise UsageError(f"no Flink {name} runtime is known to flinksql-gen (known: {known})") from None


def runtime_dir(version: FlinkVersion, cache: Path | None = None) -> Path:
    return (cache or maven.cache_dir()) / f"flink-{version.pyflink}"


def _venv_python(folder: Path) -> Path:
    return folder / "venv" / "bin" / "python"


def _installed(folder: Path, version: FlinkVersion) -> bool:
    marker = folder / ".installed"
    return marker.is_file() and marker.read_text().strip() == version.pyflink and _venv_python(folder).exists()


def find_runtime(name: str, cache: Path | None = None) -> Runtime:
    """The installed runtime of Flink `name`; a UsageError naming `setup --aiven` when it is missing."""
    version = _flink_version(name)
    folder = runtime_dir(version, cache)
    if not _installed(folder, version):
        raise UsageError(f"the Flink {name} runtime is not installed: run `flinksql-gen setup --aiven` "
                         f"(about 0.6 GB in {folder})")
    if not all(maven.is_cached(a, cache) for a in version.connectors):
        raise UsageError(f"the Flink {name} connector jars are missing from {(cache or maven.cache_dir()) / 'maven'}: "
                         "run `flinksql-gen setup --aiven`")
    return Runtime(version, _venv_python(folder), tuple(maven.cached_path(a, cache) for a in version.connectors))


def _base_python(chosen: str | None) -> str:
    """The interpreter to build the venv from (apache-flink 1.20: 3.8-3.11): `chosen` (the CLI's
    FLINKSQL_GEN_AIVEN_PYTHON), else this one if old enough, else a python3.11/3.10/3.9 on PATH."""
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise UsageError(f"FLINKSQL_GEN_AIVEN_PYTHON={chosen} is not a program this machine can run: "
                             "point it at a Python 3.8-3.11 (e.g. /usr/bin/python3.11), or unset it")
        return found
    if sys.version_info < (3, 12):
        return sys.executable
    for name in ("python3.11", "python3.10", "python3.9"):
        found = shutil.which(name)
        if found:
            return found
    raise UsageError(f"apache-flink 1.20 needs Python 3.8-3.11 and this is {sys.version.split()[0]}: "
                     "install python3.11, or set FLINKSQL_GEN_AIVEN_PYTHON to such an interpreter")


def _run(cmd: list[str], log: Path, what: str) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise UsageError(f"{what} failed (exit {done.returncode}); the last lines of {log}:\n{tail}")


def ensure_runtime(name: str, *, repository: str | None = None, cache: Path | None = None,
                   python: str | None = None, on_step: Callable[[str], None] = lambda _: None) -> Runtime:
    """The runtime of Flink `name`, installed first if needed (PyPI for PyFlink, Maven for jars)."""
    version = _flink_version(name)
    folder = runtime_dir(version, cache)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second setup waits, then finds everything done
        if not _installed(folder, version):
            log = folder / "install.log"
            log.unlink(missing_ok=True)
            (folder / ".installed").unlink(missing_ok=True)
            shutil.rmtree(folder / "venv", ignore_errors=True)
            on_step(f"creating a virtualenv for PyFlink {version.pyflink} in {folder / 'venv'}")
            _run([_base_python(python), "-m", "venv", str(folder / "venv")], log, "creating the virtualenv")
            python = str(_venv_python(folder))
            on_step(f"installing apache-flink=={version.pyflink} from PyPI (~0.6 GB, once)")
            _run([python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                  f"apache-flink=={version.pyflink}"], log, f"pip install apache-flink=={version.pyflink}")
            _run([python, "-c", "import pyflink.version as v; print(v.__version__)"], log, "importing pyflink")
            (folder / ".installed").write_text(version.pyflink + "\n")

        def say(artifact: maven.Artifact) -> None:
            on_step(f"downloading {artifact}")

        jars = maven.fetch_all(version.connectors, repository=repository, cache=cache,
                               what=f"Flink {name} connector jars", on_download=say)
    return Runtime(version, _venv_python(folder), tuple(jars))
