"""The CLI around the definitions (issue 13): project discovery, --select/--exclude, all errors at
once, one output convention (--format text|json, JSON usage errors), `flinksql-gen init`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from flinksql_gen import api
from flinksql_gen.bundle import Bundle
from flinksql_gen.cli import main
from flinksql_gen.errors import DefinitionError
from flinksql_gen.project import Project, Selection, find_definitions

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the example project (targets.yaml, pipelines/), with FLINKSQL_PROJECT_DIR unset."""
    shutil.copytree(PIPELINES, tmp_path / "pipelines")
    shutil.copy(ROOT / "targets.yaml", tmp_path / "targets.yaml")
    monkeypatch.delenv("FLINKSQL_PROJECT_DIR", raising=False)
    return tmp_path


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


# ---------------------------------------------------------------------------- discovery


def test_render_inside_the_definitions_folder_uses_the_project_targets(project, monkeypatch, tmp_path):
    """Issue 13: `render . -t gateway` inside pipelines/ rendered the built-in 127.0.0.1:9092."""
    monkeypatch.chdir(project / "pipelines")
    result = cli("render", ".", "-t", "gateway", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "using ../targets.yaml, built-in templates" in result.stderr
    cpu = (tmp_path / "out" / "cpu.sql").read_text()
    assert "'properties.bootstrap.servers' = 'kafka:9092'" in cpu and "127.0.0.1:9092" not in cpu


def test_project_dir_and_environment_override_discovery(project, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "targets.yaml").write_text("targets:\n  gateway:\n    type: gateway\n    url: http://gw:8083\n"
                                        "    kafka: {bootstrap_servers: 'override:1'}\n")  # fmt: skip
    monkeypatch.chdir(project)
    for args, env in ((["--project-dir", str(other)], None), ([], {"FLINKSQL_PROJECT_DIR": str(other)})):
        out = tmp_path / f"out{len(args)}"
        result = cli(*args, "render", "pipelines", "-t", "gateway", "-o", str(out), "--format", "json", env=env)
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["project"]["targets_file"].endswith("elsewhere/targets.yaml")
        assert doc["project"]["project_from"] == ("--project-dir" if args else "FLINKSQL_PROJECT_DIR")
        assert "'override:1'" in (out / "cpu.sql").read_text()
    result = cli("--project-dir", str(tmp_path / "missing"), "validate", "pipelines")
    assert result.exit_code == 2 and "no such project folder" in result.output


def test_flinksql_yaml_marks_a_project_without_targets(tmp_path, monkeypatch):
    (tmp_path / "flinksql.yaml").write_text("# a project without targets: built-in targets\n")
    (tmp_path / "sql_templates").mkdir()
    (tmp_path / "sql_templates" / "set.sql.j2").write_text("SET {{ setting.key }} = {{ setting.value }} /* mine */")
    (tmp_path / "defs" / "deep").mkdir(parents=True)
    shutil.copy(PIPELINES / "cpu.yaml", tmp_path / "defs" / "deep" / "cpu.yaml")
    monkeypatch.chdir(tmp_path / "defs" / "deep")
    result = cli("render", ".", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "using built-in targets (no targets.yaml), ../../sql_templates" in result.stderr
    assert "/* mine */" in (tmp_path / "out" / "cpu.sql").read_text()


def test_definitions_are_found_recursively_but_not_targets_templates_or_bundles(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("x.yaml", "a/y.yml", "a/b/z.yaml", "a/targets.yaml", "a/flinksql.yaml",
                "sql_templates/t.yaml", ".hidden/h.yaml", "bundle/old.yaml", "a/notes.txt"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x: 1\n")
    (tmp_path / "bundle" / "manifest.json").write_text("{}")
    assert [p.relative_to(tmp_path).as_posix() for p in find_definitions(tmp_path)] == ["a/b/z.yaml", "a/y.yml", "x.yaml"]


def test_subfolder_pipelines_are_validated(project):
    (project / "pipelines" / "team").mkdir()
    shutil.move(project / "pipelines" / "pizza.yaml", project / "pipelines" / "team" / "pizza.yaml")
    assert api.validate(project / "pipelines") == 4
    assert "pizza" in [p.name for p in api.render(project / "pipelines").pipelines]


def test_validate_without_path_uses_the_project_pipelines(project, monkeypatch):
    monkeypatch.chdir(project / "pipelines")
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert "ok: 4 pipeline(s)" in result.stdout


def test_targets_file_errors_have_positions_and_yaml_12_scalars(project, monkeypatch):
    """The targets file is read with the position-keeping loader everywhere, `jobs` included:
    no yaml.safe_load (where YAML 1.1 turns `no` into False)."""
    monkeypatch.chdir(project)
    (project / "targets.yaml").write_text("targets:\n  c:\n    type: cluster\n    jobmanager: http://a:1\n"
                                          "    jobmanager: http://b:2\n    checkpointing: {interval: no}\n")  # fmt: skip
    result = cli("jobs", "-t", "c")
    assert result.exit_code == 1
    assert "targets.yaml:5:5: targets.c.jobmanager: duplicate key 'jobmanager'" in result.output
    assert "targets.yaml:6:" in result.output and "'no'" in result.output
    result = cli("validate", "pipelines", "-t", "c", "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    messages = [e["message"] for e in doc["errors"]]
    assert any("cannot be checked against target 'c' because targets.yaml failed" in m for m in messages)
    assert sum("cannot be checked" in m for m in messages) == 1


# ---------------------------------------------------------------------------- selection


def test_exclude_leaves_udf_pipelines_out_of_an_aiven_render(project, monkeypatch, tmp_path):
    monkeypatch.chdir(project)
    assert cli("render", "pipelines", "-t", "aiven", "-o", str(tmp_path / "all")).exit_code == 1
    result = cli("render", "pipelines", "-t", "aiven", "--exclude", "cpu_anomalies", "--exclude", "pizza_drilldown",
                 "-o", str(tmp_path / "out"), "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pipelines"] == ["cpu", "pizza"]


def test_select_by_glob_and_unselected_files_are_not_even_parsed(project):
    (project / "pipelines" / "broken.yaml").write_text("pipeline: broken\nsources: [oops\n")
    with pytest.raises(DefinitionError):
        api.validate(project / "pipelines")
    bundle = api.render(project / "pipelines", selection=Selection(select=("pizza*",)))
    assert [p.name for p in bundle.pipelines] == ["pizza", "pizza_drilldown"]
    bundle = api.render(project / "pipelines", selection=Selection(("pizza*",), ("*drill*",)))
    assert [p.name for p in bundle.pipelines] == ["pizza"]


def test_a_selection_that_matches_nothing_is_an_error(project):
    result = cli("validate", str(project / "pipelines"), "--select", "cpux", "--format", "json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"][0]["message"].startswith("no pipeline matches 'cpux'")


def test_deploy_aiven_one_pipeline_ignores_the_others(project, monkeypatch, tmp_path):
    """Issue 13: `deploy aiven --pipeline cpu` validated, and failed on, every other pipeline."""
    monkeypatch.chdir(project)
    result = cli("deploy", "aiven", "pipelines", "--pipeline", "cpu", "--generate-dir", str(tmp_path / "bodies"),
                 "--format", "json", env={"AIVEN_KAFKA_INTEGRATION": "4ec23427-9e9f-4827-90fa-ea9e38c31bc3",
                                          "AIVEN_PG_INTEGRATION": "7d8e3f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6"})  # fmt: skip
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    assert files and all(Path(f).parent.name.startswith("cpu-") for f in files)


def test_plan_takes_a_selection(project, monkeypatch, tmp_path):
    monkeypatch.chdir(project)
    api.render(project / "pipelines", "cluster").write(tmp_path / "deployed")
    result = cli("plan", "pipelines", "--against", str(tmp_path / "deployed"), "--select", "cpu", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["project"]["project"] == str(project)
    assert {c["pipeline"]: c["kind"] for c in doc["changes"]}["cpu"] == "unchanged"
    assert "pizza" not in {c["pipeline"]: c["kind"] for c in doc["changes"] if c["kind"] != "removed"}


# ---------------------------------------------------------------------------- all errors at once


def test_a_duplicate_key_does_not_hide_the_other_errors(project):
    text = (PIPELINES / "pizza.yaml").read_text()
    # a duplicate key at the top, an unknown key in a sink and a reference to a missing metric
    text = text.replace("pipeline: pizza\n", "pipeline: pizza\npipeline: pizza\n", 1)
    text = text.replace("    type: kafka\n", "    type: kafka\n    colour: red\n", 1)
    (project / "pipelines" / "pizza.yaml").write_text(text)
    (project / "pipelines" / "cpu.yaml").write_text(
        (PIPELINES / "cpu.yaml").read_text().replace("metric: cpu_usage\n", "metric: nope\n", 1))
    with pytest.raises(DefinitionError) as info:
        api.validate(project / "pipelines")
    messages = [f"{p.location.file}: {p.message}" for p in info.value.problems]
    assert any("pizza.yaml" in m and "duplicate key 'pipeline'" in m for m in messages), messages
    assert any("pizza.yaml" in m and "unknown key 'colour'" in m for m in messages), messages
    assert any("cpu.yaml" in m and "unknown metric 'nope'" in m for m in messages), messages


def test_a_reference_to_an_entry_that_failed_is_said_once(project):
    text = (PIPELINES / "cpu.yaml").read_text()
    text = text.replace("    source: cpu_load\n    dimensions: [hostname, cpu]\n    window:",
                        "    source: cpu_load\n    colour: red\n    dimensions: [hostname, cpu]\n    window:", 1)
    text = text.replace("metric: cpu_usage\n", "metric: nope\n", 1)  # an unrelated reference error
    text = text.replace("detectors:\n", "detectors:\n  cpu_30s_high:\n    type: filter\n    metric: cpu_usage_30s\n"
                        "    where:\n      - {column: usage_avg, op: '>', value: 90}\n    sinks: [cpu_high_alerts]\n", 1)
    assert text.count("metric: cpu_usage_30s") == 2 and "colour: red" in text
    (project / "pipelines" / "cpu.yaml").write_text(text)
    with pytest.raises(DefinitionError) as info:
        api.validate(project / "pipelines" / "cpu.yaml")
    messages = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert "metrics.cpu_usage_30s.colour: unknown key 'colour'" in messages, messages
    assert any("unknown metric 'nope'" in m for m in messages), messages
    unchecked = [m for m in messages if "cannot be checked because metrics.cpu_usage_30s failed" in m]
    assert len(unchecked) == 1, messages  # two detectors read cpu_usage_30s: one note
    assert not any("unknown metric 'cpu_usage_30s'" in m for m in messages), messages


# ---------------------------------------------------------------------------- output convention


def test_usage_errors_are_json_under_format_json(project, monkeypatch):
    monkeypatch.chdir(project)
    for args in (["validate", "pipelines", "--format", "json", "--bogus"],
                 ["validate", "pipelines", "-t", "nosuch", "--format", "json"],
                 ["render", "pipelines", "--format=json", "-t"],
                 ["jobs", "--format", "json", "-t", "local"]):  # fmt: skip
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        doc = json.loads(result.stdout)
        assert list(doc) == ["errors"] and doc["errors"][0]["message"], args
    assert "Error:" in cli("validate", "pipelines", "--bogus").output  # text stays click's text


def test_json_flag_is_a_deprecated_alias(project, monkeypatch):
    monkeypatch.chdir(project)
    result = cli("validate", "pipelines", "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["pipelines"] == 4  # one document even with the streams mixed
    assert "--json is a deprecated alias" in cli("validate", "--help").output


@pytest.mark.parametrize("command", [["validate"], ["render"], ["check"], ["plan"], ["jobs"], ["evaluate"],
                                     ["evaluate-rca"], ["report"], ["deploy", "aiven"]])  # fmt: skip
def test_every_reporting_command_takes_format(command):
    result = cli(*command, "--help")
    assert result.exit_code == 0 and "--format [text|json]" in result.output, command
    assert not re.search(r"^\s+--json\b", result.output, re.M)  # the alias is hidden


def test_validate_text_names_the_files_used(project, monkeypatch):
    monkeypatch.chdir(project)
    result = cli("validate", "pipelines")
    assert result.stderr.splitlines()[0] == "using targets.yaml, built-in templates"


# ---------------------------------------------------------------------------- init


def test_init_writes_a_project_that_validates_and_renders(tmp_path, monkeypatch):
    monkeypatch.delenv("FLINKSQL_PROJECT_DIR", raising=False)
    result = cli("init", str(tmp_path / "new"))
    assert result.exit_code == 0, result.output
    root = tmp_path / "new"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "README.md", "pipelines/host_cpu.yaml", "targets.yaml", "tests/host_cpu.test.yaml",
        "thresholds/host_thresholds.csv", "thresholds/host_thresholds.sql"]  # fmt: skip
    monkeypatch.chdir(root)
    assert cli("validate").exit_code == 0
    for target in ("local", "cluster", "aiven"):
        result = cli("render", "-t", target, "-o", f"out-{target}")
        assert result.exit_code == 0, result.output
        assert Bundle.load(root / f"out-{target}").pipeline("host_cpu").inserts


def test_init_never_overwrites(tmp_path):
    (tmp_path / "targets.yaml").write_text("mine\n")
    result = cli("init", str(tmp_path))
    assert result.exit_code == 2 and "never overwrites" in result.output
    assert (tmp_path / "targets.yaml").read_text() == "mine\n"
    assert not (tmp_path / "pipelines").exists()


def test_project_is_built_once_in_the_group():
    """Commands get the group's Project (sqlmesh's Context style) through click's context."""
    seen = []
    import click

    @main.command("probe-project", hidden=True)
    @click.pass_context
    def probe(ctx):
        seen.append(ctx.find_object(Project))

    try:
        assert cli("probe-project").exit_code == 0
        assert isinstance(seen[0], Project)
    finally:
        main.commands.pop("probe-project")


def test_run_picks_one_pipeline_of_a_folder_with_select(project, monkeypatch, tmp_path):
    monkeypatch.chdir(project)
    result = cli("run", "pipelines", "--workdir", str(tmp_path / "wd"))
    assert result.exit_code == 2 and "holds 4 pipelines" in result.output and "--select NAME" in result.output
    result = cli("run", "pipelines", "--select", "cpu", "--workdir", str(tmp_path / "wd"))
    assert result.exit_code == 2 and "the local stack is not running" in result.output  # cpu alone rendered fine


def test_submit_renders_only_the_selected_pipeline(project, monkeypatch):
    from flinksql_gen.cli.cluster import _pipeline

    monkeypatch.chdir(project)
    proj = Project.discover(project / "pipelines")
    assert _pipeline(project / "pipelines", "cluster", proj, None, Selection(("pizza",))).name == "pizza"
    with pytest.raises(Exception, match="holds several pipelines"):
        _pipeline(project / "pipelines", "cluster", proj, None, Selection(("pizza*",)))


def test_check_takes_a_selection_on_the_real_planner(project, monkeypatch, jar_workdir):
    """`check` plans only the selected pipelines with Flink (the others are not even rendered)."""
    monkeypatch.chdir(project)
    (project / "pipelines" / "broken.yaml").write_text("pipeline: broken\nsources: [oops\n")
    result = cli("check", "pipelines", "--select", "cpu", "--workdir", str(jar_workdir), "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["pipelines"] == ["cpu"] and doc["statements"] > 0 and doc["errors"] == []


def test_jobs_says_which_targets_file_it_read(project, monkeypatch):
    monkeypatch.chdir(project / "pipelines")
    (project / "targets.yaml").write_text("targets:\n  c:\n    type: cluster\n    jobmanager: http://127.0.0.1:9\n")
    result = cli("jobs", "-t", "c")
    assert result.exit_code != 0  # nothing listens there
    assert result.stderr.splitlines()[0] == "using ../targets.yaml, built-in templates"
    assert "127.0.0.1:9" in result.output


def test_render_never_writes_into_the_folder_above_definitions_without_a_project(tmp_path):
    (tmp_path / "p" / "pipelines").mkdir(parents=True)
    shutil.copy(PIPELINES / "cpu.yaml", tmp_path / "p" / "pipelines" / "cpu.yaml")
    (tmp_path / "p" / "notes.txt").write_text("mine\n")
    result = cli("render", str(tmp_path / "p" / "pipelines"), "-o", str(tmp_path / "p"))
    assert result.exit_code != 0
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["notes.txt", "pipelines"]


def test_a_symbolic_link_loop_in_the_definitions_is_read_once(tmp_path):
    (tmp_path / "defs" / "team").mkdir(parents=True)
    shutil.copy(PIPELINES / "cpu.yaml", tmp_path / "defs" / "team" / "cpu.yaml")
    (tmp_path / "defs" / "team" / "loop").symlink_to(tmp_path / "defs", target_is_directory=True)
    assert [p.name for p in find_definitions(tmp_path / "defs")] == ["cpu.yaml"]
    assert api.validate(tmp_path / "defs") == 1


def test_references_are_checked_even_when_the_only_source_failed(project):
    text = (PIPELINES / "cpu.yaml").read_text()
    text = text.replace("      usage: DOUBLE\n", "      usage: DUBBLE\n", 1)  # the only source fails
    text = text.replace("metric: cpu_usage\n", "metric: nope\n", 1)  # an unrelated reference error
    (project / "pipelines" / "cpu.yaml").write_text(text)
    with pytest.raises(DefinitionError) as info:
        api.validate(project / "pipelines" / "cpu.yaml")
    messages = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert any(m.startswith("sources.cpu_load.columns.usage: unknown type 'DUBBLE'") for m in messages), messages
    assert any("unknown metric 'nope'" in m for m in messages), messages
    unchecked = [m for m in messages if "cannot be checked because sources.cpu_load failed" in m]
    assert len(unchecked) == 1, messages  # two metrics read cpu_load: one note
    assert not any("unknown source" in m for m in messages), messages
