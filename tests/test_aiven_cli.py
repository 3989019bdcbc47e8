"""`flinksql-gen deploy aiven` end to end: a bundle directory, targets.yaml, the fake Aiven API."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from fakes.aiven_api import SHAPES, FakeAiven, check_shape, iot_bundle, pizza_bundle

from flinksql_gen.cli import main

GOLDEN = Path(__file__).parent / "golden" / "aiven"
KAFKA_ID = "4ec23427-9e9f-4827-90fa-ea9e38c31bc3"
PG_ID = "7d8e3f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6"


@pytest.fixture
def fake():
    with FakeAiven() as f:
        f.add_integration("demo-kafka", "kafka", KAFKA_ID)
        f.add_integration("demo-postgresql", "pg", PG_ID)
        yield f
        assert f.violations == []


def project(tmp_path: Path, bundle, api_url: str = "http://127.0.0.1:9") -> tuple[Path, Path]:
    """A bundle directory and a targets.yaml beside it (integrations by service name and id)."""
    out = tmp_path / "build" / "aiven"
    bundle.write(out)
    targets = tmp_path / "build" / "targets.yaml"
    aiven = {"type": "aiven", "api_url": api_url, "integrations": {"kafka": "demo-kafka", "postgres": PG_ID}}
    targets.write_text(yaml.safe_dump({"targets": {"aiven": aiven}}))
    return out, targets


def run(*args: str, token: str = "", **env: str):
    env = {"AIVEN_TOKEN": token, "AIVEN_CONFIG_DIR": "/nonexistent", "SLACK_TOKEN": "xoxb-cli-secret", **env}
    return CliRunner().invoke(main, ["deploy", "aiven", "--poll-interval", "0", *map(str, args)], env=env)


def test_generate_dir_writes_the_golden_bodies(tmp_path):
    bundle_dir, targets = project(tmp_path, pizza_bundle())
    targets.write_text(
        yaml.safe_dump(
            {"targets": {"aiven": {"type": "aiven", "integrations": {"kafka": KAFKA_ID, "postgres": PG_ID}}}}
        )
    )
    result = run(bundle_dir, "--generate-dir", tmp_path / "bodies")
    assert result.exit_code == 0, result.output
    for golden in sorted((GOLDEN / "pizza").rglob("*.json")):
        written = tmp_path / "bodies" / golden.relative_to(GOLDEN / "pizza")
        assert written.read_text() == golden.read_text()
    assert "xoxb-cli-secret" not in "".join(p.read_text() for p in (tmp_path / "bodies").rglob("*.json"))


def test_deploy_status_and_stop(fake, tmp_path):
    bundle_dir, _ = project(tmp_path, pizza_bundle(), fake.url)
    common = ("--project", fake.project, "--service", fake.service)
    result = run(bundle_dir, *common, token=fake.token)
    assert result.exit_code == 0, result.output
    assert "pizza-big_orders: deployed version 1" in result.output
    assert "pizza-counts: RUNNING" in result.output
    assert fake.token not in result.output and "xoxb-cli-secret" not in result.output

    result = run(bundle_dir, *common, "--status", token=fake.token)
    assert result.exit_code == 0, result.output
    assert "pizza-big_orders (" in result.output and "RUNNING version 1" in result.output

    result = run(bundle_dir, *common, "--stop", "--pipeline", "pizza", token=fake.token)
    assert result.exit_code == 0, result.output
    assert result.output.count("stopped with savepoint s3://") == 2


def test_dry_run_changes_nothing(fake, tmp_path):
    bundle_dir, _ = project(tmp_path, iot_bundle(), fake.url)
    common = ("--project", fake.project, "--service", fake.service)
    result = run(bundle_dir, *common, "--dry-run", token=fake.token)
    assert result.exit_code == 0, result.output
    assert "checked locally only" in result.output and "nothing was changed" in result.output
    assert "not sent: table.exec.state.ttl" in result.output
    assert not any(r.mutating for r in fake.requests)


def test_user_errors_are_one_message_without_trace(fake, tmp_path):
    bundle_dir, _ = project(tmp_path, pizza_bundle(udf=True), fake.url)
    result = run(bundle_dir, "--project", fake.project, "--service", fake.service, token=fake.token)
    assert result.exit_code == 1
    assert "pipelines/pizza.yaml:2:3: pipeline pizza: uses the Python UDF 'zscore'" in result.output
    assert "Traceback" not in result.output and fake.requests == []

    bundle_dir, _ = project(tmp_path / "ok", iot_bundle(), fake.url)
    result = run(bundle_dir, "--project", fake.project, "--service", fake.service, token="tok-wrong-secret")
    assert result.exit_code == 2
    assert (
        "error: Aiven token rejected (HTTP 401)" in result.output and "tok-wrong-secret" not in result.output
    )

    result = run(bundle_dir, "--dry-run", "--status")
    assert result.exit_code == 2 and "--dry-run and --status cannot be combined" in result.output


def test_bundle_for_another_target_is_refused(tmp_path):
    b = iot_bundle()
    bundle_dir, _ = project(tmp_path, type(b)("local", b.pipelines))
    result = run(bundle_dir, "--generate-dir", tmp_path / "x")
    assert result.exit_code == 2 and "rendered for target 'local'" in result.output


def test_renders_the_repository_examples_for_aiven(tmp_path):
    """The renderer's aiven-target bundle of pipelines/ becomes well-formed bodies (no HTTP call)."""
    pytest.importorskip("flinksql_gen.api")
    root = Path(__file__).parents[1]
    if not (root / "pipelines").is_dir():
        pytest.skip("no example pipelines")
    env = {"AIVEN_KAFKA_INTEGRATION": KAFKA_ID, "AIVEN_PG_INTEGRATION": PG_ID}
    for example in ("cpu.yaml", "pizza.yaml"):  # the tutorials (cpu_anomalies uses a UDF: refused for Aiven)
        result = run(root / "pipelines" / example, "--targets", root / "targets.yaml", "--generate-dir",
                     tmp_path / example, **env)  # fmt: skip
        assert result.exit_code == 0, result.output
    result = run(root / "pipelines", "--targets", root / "targets.yaml", "--generate-dir", tmp_path / "all", **env)
    assert result.exit_code == 1 and "needs a Python UDF" in result.output
    versions = sorted(tmp_path.glob("*/*/version.json"))
    assert versions
    for path in versions:
        body = json.loads(path.read_text())
        assert check_shape(body, SHAPES["version"]) == [], path
        assert body["statement"].startswith("INSERT INTO ") and len(body["sinks"]) == 1
        assert all(t.get("integration_id") in (KAFKA_ID, PG_ID) or "'slack'" in t["create_table"]
                   for t in body["sources"] + body["sinks"])  # fmt: skip
