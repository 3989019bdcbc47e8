"""`flinksql-gen check`: every example statement is compiled by the real Flink planner with the real connectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from flinksql_gen import api
from flinksql_gen.check import check_bundle

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.flink


def test_every_example_statement_plans_on_flink(table_env, monkeypatch):
    monkeypatch.chdir(ROOT)
    bundle = api.render("pipelines", "local")
    # cpu 4, cpu_anomalies 3 (+ one dead-letter insert each), pizza 4, pizza_drilldown 1
    assert sum(len(p.inserts) for p in bundle.pipelines) == 14
    assert check_bundle(bundle.pipelines, table_env) == []


def test_flink_error_is_mapped_to_the_yaml_line(table_env, tmp_path, monkeypatch):
    """A template override that breaks the SQL: Flink's message comes back at the producing YAML line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "sql_templates").mkdir()
    (tmp_path / "pipelines" / "cpu.yaml").write_text((ROOT / "pipelines" / "cpu.yaml").read_text())
    (tmp_path / "sql_templates" / "insert.sql.j2").write_text("INSERT INTO {{ insert.sink }}\n{{ query }}\nLIMIT x")
    bundle = api.render("pipelines", "local")
    problems = check_bundle(bundle.pipelines, table_env)
    assert len(problems) == 5  # 4 inserts of cpu.yaml and its dead-letter insert
    first = str(problems[0])
    assert first.startswith("pipelines/cpu.yaml:48:13: Flink rejects statement 'cpu_high__cpu_high_alerts'")
    assert "Encountered" in first or "LIMIT" in first
