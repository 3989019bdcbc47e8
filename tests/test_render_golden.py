"""Golden snapshots of the rendered bundle for every example pipeline and target.

Refresh after an intended change with:  UPDATE_GOLDEN=1 pytest tests/test_render_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from flinksql_gen import api
from flinksql_gen.bundle import Bundle
from flinksql_gen.cli import main
from flinksql_gen.errors import DefinitionError

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
GOLDEN = Path(__file__).parent / "golden" / "bundles"
TARGETS = ("local", "aiven")
# Aiven runs no UDFs: its bundle holds the two tutorial pipelines (cpu_anomalies uses a Python UDF).
AIVEN_EXAMPLES = [PIPELINES / "cpu.yaml", PIPELINES / "pizza.yaml"]


def examples(target: str):
    return AIVEN_EXAMPLES if target == "aiven" else PIPELINES


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)  # file names in the bundle are relative to the working directory


@pytest.mark.parametrize("target", TARGETS)
def test_bundle_matches_golden(target, tmp_path):
    files = api.render(examples(target), target).write(tmp_path / "out")
    golden = GOLDEN / target
    if os.environ.get("UPDATE_GOLDEN"):
        golden.mkdir(parents=True, exist_ok=True)
        for old in golden.iterdir():
            old.unlink()
        for name, data in files.items():
            (golden / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in golden.iterdir()}
    assert sorted(files) == sorted(expected)
    for name, data in files.items():
        assert data.decode() == expected[name].decode(), f"{target}/{name} differs from the golden copy"


def test_render_is_deterministic(tmp_path):
    a = api.render(PIPELINES, "local").write(tmp_path / "a")
    b = api.render(PIPELINES, "local").write(tmp_path / "b")
    assert a == b
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == a


def test_manifest_lists_pipelines_tables_topics_and_hashes(tmp_path):
    api.render(PIPELINES, "local").write(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    by_name = {p["name"]: p for p in manifest["pipelines"]}
    assert sorted(by_name) == ["cpu", "cpu_anomalies", "pizza", "pizza_drilldown"]
    cpu = by_name["cpu"]
    assert cpu["source_file"] == "pipelines/cpu.yaml"
    assert cpu["topics"] == ["cpu_agg_stats", "cpu_load_stats_real", "cpu_load_stats_real_dead_letter",
                             "cpu_load_stats_real_filter", "cpu_load_stats_threshold_alerts"]  # fmt: skip
    roles = {t["name"]: t["role"] for t in cpu["tables"]}
    assert roles == {"cpu_load": "source", "cpu_thresholds": "lookup", "cpu_high_alerts": "sink",
                     "cpu_agg_stats": "sink", "cpu_threshold_alerts": "sink", "slack_alerts": "sink",
                     "cpu_load_dead_letter": "sink"}  # fmt: skip
    import hashlib

    assert cpu["sha256"] == hashlib.sha256((tmp_path / "cpu.sql").read_bytes()).hexdigest()
    inserts = [s for s in cpu["statements"] if s["kind"] == "insert"]
    # Each INSERT points at the `sinks:` entry that asked for it; the dead-letter INSERT at its source.
    assert [s["origin"] for s in inserts] == ["pipelines/cpu.yaml:48:13", "pipelines/cpu.yaml:40:13",
                                              "pipelines/cpu.yaml:58:13", "pipelines/cpu.yaml:58:35",
                                              "pipelines/cpu.yaml:6:3"]  # fmt: skip
    # Stateless filter: no state signature; windowed and lookup-on-window inserts: a signature.
    signatures = {s["name"]: s["state_signature"] for s in inserts}
    assert signatures["cpu_high__cpu_high_alerts"] == ""
    assert signatures["cpu_usage_30s__cpu_agg_stats"] != ""
    # The bundle reads back exactly.
    assert Bundle.load(tmp_path).files() == api.render(PIPELINES, "local").files()


def test_several_inserts_form_one_statement_set(tmp_path):
    api.render(PIPELINES, "local").write(tmp_path)
    script = (tmp_path / "pizza.sql").read_text()
    assert script.count("EXECUTE STATEMENT SET\nBEGIN\n") == 1
    assert script.count("INSERT INTO") == 4
    assert script.rstrip().endswith("END;")


def test_no_secret_values_and_no_prev_in_bundles(tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-super-secret-token")
    monkeypatch.setenv("FLINKSQL_JDBC_PASSWORD", "pg-secret-password")
    for target in TARGETS:
        files = api.render(examples(target), target).write(tmp_path / target)
        text = b"".join(files.values()).decode()
        assert "xoxb-super-secret-token" not in text and "pg-secret-password" not in text
        assert "PREV(" not in text
    aiven = (tmp_path / "aiven" / "cpu.sql").read_text()
    assert "'token' = '${env:SLACK_TOKEN}'" in aiven
    assert "'properties.bootstrap.servers' = ''" in aiven and "'url' = ''" in aiven
    assert "CREATE TEMPORARY VIEW" not in aiven  # Aiven has no views: they are inlined as WITH clauses


def test_failed_render_leaves_previous_bundle_untouched(tmp_path):
    out = tmp_path / "target"
    result = CliRunner().invoke(main, ["render", str(PIPELINES), "-o", str(out)])
    assert result.exit_code == 0, result.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "pipelines"
    broken.mkdir()
    for f in PIPELINES.glob("*.yaml"):
        (broken / f.name).write_text(f.read_text())
    (broken / "pizza.yaml").write_text((broken / "pizza.yaml").read_text().replace("source: pizza_orders", "source: nope", 1))
    result = CliRunner().invoke(main, ["render", str(broken), "-o", str(out)])
    assert result.exit_code == 1
    assert "unknown source 'nope'" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipelines", "target"]  # no staging left behind


def test_user_templates_override_builtins_by_name(tmp_path):
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "sql_templates").mkdir()
    for f in PIPELINES.glob("*.yaml"):
        (project / "pipelines" / f.name).write_text(f.read_text())
    (project / "sql_templates" / "set.sql.j2").write_text("SET {{ setting.key }} = {{ setting.value }} /* ours */")
    bundle = api.render(project / "pipelines", "local")
    assert "SET 'pipeline.name' = 'cpu' /* ours */;" in bundle.pipeline("cpu").script


def test_schema_command_exports_json_schema():
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "flinksql-gen pipeline definition"
    assert {"sources", "metrics", "detectors", "sinks"} <= set(schema["properties"])
    import jsonschema
    import yaml

    jsonschema.Draft202012Validator.check_schema(schema)
    example = yaml.safe_load((PIPELINES / "pizza.yaml").read_text())
    jsonschema.validate(example, schema)


def test_invalid_definition_is_not_rendered(tmp_path):
    (tmp_path / "x.yaml").write_text("pipeline: x\nsources: {}\n")
    with pytest.raises(DefinitionError):
        api.render(tmp_path, "local")
