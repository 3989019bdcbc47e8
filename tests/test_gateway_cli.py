"""The cluster commands (submit/jobs/stop/cancel/plan) end to end against the contract-checking gateway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import sample_bundle, sample_pipeline
from fakes.sql_gateway import FakeSqlGateway, flink_exception

from flinksql_gen.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def gateway():
    with FakeSqlGateway() as gw:
        yield gw
        gw.check()


@pytest.fixture
def bundle_dir(tmp_path):
    out = tmp_path / "bundle"
    sample_bundle(sample_pipeline(settings={"execution.checkpointing.savepoint-dir": "file:///sp"})).write(
        out
    )
    return out


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_submit_jobs_stop_cancel(gateway, bundle_dir):
    result = run("submit", str(bundle_dir), "--gateway", gateway.url)
    assert result.exit_code == 0, result.output
    job_id = gateway.jobs[0].job_id
    assert result.output.strip() == f"submitted cpu_alerts: job {job_id}"

    result = run("jobs", "--gateway", gateway.url)
    assert result.exit_code == 0 and f"cpu_alerts  RUNNING      {job_id}" in result.output
    doc = json.loads(run("jobs", "--gateway", gateway.url, "--format", "json").output)
    assert [(j["name"], j["state"], j["job_id"]) for j in doc["jobs"]] == [("cpu_alerts", "RUNNING", job_id)]
    assert doc["errors"] == [] and set(doc["project"]) >= {"targets_file", "templates_dir"}

    result = run("stop", "cpu_alerts", "--savepoint", "file:///sp", "--gateway", gateway.url)
    assert result.exit_code == 0 and result.output.startswith("file:///sp/savepoint-")

    assert run("jobs", "--gateway", gateway.url).output.strip() == "no running jobs"
    assert "FINISHED" in run("jobs", "--all", "--gateway", gateway.url).output

    gateway.add_job("other")
    assert run("cancel", "other", "--gateway", gateway.url).output.strip() == "cancelled other"


def test_errors_are_one_line_without_traceback(gateway, bundle_dir):
    result = CliRunner().invoke(main, ["cancel", "nope", "--gateway", gateway.url])
    assert result.exit_code == 2
    assert result.output.strip() == "error: no running job named 'nope' (running jobs: none)"

    gateway.fail_when["INSERT INTO"] = flink_exception(
        "Table 'sink_0' not found", cls="org.apache.flink.table.api.TableException"
    )
    result = CliRunner().invoke(main, ["submit", str(bundle_dir), "--gateway", gateway.url])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        "pipelines/cpu_alerts.yaml:20:5: pipeline 'cpu_alerts': insert 'sink_0' failed: TableException"
        in result.output
    )


def test_submit_upgrade_stops_with_savepoint_then_restores(gateway, bundle_dir):
    assert run("submit", str(bundle_dir), "--gateway", gateway.url).exit_code == 0
    result = run("submit", str(bundle_dir), "--gateway", gateway.url, "--upgrade")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("stopped cpu_alerts with savepoint file:///sp/savepoint-")
    savepoint = lines[0].rsplit(" ", 1)[1]
    assert lines[1].endswith(f"(restored from {savepoint})")
    props = gateway.calls("openSession")[-1].body["properties"]
    assert props["execution.state-recovery.path"] == savepoint
    assert [j.status for j in gateway.jobs] == ["FINISHED", "RUNNING"]


def test_submit_upgrade_refuses_state_breaking_change(gateway, tmp_path, bundle_dir):
    assert run("submit", str(bundle_dir), "--gateway", gateway.url).exit_code == 0
    new = tmp_path / "new"
    sample_bundle(sample_pipeline(signatures=("other",))).write(new)
    result = CliRunner().invoke(
        main, ["submit", str(new), "--gateway", gateway.url, "--upgrade", "--against", str(bundle_dir)]
    )
    assert result.exit_code == 2
    assert "the upgrade breaks state: state of insert 'sink_0' changed" in result.output
    assert len(gateway.statements()) == 2  # the first INSERT and SHOW JOBS; nothing stopped or resubmitted


def test_plan_against_a_manifest(tmp_path, bundle_dir):
    new = tmp_path / "new"
    sample_bundle(
        sample_pipeline(signatures=("x",)),
        sample_pipeline("fresh"),
    ).write(new)
    result = run("plan", str(new), "--against", str(bundle_dir / "manifest.json"), "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert set(doc["project"]) >= {"targets_file", "templates_dir"}
    assert {c["pipeline"]: c["kind"] for c in doc["changes"]} == {
        "cpu_alerts": "state_breaking",
        "fresh": "added",
    }


def test_plan_renders_definitions(tmp_path, monkeypatch):
    """The project's own example pipelines, rendered twice, plan as unchanged."""
    monkeypatch.chdir(REPO)
    out = tmp_path / "deployed"
    assert CliRunner().invoke(main, ["render", "pipelines", "-t", "cluster", "-o", str(out)]).exit_code == 0
    result = run("plan", "pipelines", "--against", str(out))
    assert result.exit_code == 0, result.output
    assert all("unchanged" in line for line in result.stdout.strip().splitlines())
    assert result.stderr.startswith("using targets.yaml, sql_templates")  # the project's files, said once
