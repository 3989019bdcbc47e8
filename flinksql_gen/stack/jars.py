"""The five Flink 2.0 connector jars (Kafka, kafka-clients, JDBC core + postgres dialect,
PostgreSQL driver), taken out of the PyPI wheel shigawire-apache-flink-libraries WITHOUT
installing it. Jars must sit in exactly one place: if that wheel IS installed (its jars in
pyflink/lib, so on the parent classpath) nothing is shipped with `pipeline.jars`.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from flinksql_gen.errors import UsageError

WHEEL_REQUIREMENT = "shigawire-apache-flink-libraries==2.0.0.post1"
WHEEL_GLOB = "shigawire_apache_flink_libraries-2.0.0.post1-*.whl"
CONNECTOR_JARS = (
    "flink-connector-kafka",
    "kafka-clients",
    "flink-connector-jdbc-core",
    "flink-connector-jdbc-postgres",
    "postgresql",
)


def pyflink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).resolve().parent


def cache_dir() -> Path:
    """Where downloaded wheels are kept between setups (FLINKSQL_GEN_CACHE overrides)."""
    if os.environ.get("FLINKSQL_GEN_CACHE"):
        return Path(os.environ["FLINKSQL_GEN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flinksql-gen"


def connectors_on_classpath() -> bool:
    """True when the shigawire wheel is installed: its connector jars are already in pyflink/lib."""
    lib = pyflink_home() / "lib"
    return all((lib / f"{name}.jar").is_file() for name in CONNECTOR_JARS)


def jar_paths(workdir: Path) -> list[Path]:
    return [Path(workdir) / "jars" / f"{name}.jar" for name in CONNECTOR_JARS]


def jars_present(workdir: Path) -> bool:
    return all(p.is_file() and p.stat().st_size > 0 for p in jar_paths(workdir))


def find_wheel(cache: Path | None = None) -> Path | None:
    hits = sorted(glob.glob(str((cache or cache_dir()) / "wheels" / WHEEL_GLOB)))
    return Path(hits[-1]) if hits else None


def download_wheel(cache: Path | None = None) -> Path:
    """`pip download --no-deps` the wheel into the cache (once); returns its path."""
    target = (cache or cache_dir()) / "wheels"
    found = find_wheel(cache)
    if found:
        return found
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", "-d", str(target), WHEEL_REQUIREMENT]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = find_wheel(cache)
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(
            f"could not download {WHEEL_REQUIREMENT} for the Kafka/JDBC connector jars ({last}); "
            "run `flinksql-gen setup` where PyPI is reachable"
        )
    return found


def ensure_jars(workdir: Path, download: bool = True) -> list[Path]:
    """The connector jars to ship with `pipeline.jars` ([] if they are on the classpath already).

    Extracts them into <workdir>/jars from the cached wheel, downloading it only when needed.
    """
    if connectors_on_classpath():
        return []
    paths = jar_paths(workdir)
    if jars_present(workdir):
        return paths
    if not download and not find_wheel():
        raise UsageError("the connector jars are missing: run `flinksql-gen setup` first")
    wheel = download_wheel()
    out = Path(workdir) / "jars"
    out.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as z:
            for name, path in zip(CONNECTOR_JARS, paths, strict=True):
                data = z.read(f"pyflink/lib/{name}.jar")
                fd, tmp = tempfile.mkstemp(dir=out, suffix=".part")
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
    except (zipfile.BadZipFile, KeyError) as exc:
        wheel.unlink(missing_ok=True)
        raise UsageError(f"the cached wheel {wheel.name} is damaged ({exc}); run `flinksql-gen setup` again") from exc
    return paths


def pipeline_jars_value(jars: list[Path]) -> str:
    """The `pipeline.jars` setting: file URLs joined with ';'."""
    return ";".join(Path(j).resolve().as_uri() for j in jars)
