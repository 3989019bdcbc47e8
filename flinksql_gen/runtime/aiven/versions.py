"""What each Flink version the aiven target may name is made of (PyPI and Maven Central pins)."""

from __future__ import annotations

from dataclasses import dataclass

from flinksql_gen.runtime.maven import Artifact


@dataclass(frozen=True)
class FlinkVersion:
    name: str  # as written in targets.yaml: "1.20"
    pyflink: str  # the apache-flink release on PyPI
    connectors: tuple[Artifact, ...]  # shipped with pipeline.jars


# Maven Central has no flink-sql-connector-kafka (the shaded uber jar) for 1.20, only the plain
# flink-connector-kafka 3.x-1.20: it comes with its two runtime dependencies (kafka-clients at
# the version its parent POM pins, guava). flink-connector-jdbc 3.3.0-1.20 bundles core and
# every dialect (postgres included).
FLINK_VERSIONS: dict[str, FlinkVersion] = {
    "1.20": FlinkVersion(
        "1.20",
        "1.20.5",
        (
            Artifact("org.apache.flink", "flink-connector-kafka", "3.4.0-1.20"),
            Artifact("org.apache.kafka", "kafka-clients", "3.4.0"),
            Artifact("com.google.guava", "guava", "32.1.2-jre"),
            Artifact("com.google.guava", "failureaccess", "1.0.1"),
            Artifact("org.apache.flink", "flink-connector-jdbc", "3.3.0-1.20"),
            Artifact("org.postgresql", "postgresql", "42.7.7"),
        ),
    ),
}
# What Aiven for Apache Flink offers for new services (its `flink_version` service setting).
DEFAULT_FLINK_VERSION = "1.20"
