"""`flinksql-gen run` end to end: the lead's example pipeline, rendered and run on the test stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from flinksql_gen.cli import main
from flinksql_gen.stack import up

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["cpu_load_stats_real", "cpu_load_stats_real_filter", "cpu_agg_stats", "cpu_load_stats_threshold_alerts"]


def test_run_renders_and_runs_a_pipeline_until_max_records(stack, stack_workdir, monkeypatch):
    pipeline = ROOT / "pipelines" / "cpu.yaml"
    if not pipeline.is_file():
        pytest.skip("pipelines/cpu.yaml is not there")
    up(stack_workdir, thresholds_dir=ROOT / "thresholds", topics=TOPICS)
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-test-token")
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    produced = runner.invoke(main, ["produce", "iot", "--workdir", str(stack_workdir), "--topic", TOPICS[0],
                                    "-n", "600", "--anomalies", "spike:at=5,len=20,size=60", "-q"])
    assert produced.exit_code == 0, produced.output
    result = runner.invoke(main, ["run", "pipelines/cpu.yaml", "--workdir", str(stack_workdir),
                                  "--max-records", "5"])
    assert result.exit_code == 0, result.output
    assert "CANCELED (max records reached)" in result.output


def test_run_without_a_stack_says_how_to_start_it(tmp_path):
    result = CliRunner().invoke(main, ["run", str(ROOT / "pipelines" / "cpu.yaml"), "--workdir", str(tmp_path)])
    assert result.exit_code == 2
    assert "the local stack is not running: start it with `flinksql-gen up`" in result.output
