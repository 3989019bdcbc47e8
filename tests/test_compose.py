"""docker-compose.yaml structure (no Docker engine runs here, so the file is checked, not started)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yaml"
SERVICES = {"kafka", "jobmanager", "taskmanager", "sql-gateway", "postgres", "prometheus", "grafana"}
FLINK = ("jobmanager", "taskmanager", "sql-gateway")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def host_ports(service: dict) -> dict[int, int]:
    """host port -> container port, requiring every published port to bind 127.0.0.1."""
    out = {}
    for spec in service.get("ports", []):
        ip, host, container = str(spec).split(":")
        assert ip == "127.0.0.1", f"{spec}: bind published ports to 127.0.0.1"
        out[int(host)] = int(container)
    return out


def test_services_and_images(services):
    assert set(services) == SERVICES
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert re.fullmatch(r"postgres:15\.\d+", services["postgres"]["image"])  # a pinned patch release
    for name in FLINK:
        assert services[name]["build"] == {"context": ".", "dockerfile": "docker/flink/Dockerfile"}
        assert services[name]["image"] == services["jobmanager"]["image"] == "flinksql-gen/flink:2.0.0"


def test_flink_image_is_2_0_with_python_and_connectors():
    dockerfile = (REPO / "docker" / "flink" / "Dockerfile").read_text()
    assert re.search(r"^FROM flink:2\.0\.0$", dockerfile, re.M)  # the runtime stage, pinned
    assert "apache-flink==${PYFLINK_VERSION}" in dockerfile and "ARG PYFLINK_VERSION=2.0.0" in dockerfile
    for jar in (
        "flink-sql-connector-kafka",
        "flink-connector-jdbc-core",
        "flink-connector-jdbc-postgres",
        "postgresql",
    ):
        assert f"/{jar}-$" in dockerfile or f"/{jar}/" in dockerfile, jar
    assert "flink-python-*.jar /opt/flink/lib/" in dockerfile
    # the UDF modules a bundle's CREATE FUNCTION statements name are installed in the image's python
    assert "COPY flinksql_gen /opt/flinksql-gen/flinksql_gen" in dockerfile
    assert 'pip install --no-cache-dir "/opt/flinksql-gen"' in dockerfile
    # the checked JSON format, compiled from the package's Java sources in a JDK stage
    assert "COPY flinksql_gen/java/src /src" in dockerfile and "/flinksql-gen-formats.jar /opt/flink/lib/" in dockerfile
    assert (REPO / "flinksql_gen/java/src/META-INF/services/org.apache.flink.table.factories.Factory").is_file()
    for copied in ("pyproject.toml", "README.md", "flinksql_gen", "sql_templates"):
        assert (REPO / copied).exists(), copied


def test_documented_ports(services):
    header = COMPOSE.read_text().split("\nx-", 1)[0]
    expected = {
        "kafka": (9092, 19092),
        "jobmanager": (8081, 8081),
        "sql-gateway": (8083, 8083),
        "postgres": (5432, 5432),
        "prometheus": (9090, 9090),
        "grafana": (3000, 3000),
    }
    for name, (host, container) in expected.items():
        assert host_ports(services[name]) == {host: container}
        assert re.search(rf"^#\s+{host}\s", header, re.M), f"port {host} is not documented in the header"
    assert not services["taskmanager"].get("ports")


def test_kafka_is_single_node_kraft_with_both_listeners(services):
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "HOST://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1


def test_sql_gateway_runs_in_foreground_on_8083(services):
    command = services["sql-gateway"]["command"]
    assert command[:2] == ["/opt/flink/bin/sql-gateway.sh", "start-foreground"]
    assert "-Dsql-gateway.endpoint.rest.port=8083" in command
    assert "-Drest.address=jobmanager" in command


def test_every_service_has_a_health_check(services):
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test", [None])[0] == "CMD-SHELL" and check["test"][1], name
        assert check.get("interval") and check.get("retries"), name


def test_dependencies_wait_for_health(services):
    for name, service in services.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond["condition"] == "service_healthy"
            assert "healthcheck" in services[dep]
    assert set(services["sql-gateway"]["depends_on"]) == {"jobmanager", "taskmanager", "kafka", "postgres"}


def test_volumes_and_build_contexts_exist(compose, services):
    named = set(compose.get("volumes") or {})
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("${"):
                continue  # interpolated at `docker compose` time
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"
    for service in FLINK:
        assert "flink-state:/opt/flink/state" in services[service]["volumes"]


def test_postgres_loads_the_thresholds(services):
    volumes = services["postgres"]["volumes"]
    assert "./docker/postgres/initdb:/docker-entrypoint-initdb.d:ro" in volumes
    assert "./thresholds:/thresholds:ro" in volumes
    for name in ("cpu_thresholds.sql", "cpu_thresholds.csv"):
        assert (REPO / "thresholds" / name).is_file(), name
    script = REPO / "docker" / "postgres" / "initdb" / "10-thresholds.sh"
    text = script.read_text()
    assert "/thresholds/*.sql" in text and "/thresholds/*.csv" in text and "\\\\copy" in text
    assert script.stat().st_mode & 0o111, "initdb script must be executable"


def test_gateway_target_matches_compose_network():
    targets = yaml.safe_load((REPO / "targets.yaml").read_text())["targets"]
    gateway = targets.get("gateway")
    if gateway is None:
        pytest.skip("targets.yaml defines no gateway target")
    assert gateway["kafka"]["bootstrap_servers"] == "kafka:9092"
    assert gateway["postgres"]["url"].startswith("jdbc:postgresql://postgres:5432/")


def test_prometheus_scrapes_the_flink_reporter_and_grafana_shows_the_dashboard(compose, services):
    props = yaml.safe_load(compose["x-flink-properties"]["FLINK_PROPERTIES"])
    assert props["metrics.reporter.prom.factory.class"] == (
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory")
    port = props["metrics.reporter.prom.port"]
    scrape = yaml.safe_load((REPO / "docker" / "prometheus" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert sorted(job["static_configs"][0]["targets"]) == [f"jobmanager:{port}", f"taskmanager:{port}"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in services["prometheus"]["volumes"]}
    assert mounts["./docker/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    for image in (services["prometheus"]["image"], services["grafana"]["image"]):
        assert re.search(r":v?\d+\.\d+\.\d+$", image), f"{image}: pin a release"
    grafana = {m.split(":")[0]: m.split(":")[1] for m in services["grafana"]["volumes"]}
    provider = yaml.safe_load((REPO / "docker/grafana/provisioning/dashboards/flinksql-gen.yaml").read_text())
    assert grafana["./docs/observability"] == provider["providers"][0]["options"]["path"]
    datasource = yaml.safe_load((REPO / "docker/grafana/provisioning/datasources/prometheus.yaml").read_text())
    (source,) = datasource["datasources"]
    dashboard = json.loads((REPO / "docs/observability/flinksql-gen-dashboard.json").read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    for what in ("Records in per source", "Records out per sink", "Dead letters", "Late events",
                 "Checkpoint duration", "Checkpoint size", "Backpressure", "Detector anomaly rate"):
        assert any(t.startswith(what) for t in titles), what
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"]
        assert all(t["expr"].startswith(("sum", "max")) and "flink_" in t["expr"] for t in panel["targets"])
