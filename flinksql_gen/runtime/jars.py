"""The Flink 2.0 connector jars, the official artifacts from Maven Central (or a mirror):
Kafka + upsert-kafka (the SQL connector with kafka-clients inside), JDBC core + its PostgreSQL
dialect, and the PostgreSQL driver.

Jars must sit in exactly one place: they are shipped per job with `pipeline.jars`, never put
on the parent classpath as well (both at once fail with ClassCastException ...
OffsetResetStrategy). If a distribution already has them in pyflink/lib, nothing is shipped.
"""

from __future__ import annotations

from pathlib import Path

from flinksql_gen.runtime import maven
from flinksql_gen.runtime.formats import ensure_format_jar
from flinksql_gen.runtime.maven import Artifact

# Flink 2.0.x is the newest line with both connectors released (JDBC has no 2.1+ build).
FLINK_VERSION = "2.0.0"
KAFKA_CONNECTOR = Artifact("org.apache.flink", "flink-sql-connector-kafka", "4.0.1-2.0")
JDBC_CORE = Artifact("org.apache.flink", "flink-connector-jdbc-core", "4.0.0-2.0")
JDBC_POSTGRES = Artifact("org.apache.flink", "flink-connector-jdbc-postgres", "4.0.0-2.0")
POSTGRES_DRIVER = Artifact("org.postgresql", "postgresql", "42.7.7")
CONNECTORS = (KAFKA_CONNECTOR, JDBC_CORE, JDBC_POSTGRES, POSTGRES_DRIVER)

# Names an earlier version of this module extracted into <workdir>/jars from a repackaging wheel.
_OLD_NAMES = ("flink-connector-kafka", "kafka-clients", "flink-connector-jdbc-core",
              "flink-connector-jdbc-postgres", "postgresql")


def pyflink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).resolve().parent


def connectors_on_classpath() -> bool:
    """True when pyflink/lib already carries Kafka and JDBC connectors (then none are shipped)."""
    lib = pyflink_home() / "lib"
    has = lambda pattern: any(lib.glob(pattern))  # noqa: E731
    return (has("flink-sql-connector-kafka*.jar") or has("flink-connector-kafka*.jar")) and \
        has("flink-connector-jdbc*.jar")


def jar_paths(workdir: Path) -> list[Path]:
    return [Path(workdir) / "jars" / a.file_name for a in CONNECTORS]


def jars_present(workdir: Path) -> bool:
    return all(p.is_file() and p.stat().st_size > 0 for p in jar_paths(workdir))


def ensure_jars(workdir: Path, download: bool = True, repository: str | None = None,
                cache: Path | None = None) -> list[Path]:
    """The jars to ship with `pipeline.jars`: the connectors (none if they are on the classpath
    already) and flinksql-gen's own format jar.

    Links them into <workdir>/jars from the download cache, fetching (and verifying) only
    what the cache lacks.
    """
    if connectors_on_classpath():
        return [ensure_format_jar(workdir)]  # flinksql-gen's own Java code, built from source once
    folder = Path(workdir) / "jars"
    if jars_present(workdir):
        connectors = jar_paths(workdir)
    else:
        cached = maven.fetch_all(CONNECTORS, repository=repository, cache=cache, download=download,
                                 what="connector jars")
        for old in _OLD_NAMES:
            (folder / f"{old}.jar").unlink(missing_ok=True)
        connectors = maven.link_into(cached, folder)
    return [*connectors, ensure_format_jar(workdir, [folder / KAFKA_CONNECTOR.file_name])]


def pipeline_jars_value(jars: list[Path]) -> str:
    """The `pipeline.jars` setting: file URLs joined with ';'."""
    return ";".join(Path(j).resolve().as_uri() for j in jars)
