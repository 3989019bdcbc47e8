"""`flinksql-gen check`: every example statement is compiled by the real Flink planner with the real connectors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flinksql_gen import api
from flinksql_gen.runtime.check import check_bundle

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


WINDOWED = """\
pipeline: w
sources:
  s: {topic: t, columns: {k: STRING, ts: BIGINT}, event_time: {column: ts, watermark: %s}}
metrics:
  m: {source: s, dimensions: [k], window: %s, aggregates: {c: count(*)}, sinks: [o]}
sinks:
  o: {type: upsert-kafka, topic: o, key: [window_start, window_end, k]}
"""


@pytest.mark.parametrize(
    "window, sql_form, flink_says, we_say",
    [
        ("{type: tumble, size: 10s}", ("TUMBLE(", "INTERVAL '10' SECOND)", "INTERVAL '0' SECOND)"),
         "size > 0", "size must be longer than 0"),
        ("{type: hop, size: 20s, slide: 10s}", ("HOP(", "INTERVAL '10' SECOND, INTERVAL '20' SECOND)",
                                                "INTERVAL '20' SECOND, INTERVAL '10' SECOND)"),
         "integral multiple of slide", "whole multiple of slide"),
        ("{type: cumulate, size: 9s, step: 3s}", ("CUMULATE(", "INTERVAL '3' SECOND, INTERVAL '9' SECOND)",
                                                  "INTERVAL '3' SECOND, INTERVAL '10' SECOND)"),
         "integral multiple of step", "whole multiple of step"),
    ],
)  # fmt: skip
def test_window_rules_are_flinks_own(table_env, tmp_path, window, sql_form, flink_says, we_say):
    """Each window rule that validation enforces is one the real planner enforces: the SQL form the
    rule refuses fails on Flink with Flink's own message, and the YAML form is refused at its line."""
    path = tmp_path / "w.yaml"
    path.write_text(WINDOWED % ("5s", window))
    bundle = api.render(path, "local")
    assert check_bundle(bundle.pipelines, table_env) == []
    call, good, bad = sql_form
    pipeline = bundle.pipelines[0]
    assert any(call in s.sql and good in s.sql for s in pipeline.statements)
    edited = replace(pipeline, statements=tuple(replace(s, sql=s.sql.replace(good, bad)) if call in s.sql else s
                                                for s in pipeline.statements))  # fmt: skip
    problems = check_bundle((edited,), table_env)
    assert problems and flink_says in str(problems[0])
    bad_yaml = {"size > 0": "size: 0s}", "integral multiple of slide": "size: 10s, slide: 20s}",
                "integral multiple of step": "size: 10s, step: 3s}"}[flink_says]  # fmt: skip
    path.write_text(WINDOWED % ("5s", window.split("size")[0] + bad_yaml))
    with pytest.raises(api.DefinitionError, match=we_say):
        api.validate(path)


def test_long_intervals_carry_their_precision(table_env, tmp_path):
    """'120' SECOND exceeds Flink's default interval precision of 2 digits: watermarks and windows
    of 3 to 6 digits are written with theirs, and plan."""
    path = tmp_path / "w.yaml"
    path.write_text(WINDOWED % ("120s", "{type: tumble, size: 1000min}"))
    bundle = api.render(path, "local")
    script = bundle.pipelines[0].script
    assert "INTERVAL '120' SECOND(3)" in script and "INTERVAL '1000' MINUTE(4)" in script
    assert check_bundle(bundle.pipelines, table_env) == []


def test_the_language_examples_plan_on_flink(table_env, monkeypatch):
    monkeypatch.chdir(ROOT)
    bundle = api.render("examples", "local")
    assert sorted(p.name for p in bundle.pipelines) == ["checkout", "latency"]
    assert check_bundle(bundle.pipelines, table_env) == []
